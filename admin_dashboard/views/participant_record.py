"""Part of the Participants page: a graduate's record below what needs attention. Their
alerts (open ones first on the page, the rest here) with outreach history, check-ins over
time, the check-in plan and its override, and their groups.

Every cell shows a blank where there is nothing (never "None"), and names get room to show
in full (an alias holds up to 50 characters, a staff name 100)."""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from admin_dashboard.alert_cards import CHANNELS
from admin_dashboard.client import ApiError
from admin_dashboard.state import USED_BADGE, USED_LABEL, inked, plural, refused, severity_text
from admin_dashboard.typed import plain
from admin_dashboard.zones import today_in, when

HISTORY_DAYS = 90
PAST_ALERTS_SHOWN = 20  # each opens its own timeline: a long history stays a short page
CADENCES = {
    "default": "Default (steps down with time since IOP)",
    "daily": "Daily",
    "three_weekly": "Three times a week (Mon-Tue, Wed-Thu, Fri-Sun)",
    "weekly": "Weekly",
    "none": "None (no check-ins due)",
}
FORMATS = {"in_person": "In person", "online": "Online", "hybrid": "Hybrid"}
EVENTS = {
    "opened": "Opened",
    "reason": "New reason",
    "checkin": "Checked in",
    "acknowledged": "Acknowledged",
    "outreach": "Outreach",
    "resolved": "Resolved",
    "help_now": "Asked their circle for help",
}
NEED_SUPPORT = {"no": "No", "talk_soon": "Talk soon", "crisis_now": "In crisis now"}
STATUSES = {"open": "open", "acknowledged": "acknowledged, not resolved", "resolved": "resolved"}
# A table's text column wide enough for a whole name or note.
WIDE = {"width": "large"}


def blanks(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells with nothing in them shown blank (a table writes a missing value "None")."""
    for column in frame.columns:
        if pd.api.types.is_object_dtype(frame[column]) or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].fillna("")
    return frame


# --- alerts ----------------------------------------------------------------------------------


def alert(api, item: dict, zone: str, counselors: dict[str, str], *, expanded: bool) -> None:
    """One alert: its severity, kind and state, its reasons, and its timeline with outreach."""
    title = (
        f"{severity_text(item['severity'])} · {item['kind'].replace('_', ' ')} · "
        f"{STATUSES.get(item['status'], item['status'])} · opened {when(item['opened_at'], zone)}"
    )
    with st.expander(title, expanded=expanded):
        reasons = [r.get("message") or r.get("code") or "" for r in item["reasons"]]
        st.markdown("**Why:** " + plain("; ".join(r for r in reasons if r)) if any(reasons) else "**Why:** not given")
        events = api.get(f"/v1/staff/alerts/{item['id']}")["events"] or []
        timeline(events, zone, counselors)


def timeline(events: list[dict], zone: str, counselors: dict[str, str]) -> None:
    rows = [
        {
            "when": when(e["at"], zone),
            "what": EVENTS.get(e["kind"], e["kind"]),
            "who": "System"
            if e["actor_id"] is None
            else e.get("actor_name") or counselors.get(e["actor_id"], "Staff member"),
            "channel": CHANNELS.get(e["channel"], "") if e["channel"] else "",
            "reached": {True: "Yes", False: "No"}.get(e["reached"], ""),
            "note": e["note"] or (e.get("details") or {}).get("message") or "",
        }
        for e in events
    ]
    st.dataframe(
        blanks(pd.DataFrame(rows, columns=["when", "what", "who", "channel", "reached", "note"])),
        hide_index=True,
        width="stretch",
        column_config={
            "when": "When",
            "what": "What",
            "who": st.column_config.TextColumn("Who", **WIDE),
            "channel": "Channel",
            "reached": "Reached",
            "note": st.column_config.TextColumn("Note", **WIDE),
        },
    )
    outreach = [r for r in rows if r["what"] == "Outreach"]
    st.caption(
        f"Outreach: {plural(len(outreach), 'attempt')}, {sum(r['reached'] == 'Yes' for r in outreach)} reached."
        if outreach
        else "No outreach logged yet."
    )


def past_alerts(api, items: list[dict], zone: str, counselors: dict[str, str]) -> None:
    if not items:
        st.info("No resolved alerts.")
        return
    latest = sorted(items, key=lambda a: a["updated_at"], reverse=True)[:PAST_ALERTS_SHOWN]
    shown = f"the latest {len(latest)} of {len(items)}" if len(items) > len(latest) else plural(len(items), "alert")
    st.caption(f"Resolved alerts, the most recently resolved first ({shown}). Times are in their zone ({zone}).")
    for item in latest:
        alert(api, item, zone, counselors, expanded=False)


# --- check-ins -------------------------------------------------------------------------------


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
    # Reported use is what a counselor must not miss: marked, where "no" stays blank.
    frame["used"] = frame["used"].map(lambda used: USED_LABEL if used else "")
    by_day = frame.groupby("local_date")[["mood", "craving"]].mean()
    used = int((frame["used"] != "").sum())
    st.caption(f"{len(frame)} check-ins in the last {HISTORY_DAYS} days (their local dates).")
    if used:
        st.markdown(f"{USED_BADGE} reported in {used} of them.")
    mood, craving = st.columns(2)
    with mood:
        st.markdown("**Mood** (1-5)")
        st.altair_chart(day_chart(by_day, "mood", 1, 5), width="stretch")
    with craving:
        st.markdown("**Craving** (0-10)")
        st.altair_chart(day_chart(by_day, "craving", 0, 10), width="stretch")
    table = frame.sort_values("client_time", ascending=False)[
        ["local_date", "used", "mood", "craving", "sleep", "need_support", "risk", "note"]
    ]
    st.dataframe(
        inked(blanks(table), ["used"]),
        hide_index=True,
        width="stretch",
        column_config={
            "local_date": st.column_config.DateColumn("Date"),
            "used": "Used",
            "mood": "Mood",
            "craving": "Craving",
            "sleep": "Sleep",
            "need_support": "Needs support",
            "risk": st.column_config.TextColumn("Risk reasons", **WIDE),
            "note": st.column_config.TextColumn("Note", **WIDE),
        },
    )


# --- the plan --------------------------------------------------------------------------------


def plan(api, person: dict) -> None:
    key = person["id"]
    current = api.get(f"/v1/staff/participants/{key}/plan")
    if current["cadence"] == "default":
        st.markdown("**Plan:** the default, stepping down with time since IOP completion.")
    else:
        since = f", from {current['starts_on']}" if current["starts_on"] else ""
        until = f" until {current['ends_on']}" if current["ends_on"] else " until changed"
        st.markdown(f"**Plan:** {CADENCES[current['cadence']]}{since}{until} (staff override).")
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


# --- groups ----------------------------------------------------------------------------------


def waitlist_status(group: dict) -> str:
    if group["status"] == "member":
        return "Member"
    return f"Waitlisted (#{group['waitlist_position']})" if group["waitlist_position"] else "Waitlisted"


def groups(api, person: dict) -> None:
    items = api.get(f"/v1/staff/participants/{person['id']}/groups")["items"]
    if not items:
        st.info(f"{plain(person['alias'])} is in no group yet.")
        return
    rows = [
        {
            "name": g["name"],
            "status": waitlist_status(g),
            "meets": ", ".join(f"{s['weekday'].title()} {s['start']}-{s['end']}" for s in g["schedule"])
            + f" ({g['timezone']})",
            "format": FORMATS.get(g["format"], g["format"]),
            "since": (g["since"] or "")[:10],  # the date of a timestamp
            "archived": bool(g["archived_at"]),
        }
        for g in items
    ]
    st.dataframe(
        blanks(pd.DataFrame(rows)),
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Group", **WIDE),
            "status": "Status",
            "meets": st.column_config.TextColumn("Meets", **WIDE),
            "format": "Format",
            "since": "Since",
            "archived": "Archived",
        },
    )
