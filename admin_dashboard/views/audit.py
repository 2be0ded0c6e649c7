"""Audit log (admins): every staff read and write of participant data, and every admin action
on accounts, newest first. Filter by who, whose data, what and when; page with "Load more";
download what is loaded as CSV. Any other rerun shows the newest entries again. Reading this page is not itself a read of participant data."""

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from admin_dashboard.state import run_page
from admin_dashboard.typed import download_csv
from admin_dashboard.zones import reader_zone

PAGE_SIZE = 100
# What the API records (free text is accepted too, for actions added later).
ACTIONS = [
    "participant.list",
    "participant.read",
    "participant.create",
    "participant.update",
    "participant.deactivate",
    "participant.reactivate",
    "participant.activation_code",
    "participant.delete",
    "participant.deleted.acknowledge",
    "participant.checkins.read",
    "participant.groups.read",
    "participant.plan.read",
    "participant.plan.write",
    "watchlist.read",
    "alert.list",
    "alert.read",
    "alert.acknowledge",
    "alert.outreach",
    "alert.resolve",
    "system_status.read",
    "notification.send",
    "group.members.read",
    "session.roster.read",
    "session.attendance.write",
    "account.create",
    "account.deactivate",
    "account.unlock",
]
COLUMNS = ["at", "actor", "action", "participant_id", "method", "path", "client_ip", "details"]


def start_of(day: dt.date | None, zone: ZoneInfo) -> str | None:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).isoformat() if day else None


def entries_frame(entries: list[dict], names: dict[str, str], zone: ZoneInfo) -> pd.DataFrame:
    frame = pd.DataFrame(entries, columns=["id", "at", "actor_id", "action", "participant_id", "method", "path",
                                           "client_ip", "details"])  # fmt: skip
    frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.tz_convert(zone)
    frame["actor"] = frame["actor_id"].map(lambda a: names.get(a, a))
    frame["details"] = frame["details"].map(lambda d: json.dumps(d, sort_keys=True) if d else "")
    return frame[COLUMNS]


def render(api) -> None:
    st.title("Audit log")
    zone_name = reader_zone(api)
    zone = ZoneInfo(zone_name)
    accounts = api.get_all("/v1/staff/accounts", limit=200)
    names = {a["id"]: f"{a['name']} ({a['email']})" for a in accounts}

    first, second, third = st.columns(3)
    actor = first.selectbox(
        "Who", list(names), index=None, format_func=names.get, placeholder="Anyone", key="audit_actor"
    )
    participant = second.text_input(
        "Participant id", key="audit_participant", placeholder="Any graduate", help="From the participant's page."
    )
    action = third.selectbox(
        "Action",
        ACTIONS,
        index=None,
        placeholder="Any action",
        accept_new_options=True,
        key="audit_action",
        help="Choose one, or type another action's name.",
    )
    fourth, fifth, _ = st.columns(3)
    since = fourth.date_input("From", value=None, key="audit_since", help=f"Days in {zone_name}")
    until = fifth.date_input("To (inclusive)", value=None, key="audit_until", help=f"Days in {zone_name}")

    participant = participant.strip()
    if participant:
        try:
            participant = str(uuid.UUID(participant))
        except ValueError:
            st.error("A participant id looks like 3f2b8c1e-…: copy it from the participant's page.")
            return
    if since and until and until < since:
        st.error("“To” is before “From”.")
        return
    filters = {
        "actor_id": actor,
        "participant_id": participant or None,
        "action": action.strip() if action else None,
        "since": start_of(since, zone),
        "until": start_of(until + dt.timedelta(days=1), zone) if until else None,
    }

    # Any rerun reads the newest page again, except "Load more", which adds the next page to
    # those already loaded (for the same filters).
    loaded = st.session_state.get("audit_loaded")
    if st.session_state.pop("audit_more_clicked", False) and loaded and loaded["filters"] == filters:
        page = api.get("/v1/staff/audit", **filters, limit=PAGE_SIZE, cursor=loaded["cursor"])
        loaded = {"filters": filters, "items": loaded["items"] + page["items"], "cursor": page.get("next_cursor")}
    else:
        page = api.get("/v1/staff/audit", **filters, limit=PAGE_SIZE)
        loaded = {"filters": filters, "items": page["items"], "cursor": page.get("next_cursor")}
    st.session_state.audit_loaded = loaded

    frame = entries_frame(loaded["items"], names, zone)
    more = loaded["cursor"] is not None
    st.caption(f"{len(frame)} entries{' so far: more are older' if more else ''}, newest first. Times in {zone_name}.")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        key="audit_table",
        column_config={
            "at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
            "actor": "Who",
            "action": "Action",
            "participant_id": "Participant",
            "method": "Method",
            "path": "Path",
            "client_ip": "From IP",
            "details": "Details",
        },
    )
    left, right = st.columns(2)
    left.button(
        "Load more",
        key="audit_more",
        disabled=not more,
        icon=":material/expand_more:",
        on_click=load_more,
        help=f"The next {PAGE_SIZE} older entries",
    )
    download_csv(frame, "audit-log.csv", key="audit_csv", where=right)


def load_more() -> None:
    st.session_state.audit_more_clicked = True


run_page(render)
