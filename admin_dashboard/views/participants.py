"""Participants: the list of graduates (search, filters, CSV) and one graduate's page:
profile, check-in plan (and its override), mood and craving over time, check-ins, groups,
alerts with their outreach history; and their account (views/participant_account.py): a new
activation code, deactivation, a time zone that is not recognized, deletion (admins).

`?participant=<id>` opens someone directly (the watchlist and the banner link here)."""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import recent, refused, run_page, show_flash, table_with_csv, team
from admin_dashboard.typed import plain
from admin_dashboard.views.participant_account import GONE_KEY, actions, delete_account, fix_time_zone
from admin_dashboard.zones import reader_zone, today_in, usable, when, zone_named

HISTORY_DAYS = 90
PICK_KEY = "participant_pick"
STATUSES = {"pending": "Not activated yet", "active": "Active", "deactivated": "Deactivated"}
CADENCES = {
    "default": "Default (steps down with time since IOP)",
    "daily": "Daily",
    "three_weekly": "Three times a week (Mon-Tue, Wed-Thu, Fri-Sun)",
    "weekly": "Weekly",
    "none": "None (no check-ins due)",
}
FORMATS = {"in_person": "In person", "online": "Online", "hybrid": "Hybrid"}
CHANNELS = {"call": "Call", "text": "Text", "in_person": "In person", "other": "Other"}
EVENTS = {
    "opened": "Opened",
    "reason": "New reason",
    "checkin": "Checked in",
    "acknowledged": "Acknowledged",
    "outreach": "Outreach",
    "resolved": "Resolved",
}
NEED_SUPPORT = {"no": "No", "talk_soon": "Talk soon", "crisis_now": "In crisis now"}


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
    return frame


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
    # Every read of the list is audited, a row per graduate: not again on each click or keystroke.
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
            "alias": "Name",
            "status": "Status",
            "counselor": "Counselor",
            "iop_completed_on": st.column_config.DateColumn("IOP completed"),
            "timezone": "Time zone",
            "email": "Email",
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
    st.header(plain(person["alias"]))
    profile(person, counselors)
    fix_time_zone(api, person)
    actions(api, person)
    plan_tab, checkins_tab, groups_tab, alerts_tab = st.tabs(["Plan", "Check-ins", "Groups", "Alerts"])
    with plan_tab:
        plan(api, person)
    with checkins_tab:
        checkins(api, person)
    with groups_tab:
        groups(api, person)
    with alerts_tab:
        alerts(api, person_id, zone, counselors)
    if "admin" in api.roles:
        delete_account(api, person)


def profile(person: dict, counselors: dict[str, str]) -> None:
    status, counselor, sober, iop = st.columns(4)
    status.metric("Status", STATUSES.get(person["status"], person["status"]))
    counselor.metric("Counselor", plain(counselors.get(person["counselor_id"], "–")) if person["counselor_id"] else "–")
    days = days_sober(person)
    sober.metric("Days sober", "–" if days is None else days)
    iop.metric("IOP completed", person["iop_completed_on"])
    contact = " · ".join(plain(c) for c in (person.get("email"), person.get("phone")) if c) or "no contact details"
    activated = when(person["activated_at"], person["timezone"]) if person["activated_at"] else "not yet"
    zone = person["timezone"]
    zone_text = zone if zone_named(zone) else f"“{plain(zone)}” (not recognized: times here are in UTC)"
    st.caption(
        f"Time zone {zone_text} · contact: {contact} · "
        f"enrolled {when(person['created_at'], person['timezone'])} · app activated {activated}"
        + (f" · deactivated {when(person['deactivated_at'], person['timezone'])}" if person["deactivated_at"] else "")
    )


def plan(api, person: dict) -> None:
    key = person["id"]
    current = api.get(f"/v1/staff/participants/{key}/plan")
    if current["cadence"] == "default":
        st.markdown("**Plan:** the default, stepping down with time since IOP completion.")
    else:
        until = f" until {current['ends_on']}" if current["ends_on"] else " until changed"
        st.markdown(f"**Plan:** {CADENCES[current['cadence']]}, from {current['starts_on']}{until} (staff override).")
    slot = current.get("current_slot")
    if slot:
        done = "done" if slot["done"] else "not yet"
        st.caption(f"Current slot: {slot['starts_on']} to {slot['ends_on']} ({slot['cadence']}), check-in {done}.")
    else:
        st.caption("No check-in is due right now.")
    today = today_in(person["timezone"])
    with st.form(f"plan_{key}"):
        st.markdown("**Override the plan**")
        cadence = st.selectbox("Cadence", list(CADENCES), format_func=CADENCES.get, key=f"plan_cadence_{key}")
        left, right = st.columns(2)
        starts = left.date_input("From", value=today, format="YYYY-MM-DD", key=f"plan_from_{key}")
        ends = right.date_input("Until (optional)", value=None, format="YYYY-MM-DD", key=f"plan_until_{key}")
        st.caption("“Default” removes the override; the dates then do not matter.")
        if st.form_submit_button("Save plan", type="primary"):
            body = {"cadence": cadence}
            if cadence != "default":
                body |= {
                    "starts_on": starts.isoformat() if starts else None,
                    "ends_on": ends.isoformat() if ends else None,
                }
            try:
                api.put(f"/v1/staff/participants/{key}/plan", body)
            except ApiError as exc:
                refused(exc)
            else:
                st.toast("Plan saved")
                st.rerun()


def day_chart(by_day: pd.DataFrame, answer: str, low: int, high: int) -> alt.Chart:
    """One answer over the days, on its own fixed scale, with a point for each day (a single
    check-in is a point, not an empty chart)."""
    data = by_day.reset_index()
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("local_date:T", title="date"),
            y=alt.Y(f"{answer}:Q", title=answer, scale=alt.Scale(domain=[low, high])),
            tooltip=[alt.Tooltip("local_date:T", title="date"), alt.Tooltip(f"{answer}:Q", format=".1f")],
        )
    )


def checkins(api, person: dict) -> None:
    today = today_in(person["timezone"])
    first = today - dt.timedelta(days=HISTORY_DAYS - 1)
    items = api.get(
        f"/v1/staff/participants/{person['id']}/checkins", **{"from": first.isoformat(), "to": today.isoformat()}
    )["items"]
    if not items:
        st.info(f"No check-ins in the last {HISTORY_DAYS} days.")
        return
    frame = pd.DataFrame(items)
    frame["local_date"] = pd.to_datetime(frame["local_date"])
    frame["risk"] = frame["risk_reasons"].map(lambda rs: "; ".join(r["message"] for r in rs))
    frame["need_support"] = frame["need_support"].map(lambda n: NEED_SUPPORT.get(n, n))
    by_day = frame.groupby("local_date")[["mood", "craving"]].mean()
    st.caption(f"{len(frame)} check-ins in the last {HISTORY_DAYS} days (their local dates).")
    mood, craving = st.columns(2)
    with mood:
        st.markdown("**Mood** (1-5)")
        st.altair_chart(day_chart(by_day, "mood", 1, 5), width="stretch")
    with craving:
        st.markdown("**Craving** (0-10)")
        st.altair_chart(day_chart(by_day, "craving", 0, 10), width="stretch")
    table = frame.sort_values("client_time", ascending=False)[
        ["local_date", "mood", "craving", "used", "sleep", "need_support", "risk", "note"]
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "local_date": st.column_config.DateColumn("Date"),
            "mood": "Mood",
            "craving": "Craving",
            "used": "Used",
            "sleep": "Sleep",
            "need_support": "Needs support",
            "risk": "Risk reasons",
            "note": "Note",
        },
    )


def groups(api, person: dict) -> None:
    items = api.get(f"/v1/staff/participants/{person['id']}/groups")["items"]
    if not items:
        st.info(f"{plain(person['alias'])} is in no group yet.")
        return
    rows = [
        {
            "name": g["name"],
            "status": "Member"
            if g["status"] == "member"
            else f"Waitlisted (#{g['waitlist_position']})"
            if g["waitlist_position"]
            else "Waitlisted",
            "meets": ", ".join(f"{s['weekday'].title()} {s['start']}-{s['end']}" for s in g["schedule"])
            + f" ({g['timezone']})",
            "format": FORMATS.get(g["format"], g["format"]),
            "since": g["since"][:10],
            "archived": bool(g["archived_at"]),
        }
        for g in items
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "name": "Group",
            "status": "Status",
            "meets": "Meets",
            "format": "Format",
            "since": "Since",
            "archived": "Archived",
        },
    )


def alerts(api, person_id: str, zone: str, counselors: dict[str, str]) -> None:
    items = api.get(
        "/v1/staff/alerts", participant_id=person_id, status=["open", "acknowledged", "resolved"], limit=50
    )["items"]
    if not items:
        st.info("No alerts.")
        return
    st.caption(f"Acknowledge, log outreach and resolve on the watchlist. Times are in their zone ({zone}).")
    for alert in items:
        title = (
            f"{alert['severity'].title()} · {alert['kind'].replace('_', ' ')} · {alert['status']} · "
            f"opened {when(alert['opened_at'], zone)}"
        )
        with st.expander(title, expanded=alert["status"] != "resolved"):
            st.markdown(plain("; ".join(r.get("message", r.get("code", "")) for r in alert["reasons"])))
            events = api.get(f"/v1/staff/alerts/{alert['id']}")["events"] or []
            timeline(events, zone, counselors)


def timeline(events: list[dict], zone: str, counselors: dict[str, str]) -> None:
    rows = [
        {
            "when": when(e["at"], zone),
            "what": EVENTS.get(e["kind"], e["kind"]),
            "who": "System" if e["actor_id"] is None else counselors.get(e["actor_id"], "Staff member"),
            "channel": CHANNELS.get(e["channel"], "") if e["channel"] else "",
            "reached": {True: "Yes", False: "No"}.get(e["reached"], ""),
            "note": e["note"] or (e.get("details") or {}).get("message") or "",
        }
        for e in events
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    outreach = [r for r in rows if r["what"] == "Outreach"]
    st.caption(
        f"Outreach: {len(outreach)} attempt(s), {sum(r['reached'] == 'Yes' for r in outreach)} reached."
        if outreach
        else "No outreach logged yet."
    )


run_page(render)
