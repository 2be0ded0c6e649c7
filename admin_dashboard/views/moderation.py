"""Moderation: what waits for a moderator in the groups' discussions (PRODUCT.md section 10),
crisis flags first, then reports, each the longest waiting at the top, on a card each
(admin_dashboard/moderation_cards.py) with the post as its author wrote it and the actions:
hide it (with a reason its author reads) or dismiss the item. "Only my caseload" narrows it to
posts by the staff member's own graduates.

Every read of the queue is audited (a row naming the graduates shown): it is kept for a minute
in the browser session, read again after an action or on Refresh."""

import streamlit as st

from admin_dashboard.moderation_cards import CRISIS, item_card
from admin_dashboard.state import forget_matching, plural, recent, run_page, show_flash
from admin_dashboard.zones import reader_zone

KEPT_SECONDS = 60
CARDS_AT_ONCE = 20  # per section; more on request (each card holds a form)
EMPTY = "Nothing waits for a moderator."


def queue(api, mine: bool) -> list[dict]:
    """The open items, oldest first, as the API orders them."""
    return recent(
        f"moderation:{mine}",
        lambda: api.get_all("/v1/staff/moderation", mine="true" if mine else None, limit=200),
        ttl_s=KEPT_SECONDS,
    )


def count_line(items: list[dict]) -> str:
    """ "3 items wait: 1 crisis flag, 2 reports"."""
    crises = sum(1 for item in items if item["kind"] == CRISIS)
    parts = [plural(crises, "crisis flag")] if crises else []
    parts += [plural(len(items) - crises, "report")] if len(items) > crises else []
    verb = "waits" if len(items) == 1 else "wait"
    return f"{plural(len(items), 'item')} {verb}: {', '.join(parts)}"


def render(api) -> None:
    st.title("Moderation")
    show_flash("moderation")
    left, right = st.columns([3, 1], vertical_alignment="center")
    mine = left.toggle(
        "Only my caseload", key="mod_mine", help="Posts by graduates whose counselor you are, in any group."
    )
    if right.button("Refresh", key="mod_refresh", icon=":material/refresh:"):
        forget_matching("moderation")
    items = queue(api, mine)
    if not items:
        nothing(api, mine)
        return
    st.markdown(f"**{count_line(items)}**")
    st.caption("Oldest first. Times are in your time zone. Posts are shown exactly as written, links as text.")
    zone = reader_zone(api)
    crises = [item for item in items if item["kind"] == CRISIS]
    reports = [item for item in items if item["kind"] != CRISIS]
    if crises:
        section(api, "Crisis flags", crises, zone, "crisis")
    if reports:
        section(api, "Reports", reports, zone, "reports")


def section(api, title: str, items: list[dict], zone: str, name: str) -> None:
    st.subheader(title)
    shown_count = st.session_state.get(f"mod_shown_{name}", CARDS_AT_ONCE)
    for item in items[:shown_count]:
        item_card(api, item, zone)
    if len(items) > shown_count:
        more = min(CARDS_AT_ONCE, len(items) - shown_count)
        if st.button(f"Show {more} more", key=f"mod_more_{name}"):
            st.session_state[f"mod_shown_{name}"] = shown_count + CARDS_AT_ONCE
            st.rerun()


def nothing(api, mine: bool) -> None:
    """One sentence for an empty queue; with the caseload only, whether others' items wait."""
    if not mine:
        st.success(EMPTY, icon=":material/check_circle:")
        return
    others = len(queue(api, False))
    if others:
        verb = "waits" if others == 1 else "wait"
        st.info(f"Nothing about your caseload waits; {plural(others, 'other item')} {verb}: turn off Only my caseload.")
    else:
        st.success(EMPTY, icon=":material/check_circle:")


run_page(render)
