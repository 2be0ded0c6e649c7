"""The watchlist's cards: one per person, in the table's order, with what a counselor needs
to work their alerts without leaving the page: each open alert's reasons and when it was
raised, the check-in behind it, the outreach already logged (newest first), and the actions
(acknowledge, log outreach, resolve with its outcome). One API call brings every shown
person's alerts with their timelines; what was typed (notes, names) is shown as text."""

from __future__ import annotations

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import (
    USED_BADGE,
    flash,
    guarded,
    plural,
    refused,
    severity_badge,
    show_flash,
)
from admin_dashboard.typed import plain
from admin_dashboard.zones import local_time, reader_zone

CARDS_AT_ONCE = 20  # a long list opens more on request: every card is forms and a timeline
CHANNELS = {"call": "Call", "text": "Text", "in_person": "In person", "other": "Other"}
KINDS = {
    "crisis": "In crisis now",
    "talk_soon": "Asked to talk soon",
    "reported_use": "Reported use",
    "craving": "Craving",
    "low_mood": "Low mood",
    "screen": "Screening positive",
    "missed_checkins": "Missed check-ins in a row",
    "missed_checkin": "Missed check-ins",
    "low_adherence": "Under half of check-ins in 14 days",
}
NEED_SUPPORT = {"no": "no", "talk_soon": "talk soon", "crisis_now": "in crisis now"}
REASONS_SHOWN = 5
OUTCOME_HELP = "Required: no outreach is logged on this alert yet. Say what came of it, or log the outreach first."
OUTCOME_OPTIONAL = "Optional: outreach is logged on this alert."


def kind_name(kind: str) -> str:
    return KINDS.get(kind) or kind.replace("_", " ").capitalize()


@st.fragment
@guarded
def person_cards(api, counselors: dict[str, str]) -> None:
    """The cards, below the table (which sets `watch_entries` and `watch_order`)."""
    entries: dict = st.session_state.get("watch_entries", {})
    order = [p for p in st.session_state.get("watch_order", []) if p in entries]
    show_flash("watch")  # what was just done, also when it took the last person off the list
    if not order:
        return  # the table said why
    st.subheader("Work on alerts")
    person = st.selectbox(
        "Show",
        ["all", *order],
        format_func=lambda p: (
            f"Everyone listed ({plural(len(order), 'person', 'people')})" if p == "all" else label(entries[p])
        ),
        key="watch_person",
    )
    shown_count = st.session_state.get("watch_cards_shown", CARDS_AT_ONCE)
    people = order[:shown_count] if person == "all" else [person]
    zone = reader_zone(api)
    alerts = alerts_of(
        api, [p for p in people if entries[p]["status"] != "account_deleted" and entries[p]["open_alerts"]]
    )
    for key in people:
        card(api, entries[key], alerts.get(key, []), counselors, zone)
    if person == "all" and len(order) > shown_count:
        more = min(CARDS_AT_ONCE, len(order) - shown_count)
        if st.button(f"Show {plural(more, 'more person', 'more people')}", key="watch_more"):
            st.session_state.watch_cards_shown = shown_count + CARDS_AT_ONCE
            st.rerun()


def alerts_of(api, people: list[str]) -> dict[str, list[dict]]:
    """The open and acknowledged alerts of these people, each with its timeline and the
    check-in behind it, most severe first: one call for every card shown."""
    if not people:
        return {}
    found: dict[str, list[dict]] = {}
    for alert in api.get_all("/v1/staff/alerts", participant_id=people, timeline="true", limit=200):
        found.setdefault(alert["participant_id"], []).append(alert)
    return found


def label(entry: dict) -> str:
    """A person to pick (a selectbox shows it as text)."""
    return entry["alias"] + {
        "account_deleted": " (account deleted)",
        "time_zone_unknown": " (time zone not recognized)",
    }.get(entry["status"], "")


def card(api, entry: dict, alerts: list[dict], counselors: dict[str, str], zone: str) -> None:
    person = entry["participant_id"]
    if entry["status"] == "account_deleted":
        deleted_account(api, entry, zone)
        return
    with st.container(border=True, key=f"card_{person}"):
        name = plain(entry["alias"])
        badge = f"{severity_badge(entry['top_severity'])} " if entry.get("top_severity") else ""
        counselor = counselors.get(entry["counselor_id"]) if entry.get("counselor_id") else None
        heading, go = st.columns([4, 1], vertical_alignment="center")
        heading.markdown(
            f"{badge}**{name}** · {plural(entry['open_alerts'], 'open alert')}"
            + (f" · counselor {plain(counselor)}" if counselor else " · no counselor")
        )
        # In this browser session (a link to a new tab would start a new one, signed out).
        if go.button("Their page", key=f"watch_open_{person}", icon=":material/person:"):
            st.switch_page("views/participants.py", query_params={"participant": person})
        if entry["status"] == "time_zone_unknown":
            st.warning(
                f"{name}'s time zone is not recognized: no check-in slots, missed check-ins or reminders are worked "
                "out for them until it is fixed on their participant page."
            )
        if not alerts:
            misses = entry.get("consecutive_misses") or 0
            st.info(
                f"{name} is overdue ({plural(misses, 'miss', 'misses')} in a row), with no open alert yet: "
                "the sweep raises one after two misses in a row."
            )
            return
        for alert in alerts:
            alert_section(api, alert, zone)


def alert_section(api, alert: dict, zone: str) -> None:
    st.divider()
    events = alert.get("events") or []
    status = alert["status"]
    if status == "acknowledged":
        acked = [e for e in events if e["kind"] == "acknowledged"]
        by = f" by {plain(acked[-1]['actor_name'])}" if acked and acked[-1].get("actor_name") else ""
        status = f"acknowledged{by}"
    st.markdown(
        f"{severity_badge(alert['severity'])} **{kind_name(alert['kind'])}** · {status} · "
        f"opened {local_time(alert['opened_at'], zone)}"
    )
    st.caption(plain("; ".join(reasons(alert))))
    if alert.get("checkin"):
        checkin_lines(alert["checkin"], zone)
    outreach = outreach_lines(events, zone)
    st.markdown("**Outreach logged**\n\n" + ("\n".join(f"- {line}" for line in outreach) if outreach else "None yet."))
    alert_actions(api, alert, has_outreach=bool(outreach))


def reasons(alert: dict) -> list[str]:
    """Each reason once, newest first, the last few."""
    said = list(dict.fromkeys(r.get("message") or r.get("code", "") for r in reversed(alert["reasons"])))
    shown = said[:REASONS_SHOWN]
    if len(said) > len(shown):
        shown.append(f"and {plural(len(said) - len(shown), 'earlier reason')}")
    return shown


def checkin_lines(checkin: dict, zone: str) -> None:
    """The check-in behind an alert: its answers, use above all, and the note as typed."""
    used = f"{USED_BADGE} " if checkin["used"] else ""
    answers = [
        f"mood {checkin['mood']} of 5",
        f"craving {checkin['craving']} of 10",
        f"used: {'yes' if checkin['used'] else 'no'}",
        f"need support: {NEED_SUPPORT.get(checkin['need_support'], checkin['need_support'])}",
    ]
    st.markdown(f"{used}**Check-in** {local_time(checkin['client_time'], zone)}: " + " · ".join(answers))
    if checkin.get("note"):
        st.markdown(f"*Their note:* {plain(checkin['note'])}")


def outreach_lines(events: list[dict], zone: str) -> list[str]:
    """The outreach logged on an alert, newest first: when, who, how, reached or not, note."""
    lines = []
    for event in reversed([e for e in events if e["kind"] == "outreach"]):
        who = plain(event.get("actor_name") or "someone no longer on the team")
        reached = "reached: yes" if event["reached"] else "reached: no"
        line = (
            f"{local_time(event['at'], zone)} · {who} · {CHANNELS.get(event['channel'], event['channel'])} · {reached}"
        )
        lines.append(line + (f" · {plain(event['note'])}" if event.get("note") else ""))
    return lines


def alert_actions(api, alert: dict, *, has_outreach: bool) -> None:
    key = alert["id"]
    try:
        if alert["status"] == "open" and st.button("Acknowledge", key=f"ack_{key}", help="I am on it"):
            api.post(f"/v1/staff/alerts/{key}/acknowledge")
            flash("Acknowledged", "watch")
            st.rerun()
        outreach, resolve = st.columns(2)
        with outreach.form(f"outreach_{key}", clear_on_submit=True):
            channel = st.selectbox("Channel", list(CHANNELS), format_func=CHANNELS.get, key=f"channel_{key}")
            reached = st.checkbox("Reached them", key=f"reached_{key}")
            note = st.text_area("Note", key=f"note_{key}", max_chars=2000)
            if st.form_submit_button("Log outreach"):
                api.post(
                    f"/v1/staff/alerts/{key}/outreach", {"channel": channel, "reached": reached, "note": note or None}
                )
                flash("Outreach logged", "watch")
                st.rerun()
        with resolve.form(f"resolve_{key}"):
            outcome = st.text_area(
                "Outcome note",
                key=f"resolution_{key}",
                max_chars=2000,
                help=OUTCOME_OPTIONAL if has_outreach else OUTCOME_HELP,
            )
            st.caption(OUTCOME_OPTIONAL if has_outreach else OUTCOME_HELP)
            # Not the primary button: closing an alert is the step to take last, and with care.
            if st.form_submit_button("Resolve", type="secondary"):
                api.post(f"/v1/staff/alerts/{key}/resolve", {"note": outcome or None})
                flash("Resolved", "watch")
                st.rerun()
    except ApiError as exc:
        refused(exc)


def deleted_account(api, entry: dict, zone: str) -> None:
    """What was kept of a graduate who deleted their account while alerts were open, until
    someone has seen it: there is no participant page and nothing more to act on here."""
    key = entry["participant_id"]
    with st.container(border=True, key=f"card_{key}"):
        st.markdown(
            f"**{plain(entry['alias'])}'s account was deleted** on {local_time(entry['deleted_at'], zone)} "
            "(by them, or by an admin at their request) while alerts were open. Their data is gone; "
            "this is all that was kept."
        )
        kept = [f"{severity_badge(a['severity'])} {kind_name(a['kind'])}" for a in entry.get("alerts") or []]
        st.markdown("**Alerts open when they left:** " + (" · ".join(kept) or "none recorded"))
        st.caption(
            "Follow up as your protocol says for someone who leaves while at risk. Acknowledging takes them off "
            "the watchlist; the record is cleared 30 days later."
        )
        try:
            if st.button("Acknowledge", key=f"ack_deleted_{key}", type="primary", help="I have seen this"):
                api.post(f"/v1/staff/deleted-accounts/{key}/acknowledge")
                flash("Acknowledged", "watch")
                st.rerun()
        except ApiError as exc:
            refused(exc)
