"""Audit log (admins): every staff read and write of participant data, and every admin action
on accounts, newest first, names beside ids. A read of a list is one entry naming every
graduate it showed ("12 graduates", their names and ids in the row). Filter by who, whose
data (an id, or part of anyone's name), what and when; page with "Load more"; download what
is loaded as CSV. Any other rerun shows the newest entries again. Reading this page is not
itself a read of participant data."""

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from admin_dashboard.state import plural, run_page
from admin_dashboard.typed import download_csv
from admin_dashboard.zones import reader_zone, time_column

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
COLUMNS = [
    "at",
    "actor",
    "action",
    "graduates",
    "names",
    "participant_ids",
    "method",
    "path",
    "client_ip",
    "details",
    "actor_id",
]
DELETED = "(deleted)"  # a name the log no longer has: the account is gone, its id stays


def start_of(day: dt.date | None, zone: ZoneInfo) -> str | None:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).isoformat() if day else None


def who_acted(entry: dict, accounts: dict[str, str]) -> str:
    """A staff account as "Name (email)"; a graduate who acted (deleting their own account)
    by their alias; a deleted account as such."""
    return accounts.get(entry["actor_id"]) or entry.get("actor_name") or f"{DELETED} account"


def graduates(entry: dict) -> str:
    """Whom the entry is about, in a word: their alias, or how many a list showed."""
    about = entry.get("participants") or []
    if len(about) == 1:
        return about[0]["alias"] or f"{DELETED} graduate"
    return plural(len(about), "graduate") if about else ""


def entries_frame(entries: list[dict], accounts: dict[str, str], zone: ZoneInfo) -> pd.DataFrame:
    rows = [
        {
            "at": e["at"],
            "actor": who_acted(e, accounts),
            "action": e["action"],
            "graduates": graduates(e),
            "names": ", ".join(p["alias"] or DELETED for p in e.get("participants") or []),
            "participant_ids": ", ".join(p["id"] for p in e.get("participants") or []),
            "method": e["method"],
            "path": e["path"],
            "client_ip": e["client_ip"] or "",
            "details": json.dumps(e["details"], sort_keys=True) if e["details"] else "",
            "actor_id": e["actor_id"],
        }
        for e in entries
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.tz_convert(zone)
    return frame


def render(api) -> None:
    st.title("Audit log")
    zone_name = reader_zone(api)
    zone = ZoneInfo(zone_name)
    accounts = api.get_all("/v1/staff/accounts", limit=200)
    names = {a["id"]: f"{a['name']} ({a['email']})" for a in accounts}

    first, second, third, fourth = st.columns(4)
    actor = first.selectbox(
        "Who", list(names), index=None, format_func=names.get, placeholder="Anyone", key="audit_actor"
    )
    participant = second.text_input(
        "Participant id", key="audit_participant", placeholder="Any graduate", help="From the participant's page."
    )
    person = third.text_input(
        "Name",
        key="audit_person",
        max_chars=100,
        placeholder="Anyone's name",
        help="Part of a name, any case: who acted, or a graduate the entry is about.",
    )
    action = fourth.selectbox(
        "Action",
        ACTIONS,
        index=None,
        placeholder="Any action",
        accept_new_options=True,
        key="audit_action",
        help="Choose one, or type another action's name.",
    )
    fifth, sixth, _ = st.columns([1, 1, 2])
    since = fifth.date_input("From", value=None, key="audit_since", help=f"Days in {zone_name}")
    until = sixth.date_input("To (inclusive)", value=None, key="audit_until", help=f"Days in {zone_name}")

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
        "person": person.strip() or None,
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
            # The dashboard's clock, with the year and the seconds an audit trail is read by.
            "at": time_column("When", zone_name, format="MMM D, YYYY, h:mm:ss A"),
            "actor": st.column_config.TextColumn("Who", width="large"),
            "action": "Action",
            "graduates": st.column_config.TextColumn("About", width="medium"),
            "names": st.column_config.TextColumn("Graduates' names", width="large"),
            "participant_ids": st.column_config.TextColumn("Graduates' ids", width="large"),
            "method": "Method",
            "path": "Path",
            "client_ip": "From IP",
            "details": "Details",
            "actor_id": "Who (id)",
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
