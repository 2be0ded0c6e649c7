"""Overview: the program at a glance. Counts only: nobody's data."""

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.state import SEVERITIES, recent, run_page


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


ACTIVE_HELP = (
    "Graduates who have signed in to the app (activated) and are not deactivated: those with "
    "check-ins due. Enrolled graduates still waiting to activate are not counted."
)


def checkins_per_day(rows: list[dict], today: dt.date, days: int = 30) -> pd.Series:
    """Check-ins per day over the last `days` days to `today`, on a date axis, the days with
    none as 0 (the API lists only days that had some)."""
    counts = {dt.date.fromisoformat(row["day"]): row["checkins"] for row in rows}
    dates = pd.date_range(end=pd.Timestamp(today), periods=days, freq="D", name="day")
    return pd.Series([counts.get(d.date(), 0) for d in dates], index=dates, name="check-ins")


def render(api) -> None:
    st.title("Overview")
    # Program-wide numbers change slowly and cost the API a pass over everyone: a minute old is fine.
    metrics = recent("metrics", lambda: api.get("/v1/staff/metrics"), ttl_s=60)
    first, second, third, fourth, fifth = st.columns(5)
    first.metric("Active graduates", metrics["active_graduates"], help=ACTIVE_HELP)
    second.metric("Check-in adherence, 7 days", percent(metrics["adherence_7d"]))
    third.metric("Adherence, 30 days", percent(metrics["adherence_30d"]))
    fourth.metric("Sessions this week", metrics["sessions_this_week"])
    fifth.metric("Attendance, 30 days", percent(metrics["attendance_rate_30d"]))

    st.subheader("Open alerts")
    columns = st.columns(4)
    for column, severity in zip(columns, reversed(SEVERITIES), strict=True):
        column.metric(severity.title(), metrics["open_alerts"].get(severity, 0))

    left, right = st.columns(2)
    with left:
        st.subheader("Check-ins per day")
        if not metrics["checkins_by_day"]:
            st.caption("No check-ins in the last 30 days.")
        else:
            # The API counts by UTC date; so does this axis's last day.
            today = dt.datetime.now(dt.UTC).date()
            st.bar_chart(checkins_per_day(metrics["checkins_by_day"], today), x_label="day", y_label="check-ins")
    with right:
        st.subheader("Adherence over time")
        adherence = pd.DataFrame(metrics["adherence_by_day"], columns=["day", "adherence", "slots"])
        if adherence.empty:
            st.caption("No check-in slots ended in the last 30 days.")
        else:
            adherence["day"] = pd.to_datetime(adherence["day"])  # a date axis, as the check-ins'
            st.line_chart(
                adherence.set_index("day")["adherence"], x_label="day", y_label="share of slots with a check-in"
            )


run_page(render)
