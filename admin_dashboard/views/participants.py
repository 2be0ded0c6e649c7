"""Participants: the list of graduates (search, filters, CSV) and one graduate's page, what
needs attention first: their open alerts (a flag under the name says how many), then their
profile, check-ins, plan, groups and past alerts (views/participant_record.py), and their
account (views/participant_account.py): a new activation code, deactivation, a time zone that
is not recognized, deletion (admins).

`?participant=<id>` opens someone directly (the watchlist and the banner link here)."""

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import (
    SEVERITIES,
    plural,
    recent,
    run_page,
    severity_badge,
    show_flash,
    table_with_csv,
    team,
)
from admin_dashboard.typed import plain
from admin_dashboard.views.participant_account import GONE_KEY, actions, delete_account, fix_time_zone
from admin_dashboard.views.participant_help import calls_for_help
from admin_dashboard.views.participant_record import WIDE, alert, blanks, checkins, groups, past_alerts, plan
from admin_dashboard.zones import reader_zone, today_in, usable, when, zone_named

PICK_KEY = "participant_pick"
STATUSES = {"pending": "Not activated yet", "active": "Active", "deactivated": "Deactivated"}


def days_sober(person: dict) -> int | None:
    if not person.get("sobriety_date"):
        return None
    return (today_in(person["timezone"]) - dt.date.fromisoformat(person["sobriety_date"])).days


def participants_frame(people: list[dict], counselors: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        people,
        columns=[
            "id",
            "alias",
            "status",
            "counselor_id",
            "timezone",
            "iop_completed_on",
            "email",
            "phone",
            "created_at",
        ],
    )
    frame["counselor"] = frame["counselor_id"].map(lambda c: counselors.get(c, "–") if c else "–")
    frame["status"] = frame["status"].map(lambda s: STATUSES.get(s, s))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return blanks(frame)


# --- the list ------------------------------------------------------------------------------


def render(api) -> None:
    st.title("Participants")
    show_flash("participants")
    counselors = team(api)
    people = choose_people(api, counselors)
    person_id = pick(api, people)
    if person_id:
        st.divider()
        participant_page(api, person_id, counselors)


def choose_people(api, counselors: dict[str, str]) -> list[dict]:
    search, status, counselor = st.columns([2, 1, 1])
    query = search.text_input("Search by name", key="people_search", placeholder="Alias")
    wanted_status = status.selectbox(
        "Status", ["any", *STATUSES], format_func=lambda s: STATUSES.get(s, "Any status"), key="people_status"
    )
    me = api.me["id"]
    choices = ["everyone", *(["mine"] if me in counselors else []), *counselors]
    who = counselor.selectbox(
        "Counselor",
        choices,
        format_func=lambda c: {"everyone": "Everyone", "mine": "My caseload"}.get(c) or counselors[c],
        key="people_counselor",
    )
    counselor_id = me if who == "mine" else None if who == "everyone" else who
    status = None if wanted_status == "any" else wanted_status
    # Every read of the list is audited (one row naming everyone shown): not again on each click or keystroke.
    people = recent(
        f"participants:{counselor_id}:{status}",
        lambda: api.get_all("/v1/staff/participants", counselor_id=counselor_id, status=status, limit=200),
    )
    if query.strip():
        people = [p for p in people if query.strip().casefold() in p["alias"].casefold()]
    frame = participants_frame(people, counselors)
    shown = frame[["alias", "status", "counselor", "iop_completed_on", "timezone", "email", "phone", "created_at"]]
    st.caption(f"{len(frame)} graduates")
    table_with_csv(
        shown,
        "participants.csv",
        {
            "alias": st.column_config.TextColumn("Name", **WIDE),
            "status": "Status",
            "counselor": st.column_config.TextColumn("Counselor", **WIDE),
            "iop_completed_on": st.column_config.DateColumn("IOP completed"),
            "timezone": "Time zone",
            "email": st.column_config.TextColumn("Email", width="medium"),
            "phone": "Phone",
            "created_at": st.column_config.DatetimeColumn("Enrolled", format="MMM D, YYYY", timezone=reader_zone(api)),
        },
    )
    return people


def pick(api, people: list[dict]) -> str | None:
    """The selectbox and `?participant=` agree: a link opens someone, a choice updates the link."""
    names = {p["id"]: p["alias"] for p in people}
    if st.session_state.pop(GONE_KEY, None):  # deleted: nobody to show any more
        st.session_state.pop(PICK_KEY, None)
        st.query_params.pop("participant", None)
    linked = st.query_params.get("participant")
    if linked and linked != st.session_state.get(PICK_KEY):
        st.session_state[PICK_KEY] = linked
    chosen = st.session_state.get(PICK_KEY)
    if chosen and chosen not in names:  # filtered out, or linked to: still theirs to see
        try:
            names[chosen] = api.get(f"/v1/staff/participants/{chosen}")["alias"]
        except ApiError:
            st.warning("That graduate was not found.")
            st.session_state[PICK_KEY] = None
            st.query_params.pop("participant", None)

    def follow() -> None:
        if st.session_state.get(PICK_KEY):
            st.query_params["participant"] = st.session_state[PICK_KEY]
        else:
            st.query_params.pop("participant", None)

    return st.selectbox(
        "Open a graduate",
        list(names),
        format_func=names.get,
        index=None,
        placeholder="Choose a graduate",
        key=PICK_KEY,
        on_change=follow,
    )


# --- one graduate --------------------------------------------------------------------------


def participant_page(api, person_id: str, counselors: dict[str, str]) -> None:
    person = api.get(f"/v1/staff/participants/{person_id}")
    zone = usable(person["timezone"])  # times in UTC while theirs is not recognized
    # Every open alert, however many resolved ones came before; the latest resolved, below.
    open_now = api.get_all("/v1/staff/alerts", participant_id=person_id, status=["open", "acknowledged"], limit=100)
    resolved = api.get_all("/v1/staff/alerts", participant_id=person_id, status=["resolved"], limit=100)
    st.header(plain(person["alias"]))
    flag(open_now)
    needs_attention(api, open_now, zone, counselors)
    fix_time_zone(api, person)
    profile(person, counselors)
    checkins_tab, plan_tab, groups_tab, help_tab, past_tab = st.tabs(
        ["Check-ins", "Plan", "Groups", "Calls for help", "Past alerts"]
    )
    with checkins_tab:
        checkins(api, person)
    with plan_tab:
        plan(api, person)
    with groups_tab:
        groups(api, person)
    with help_tab:
        calls_for_help(api, person, zone)
    with past_tab:
        past_alerts(api, resolved, zone, counselors)
    st.subheader("Account")
    actions(api, person)
    if "admin" in api.roles:
        delete_account(api, person)


def flag(open_now: list[dict]) -> None:
    """Under the name: how many alerts are open, and the most severe one's badge."""
    if not open_now:
        return
    top = max((a["severity"] for a in open_now), key=SEVERITIES.index)
    st.markdown(f"⚠ **{plural(len(open_now), 'open alert')}** {severity_badge(top)}")


def needs_attention(api, open_now: list[dict], zone: str, counselors: dict[str, str]) -> None:
    """Their open alerts, most severe first, each with its reasons and outreach so far."""
    if not open_now:
        st.caption("No open alerts.")
        return
    st.caption(f"Acknowledge, log outreach and resolve on the watchlist. Times are in their zone ({zone}).")
    for item in sorted(open_now, key=lambda a: -SEVERITIES.index(a["severity"])):  # stable: newest first within
        alert(api, item, zone, counselors, expanded=True)


def profile(person: dict, counselors: dict[str, str]) -> None:
    status, sober, iop = st.columns(3)
    status.metric("Status", STATUSES.get(person["status"], person["status"]))
    days = days_sober(person)
    sober.metric("Days sober", "–" if days is None else days)
    iop.metric("IOP completed", person["iop_completed_on"])
    # In a line of its own, not a metric: a metric cuts a long name short.
    counselor = person["counselor_id"]
    named = (
        plain(counselors[counselor]) if counselor in counselors else "no longer on the team" if counselor else "none"
    )
    st.markdown(f"**Counselor:** {named}")
    contact = " · ".join(plain(c) for c in (person.get("email"), person.get("phone")) if c) or "no contact details"
    activated = when(person["activated_at"], person["timezone"]) if person["activated_at"] else "not yet"
    zone = person["timezone"]
    zone_text = zone if zone_named(zone) else f"“{plain(zone)}” (not recognized: times here are in UTC)"
    st.caption(
        f"Time zone {zone_text} · contact: {contact} · "
        f"enrolled {when(person['created_at'], person['timezone'])} · app activated {activated}"
        + (f" · deactivated {when(person['deactivated_at'], person['timezone'])}" if person["deactivated_at"] else "")
    )


run_page(render)
