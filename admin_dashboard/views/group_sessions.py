"""Part of the Groups page, its Sessions tab: the sessions of the last two weeks and the next
four, with the roster (RSVPs, attendance to mark, a CSV) and cancelling one with a reason.
Reading a roster is audited by the API, so this is drawn only when staff open the tab."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import flash, plural, refused
from admin_dashboard.typed import download_csv, plain
from admin_dashboard.zones import clock, zone_named

ATTENDANCE = ["present", "absent", "excused"]
# Shown for a member nobody has marked yet (the grid draws a missing value as a grey "None");
# saving skips it.
UNMARKED = "not marked"
# The sessions picker: recent ones (to take attendance late) and the coming month.
PAST_DAYS, FUTURE_DAYS = 14, 28


def session_label(session: dict, zone: str) -> str:
    """When a session is, in the group's own time zone (as its members read it; UTC while
    the group's is not recognized)."""
    tz = zone_named(zone) or dt.UTC
    starts = dt.datetime.fromisoformat(session["starts_at"]).astimezone(tz)
    ends = dt.datetime.fromisoformat(session["ends_at"]).astimezone(tz)
    label = f"{starts:%a %b} {starts.day}, {starts.year}, {clock(starts)}–{clock(ends)}"
    if session["status"] == "cancelled":
        label += " · cancelled"
    elif session["moved"]:
        label += " · moved"
    return label


# --- one group: sessions, roster, attendance, cancel -----------------------------------------


def sessions(api, group: dict) -> None:
    now = dt.datetime.now(dt.UTC)
    listed = api.get(
        f"/v1/groups/{group['id']}/sessions",
        **{
            "from": (now - dt.timedelta(days=PAST_DAYS)).isoformat(),
            "to": (now + dt.timedelta(days=FUTURE_DAYS)).isoformat(),
        },
    )["items"]
    zone = group["timezone"]
    if zone_named(zone) is None:
        st.warning(
            f"The group's time zone, “{plain(zone)}”, is not recognized: fix it under Details. Until then its "
            "sessions may not be worked out, and times are shown in UTC."
        )
    if not listed:
        st.info("No sessions in the last two weeks or the next four.")
        return
    by_id = {s["id"]: s for s in listed}
    # Start on the next session that has not ended: the one staff most likely mean.
    upcoming = [s for s in listed if dt.datetime.fromisoformat(s["ends_at"]) >= now]
    default = list(by_id).index(upcoming[0]["id"]) if upcoming else len(listed) - 1
    picked = st.selectbox(
        f"Session (last {PAST_DAYS} days and next {FUTURE_DAYS}, {plain(zone) if zone_named(zone) else 'UTC'} time)",
        list(by_id),
        index=default,
        format_func=lambda sid: session_label(by_id[sid], group["timezone"]),
        key=f"session_{group['id']}",
    )
    session = by_id[picked]
    if session["status"] == "cancelled":
        st.warning(f"Cancelled: {plain(session['note'] or 'no reason given')}")
    elif session["moved"] and session["note"]:
        st.caption(f"Moved: {plain(session['note'])}")
    roster(api, session, group["name"])
    if session["status"] != "cancelled":
        cancel_session(api, session, group["timezone"])


RSVPS = {"going": "Going", "not_going": "Not going"}
MARKED_BY = {"facilitator": "Staff or facilitator", "self": "Self check-in"}


def roster_frame(entries: list[dict]) -> pd.DataFrame:
    """The roster in words: a blank where nobody answered, "Not marked" where nobody took
    attendance yet (rather than the grid's grey "None"; saving skips it)."""
    frame = pd.DataFrame(entries, columns=["participant_id", "alias", "rsvp", "attendance", "attendance_source"])
    frame["rsvp"] = frame["rsvp"].map(lambda r: RSVPS.get(r, "") if isinstance(r, str) else "")
    frame["attendance"] = frame["attendance"].map(lambda a: a if isinstance(a, str) else UNMARKED)
    frame["attendance_source"] = frame["attendance_source"].map(
        lambda m: MARKED_BY.get(m, "") if isinstance(m, str) else ""
    )
    return frame


def roster(api, session: dict, group_name: str) -> None:
    data = api.get(f"/v1/sessions/{session['id']}/roster")
    frame = roster_frame(data["members"])
    going = int((frame["rsvp"] == RSVPS["going"]).sum())
    present = int((frame["attendance"] == "present").sum())
    first, second, third = st.columns(3)
    first.metric("Going", going)
    second.metric("Present", present)
    third.metric("Check-in code", data["check_in_code"], help="Show it in the room: members check themselves in")
    if frame.empty:
        st.caption("The group has no members yet.")
        return
    with st.form(f"attendance_{session['id']}"):
        edited = st.data_editor(
            frame,
            hide_index=True,
            width="stretch",
            disabled=["alias", "rsvp", "attendance_source"],
            column_order=["alias", "rsvp", "attendance", "attendance_source"],
            key=f"roster_{session['id']}",
            column_config={
                "alias": st.column_config.TextColumn("Name", width="large"),
                "rsvp": "RSVP",
                "attendance": st.column_config.SelectboxColumn(
                    "Attendance", options=[UNMARKED, *ATTENDANCE], format_func=str.capitalize, required=True
                ),
                "attendance_source": "Marked by",
            },
        )
        save = st.form_submit_button("Save attendance", key=f"attendance_{session['id']}_submit")
    download_csv(
        frame[["alias", "rsvp", "attendance", "attendance_source"]],
        f"attendance-{group_name}-{session['local_date']}.csv",
        key="attendance_csv",
        label="Download attendance CSV",
    )
    if save:
        save_attendance(api, session, frame, edited)


def save_attendance(api, session: dict, before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Send only the marks that changed (the API keeps who marked what)."""
    records = [
        {"participant_id": str(new["participant_id"]), "status": new["attendance"]}
        for (_, old), (_, new) in zip(before.iterrows(), after.iterrows(), strict=True)
        if new["attendance"] in ATTENDANCE and new["attendance"] != old["attendance"]
    ]
    if not records:
        st.info("No attendance changed.")
        return
    try:
        api.put(f"/v1/sessions/{session['id']}/attendance", {"records": records})
    except ApiError as exc:
        refused(exc)
        return
    flash(f"Attendance saved: {plural(len(records), 'mark')}.", "groups")
    st.rerun()


def cancel_session(api, session: dict, zone: str) -> None:
    """Members are told, with the reason: so the reason is asked for."""
    with st.form(f"cancel_{session['id']}", clear_on_submit=True):
        st.markdown("**Cancel this session**")
        reason = st.text_input(
            "Reason (members see it)", max_chars=500, placeholder="e.g. the facilitator is ill", key="cancel_reason"
        )
        submitted = st.form_submit_button("Cancel session", icon=":material/event_busy:", key="cancel_submit")
    if not submitted:
        return
    try:
        api.post(f"/v1/sessions/{session['id']}/cancel", {"reason": reason.strip()})
    except ApiError as exc:
        refused(exc)
        return
    flash(f"Cancelled the session of {session_label(session, zone)}. Members have been told.", "groups")
    st.rerun()
