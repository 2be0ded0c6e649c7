"""Watchlist: who is overdue or alerted now, and the alert work (acknowledge, outreach,
resolve) right there. The table refreshes itself every minute; the forms below it keep
what is being typed."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import SEVERITIES, guarded, refused, run_page, table_with_csv, team

REFRESH_SECONDS = 60
CHANNELS = {"call": "Call", "text": "Text", "in_person": "In person", "other": "Other"}
SORTS = {
    "Most severe first": (["severity_rank", "consecutive_misses"], [False, False]),
    "Most misses in a row": (["consecutive_misses", "severity_rank"], [False, False]),
    "Longest without a check-in": (["last_checkin_at"], [True]),
    "Lowest adherence": (["adherence_14d"], [True]),
}


def local_time(iso: str, zone: str) -> str:
    """ "Nov 27, 9:05 PM" where the reader is."""
    moment = dt.datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return (
        f"{moment:%b} {moment.day}, {moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    )


def watchlist_frame(entries: list[dict], names: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        entries,
        columns=[
            "participant_id",
            "alias",
            "counselor_id",
            "last_checkin_at",
            "consecutive_misses",
            "adherence_14d",
            "overdue",
            "open_alerts",
            "top_severity",
        ],
    )
    # Overdue people with no open alert have no severity (pandas gives NaN for the gaps).
    frame["counselor"] = frame["counselor_id"].map(lambda c: names.get(c, "–") if isinstance(c, str) else "–")
    frame["severity_rank"] = frame["top_severity"].map(lambda s: SEVERITIES.index(s) + 1 if isinstance(s, str) else 0)
    frame["last_checkin_at"] = pd.to_datetime(
        frame["last_checkin_at"], utc=True, format="ISO8601"
    )  # with or without fractions
    return frame


def render(api) -> None:
    st.title("Watchlist")
    counselors = team(api)
    mine = api.me["id"] if api.me["id"] in counselors else None
    choices = (["mine"] if mine else []) + ["everyone"] + list(counselors)
    left, middle, right = st.columns(3)
    who = left.selectbox(
        "Counselor",
        choices,
        format_func=lambda c: {"mine": "My caseload", "everyone": "Everyone"}.get(c) or counselors[c],
        key="watch_counselor",
    )
    least = middle.selectbox("Severity at least", ["any", *SEVERITIES], key="watch_severity")
    order = right.selectbox("Sort", list(SORTS), key="watch_sort")
    counselor_id = mine if who == "mine" else None if who == "everyone" else who
    live_table(api, counselor_id, least, order, counselors)
    work_on_alerts(api, counselor_id)


@st.fragment(run_every=REFRESH_SECONDS)
@guarded
def live_table(api, counselor_id, least: str, order: str, counselors: dict[str, str]) -> None:
    """Only this part reruns every minute: the forms below keep what is being typed."""
    entries = api.get_all("/v1/staff/watchlist", counselor_id=counselor_id, limit=1000)
    st.session_state.watch_entries = entries  # the people to pick from below: one API call a render
    if not entries and counselor_id == api.me["id"]:
        others = len(api.get("/v1/staff/watchlist", limit=1000)["items"])
        if others:
            who = "1 other does" if others == 1 else f"{others} others do"
            st.info(f"Nobody in your caseload needs attention; {who}: choose Everyone above.")
    frame = watchlist_frame(entries, counselors)
    if least != "any":
        frame = frame[frame["severity_rank"] >= SEVERITIES.index(least) + 1]
    columns, ascending = SORTS[order]
    frame = frame.sort_values(columns, ascending=ascending, na_position="first")
    shown = frame[
        [
            "alias",
            "counselor",
            "top_severity",
            "open_alerts",
            "consecutive_misses",
            "adherence_14d",
            "last_checkin_at",
            "overdue",
        ]
    ]
    st.caption(f"{len(frame)} people need attention. Refreshes every minute.")
    table_with_csv(
        shown,
        "watchlist.csv",
        {
            "alias": "Name",
            "counselor": "Counselor",
            "top_severity": "Severity",
            "open_alerts": "Open alerts",
            "consecutive_misses": "Missed in a row",
            "adherence_14d": st.column_config.ProgressColumn(
                "Adherence, 14 days", min_value=0, max_value=1, format="percent"
            ),
            "last_checkin_at": st.column_config.DatetimeColumn(
                "Last check-in", format="MMM D, h:mm a", timezone=api.me["timezone"], help="In your time zone"
            ),
            "overdue": "Overdue",
        },
    )


@st.fragment
@guarded
def work_on_alerts(api, counselor_id) -> None:
    st.subheader("Work on an alert")
    people = {e["participant_id"]: e["alias"] for e in st.session_state.get("watch_entries", [])}
    if not people:
        st.success("Nobody is overdue or alerted right now.")
        return
    person = st.selectbox("Person", list(people), format_func=people.get, key="watch_person")
    # In this browser session (a link to a new tab would start a new one, signed out).
    if st.button("Open their participant page", key="watch_open", icon=":material/person:"):
        st.switch_page("views/participants.py", query_params={"participant": person})
    alerts = api.get("/v1/staff/alerts", participant_id=person, status=["open", "acknowledged"])["items"]
    if not alerts:
        st.info(f"{people[person]} is overdue, with no open alert yet: the sweep raises one after two misses in a row.")
        return
    for alert in alerts:
        with st.container(border=True):
            reasons = "; ".join(r.get("message", r.get("code", "")) for r in alert["reasons"][-3:])
            opened = local_time(alert["opened_at"], api.me["timezone"])
            st.markdown(
                f"**{alert['severity'].title()}** · {alert['kind'].replace('_', ' ')} · {alert['status']} · opened {opened}"
            )
            st.caption(reasons)
            alert_actions(api, alert)


def alert_actions(api, alert: dict) -> None:
    key = alert["id"]
    act, outreach, resolve = st.columns(3)
    try:
        if alert["status"] == "open" and act.button("Acknowledge", key=f"ack_{key}", help="I am on it"):
            api.post(f"/v1/staff/alerts/{key}/acknowledge")
            st.toast("Acknowledged")
            st.rerun()
        with outreach.form(f"outreach_{key}", clear_on_submit=True):
            channel = st.selectbox("Channel", list(CHANNELS), format_func=CHANNELS.get, key=f"channel_{key}")
            reached = st.checkbox("Reached them", key=f"reached_{key}")
            note = st.text_area("Note", key=f"note_{key}", max_chars=2000)
            if st.form_submit_button("Log outreach"):
                api.post(
                    f"/v1/staff/alerts/{key}/outreach", {"channel": channel, "reached": reached, "note": note or None}
                )
                st.toast("Outreach logged")
        with resolve.form(f"resolve_{key}"):
            resolution = st.text_area("Resolution note", key=f"resolution_{key}", max_chars=2000)
            if st.form_submit_button("Resolve", type="primary"):
                api.post(f"/v1/staff/alerts/{key}/resolve", {"note": resolution or None})
                st.toast("Resolved")
                st.rerun()
    except ApiError as exc:
        refused(exc)


run_page(render)
