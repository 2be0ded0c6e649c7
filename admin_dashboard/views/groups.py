"""Groups: whether archived groups are shown, the listing (with a CSV), a form to create a
group, and the group picked below it in three tabs: Details (edit, map position, archive or
reopen: admin_dashboard/group_edit.py), Members (members and waitlist: group_members.py) and
Sessions (roster with RSVPs and attendance, attendance CSV, cancel with a reason:
views/group_sessions.py).

Everything goes through the API. Only the open tab is drawn, so reading members or a roster
(which the API writes to the audit log) happens when staff actually look. A group whose
stored time zone is not recognized opens as well: its form asks for one."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.group_edit import create_group, details
from admin_dashboard.group_form import FORMATS
from admin_dashboard.group_members import members
from admin_dashboard.state import plural, recent, run_page, show_flash, table_with_csv, team
from admin_dashboard.views.group_sessions import sessions
from admin_dashboard.zones import clock

SECTIONS = ["Details", "Members", "Sessions"]
# Pixels per character and the grid's widest column: a column is sized to its longest cell,
# so a long name or address is read whole instead of cut off with an ellipsis.
CHAR_PX, PADDING_PX, WIDEST_PX = 7, 24, 1000


# --- the listing -----------------------------------------------------------------------------


def schedule_summary(group: dict) -> str:
    """ "Thu 6:30 PM–7:45 PM, Sat 10:00 AM–11:00 AM", in the group's own time zone."""
    return ", ".join(
        f"{s['weekday'][:3].title()} {twelve_hour(s['start'])}–{twelve_hour(s['end'])}" for s in group["schedule"]
    )


def twelve_hour(hhmm: str) -> str:
    """The API's "18:30" as the dashboard writes every time: "6:30 PM"."""
    return clock(dt.datetime.combine(dt.date(2000, 1, 1), dt.time.fromisoformat(hhmm)))


def where(group: dict) -> str:
    if group["address"]:
        return group["address"]
    return "Online" if group["format"] == "online" else "–"


def groups_frame(groups: list[dict], with_archived: bool) -> pd.DataFrame:
    rows = [
        {
            "name": g["name"],
            "format": FORMATS[g["format"]],
            "schedule": schedule_summary(g),
            "timezone": g["timezone"],
            "where": where(g),
            "members": f"{g['member_count']} / {g['capacity']}" if g["capacity"] else f"{g['member_count']} (no limit)",
            "seats_left": g["seats_left"],
            "public": g["public"],
            "archived": g["archived"],
        }
        for g in groups
    ]
    columns = ["name", "schedule", "where", "members", "seats_left", "format", "timezone", "public"]
    columns += ["archived"] if with_archived else []
    return pd.DataFrame(rows, columns=columns).astype({"seats_left": "Int64"})


def fit(frame: pd.DataFrame, column: str, label: str) -> int:
    """The width in pixels that shows the column's longest text and its label whole."""
    longest = max([len(label), *(len(str(v)) for v in frame[column])])
    return min(longest * CHAR_PX + PADDING_PX, WIDEST_PX)


def text_column(frame: pd.DataFrame, column: str, label: str, **more):
    return st.column_config.TextColumn(label, width=fit(frame, column, label), **more)


def listing(groups: list[dict], with_archived: bool) -> None:
    frame = groups_frame(groups, with_archived)
    active = sum(not g["archived"] for g in groups)
    if with_archived:
        st.caption(f"{plural(active, 'active group')} and {plural(len(groups) - active, 'archived group')}.")
    else:
        st.caption(f"{plural(active, 'active group')}. Archived groups leave this list; their history stays.")
    table_with_csv(
        frame,
        "groups.csv",
        {
            "name": text_column(frame, "name", "Name"),
            "schedule": text_column(frame, "schedule", "Schedule", help="In the group's own time zone"),
            "where": text_column(frame, "where", "Where"),
            "members": text_column(frame, "members", "Members / capacity"),
            "seats_left": st.column_config.NumberColumn("Seats left", help="Empty: no size limit", width=100),
            "format": text_column(frame, "format", "Format"),
            "timezone": text_column(frame, "timezone", "Time zone"),
            "public": st.column_config.CheckboxColumn("Public", width=80),
            "archived": st.column_config.CheckboxColumn("Archived", width=90),
        },
        key="groups_csv",
    )


# --- the page --------------------------------------------------------------------------------


def pick_group(groups: list[dict]) -> str | None:
    by_id = {g["id"]: g for g in groups}
    # A group just created, or opened from elsewhere (the banner), is shown at once at its
    # Details (set before the widgets exist, as Streamlit asks).
    if (wanted := st.session_state.pop("group_pick_next", None)) in by_id:
        st.session_state.group_pick = wanted
        st.session_state.group_section = SECTIONS[0]
    if st.session_state.get("group_pick") not in by_id:
        st.session_state.pop("group_pick", None)  # archived meanwhile, or archived ones hidden: start over
    return st.selectbox(
        "Group",
        list(by_id),
        format_func=lambda gid: by_id[gid]["name"] + (" (archived)" if by_id[gid]["archived"] else ""),
        key="group_pick",
        placeholder="Pick a group",
    )


def render(api) -> None:
    st.title("Groups")
    show_flash("groups")
    # First, before the list it changes. Archived groups are read only when asked for.
    with_archived = st.toggle(
        "Show archived groups", key="groups_show_archived", help="List them too, to look one up or reopen it"
    )
    # Kept a minute: a page with thousands of groups is not re-read on every click.
    groups = recent("groups:active", lambda: api.get_all("/v1/groups", limit=200), ttl_s=60)
    if with_archived:
        groups = groups + recent(
            "groups:archived", lambda: api.get_all("/v1/groups", archived="true", limit=200), ttl_s=60
        )
    facilitators = team(api, "facilitator")
    listing(groups, with_archived)
    create_group(api, facilitators)

    st.subheader("A group")
    if not groups:
        st.info("No active groups: create one above.")
        return
    gid = pick_group(groups)
    if gid is None:
        return
    group = api.get(f"/v1/groups/{gid}")  # the full record: facilitators, conference link
    # Tabs that rerun when switched draw only the open one (see the docstring).
    tabs = st.tabs(SECTIONS, key="group_section", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            details(api, group, facilitators)
    if tabs[1].open:
        with tabs[1]:
            members(api, group)
    if tabs[2].open:
        with tabs[2]:
            sessions(api, group)


run_page(render)
