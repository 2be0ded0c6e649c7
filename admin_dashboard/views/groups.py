"""Groups: the listing (with a CSV), a form to create a group, and for the group picked
below it: edit and archive, members and waitlist, and its sessions (roster with RSVPs and
attendance, attendance CSV, cancel with a reason: views/group_sessions.py).

Everything goes through the API. Only the section picked is drawn, so reading members or
a roster (which the API writes to the audit log) happens when staff actually look. A group
whose stored time zone is not recognized opens as well: its form asks for one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import (
    blank,
    flash,
    plural,
    recent,
    refused,
    run_page,
    show_flash,
    table_with_csv,
    team,
)
from admin_dashboard.typed import plain
from admin_dashboard.views.group_sessions import members, sessions
from admin_dashboard.zones import accepted, zone_picker

FORMATS = {"in_person": "In person", "online": "Online", "hybrid": "Hybrid"}
TOPICS = {
    "relapse_prevention": "Relapse prevention",
    "family": "Family",
    "dual_diagnosis": "Dual diagnosis",
    "women": "Women",
    "men": "Men",
    "lgbtq": "LGBTQ+",
    "young_adults": "Young adults",
    "seniors": "Seniors",
    "newcomers": "Newcomers",
    "meditation": "Meditation",
    "spanish_speaking": "Spanish speaking",
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SECTIONS = ["Edit", "Members", "Sessions"]
DEFAULT_TIMEZONE = "America/Chicago"


# --- small helpers --------------------------------------------------------------------------


def schedule_summary(group: dict) -> str:
    slots = ", ".join(f"{s['weekday'][:3].title()} {s['start']}–{s['end']}" for s in group["schedule"])
    return f"{slots} ({group['timezone']})"


def clock(value: Any) -> str | None:
    """HH:MM from what the schedule editor hands back (a time, or text from the browser)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            value = dt.time.fromisoformat(value)
        except ValueError:
            return value  # let the API say what is wrong with it
    if isinstance(value, pd.Timestamp | dt.datetime):
        value = value.time()
    return value.strftime("%H:%M")


# --- the listing -----------------------------------------------------------------------------


def groups_frame(groups: list[dict]) -> pd.DataFrame:
    rows = [
        {
            "name": g["name"],
            "format": FORMATS[g["format"]],
            "schedule": schedule_summary(g),
            "members": f"{g['member_count']} / {g['capacity']}" if g["capacity"] else f"{g['member_count']} (no limit)",
            "seats_left": g["seats_left"],
            "public": g["public"],
            "archived": g["archived"],
        }
        for g in groups
    ]
    columns = ["name", "format", "schedule", "members", "seats_left", "public", "archived"]
    return pd.DataFrame(rows, columns=columns).astype({"seats_left": "Int64"})


def listing(groups: list[dict]) -> None:
    frame = groups_frame(groups)
    st.caption(f"{plural(len(groups), 'active group')}. Archived groups leave this list; their history stays.")
    table_with_csv(
        frame,
        "groups.csv",
        {
            "name": "Name",
            "format": "Format",
            "schedule": "Schedule",
            "members": "Members / capacity",
            "seats_left": st.column_config.NumberColumn("Seats left", help="Empty: no size limit"),
            "public": "Public",
            "archived": "Archived",
        },
        key="groups_csv",
    )


# --- the group form (create and edit share it) ----------------------------------------------


def group_fields(prefix: str, group: dict, facilitators: dict[str, str], zones: list[str]) -> dict[str, Any]:
    """The form's widgets, prefilled from `group`, and the request body they make.

    Keys carry `prefix` (the group's id when editing), so picking another group shows that
    group's values instead of what was typed for the last one. `zones`: those the API accepts
    (a stored zone that is not one of them is not chosen for the user)."""
    name = st.text_input("Name", group.get("name", ""), max_chars=120, key=f"{prefix}_name")
    description = st.text_area("Description", group.get("description", ""), max_chars=4000, key=f"{prefix}_description")
    left, right = st.columns(2)
    topics = left.multiselect(
        "Topics", list(TOPICS), group.get("topics", []), format_func=TOPICS.get, key=f"{prefix}_topics"
    )
    format_ = right.selectbox(
        "Format",
        list(FORMATS),
        list(FORMATS).index(group.get("format", "in_person")),
        format_func=FORMATS.get,
        key=f"{prefix}_format",
    )
    timezone = zone_picker(left, "Time zone", zones, group.get("timezone"), key=f"{prefix}_timezone")
    capacity = right.number_input(
        "Capacity",
        min_value=1,
        max_value=10_000,
        value=group.get("capacity"),
        step=1,
        placeholder="No limit",
        help="Leave empty for no limit. Raising it seats people from the waitlist at once.",
        key=f"{prefix}_capacity",
    )
    address = st.text_input(
        "Address", group.get("address") or "", help="For in-person and hybrid groups", key=f"{prefix}_address"
    )
    left, right = st.columns(2)
    latitude = left.number_input(
        "Latitude", -90.0, 90.0, group.get("latitude"), format="%.5f", placeholder="optional", key=f"{prefix}_lat"
    )
    longitude = right.number_input(
        "Longitude", -180.0, 180.0, group.get("longitude"), format="%.5f", placeholder="optional", key=f"{prefix}_lon"
    )
    conference_url = left.text_input(
        "Conference link", group.get("conference_url") or "", help="For online and hybrid groups", key=f"{prefix}_url"
    )
    conference_phone = right.text_input("Conference phone", group.get("conference_phone") or "", key=f"{prefix}_phone")
    # Current facilitators stay choosable even if their account is no longer a facilitator.
    chosen = {f["id"]: f["name"] for f in group.get("facilitators") or []}
    names = facilitators | chosen
    facilitator_ids = st.multiselect(
        "Facilitators", list(names), list(chosen), format_func=names.get, key=f"{prefix}_facilitators"
    )
    public = st.checkbox(
        "Public: listed in the Meeting Guide feed and calendar, conference link included",
        group.get("public", False),
        key=f"{prefix}_public",
    )
    schedule = schedule_editor(prefix, group.get("schedule", []))
    return {
        # As typed: stripping here would make an untouched name look changed to the PATCH.
        "name": name,
        "description": description,
        "topics": topics,
        "format": format_,
        "timezone": timezone,
        "capacity": int(capacity) if capacity is not None else None,
        "address": address.strip() or None,
        "latitude": latitude,
        "longitude": longitude,
        "conference_url": conference_url.strip() or None,
        "conference_phone": conference_phone.strip() or None,
        "public": public,
        "facilitator_ids": facilitator_ids,
        "schedule": schedule,
    }


def schedule_editor(prefix: str, schedule: list[dict]) -> list[dict] | None:
    """The weekly times as an editable table; None when a row is half filled in."""
    st.markdown("**Weekly schedule** (in the group's time zone; add a row per meeting)")
    frame = pd.DataFrame(
        [
            {
                "weekday": s["weekday"],
                "start": dt.time.fromisoformat(s["start"]),
                "end": dt.time.fromisoformat(s["end"]),
            }
            for s in schedule
        ],
        columns=["weekday", "start", "end"],
    )
    edited = st.data_editor(
        frame,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key=f"{prefix}_schedule",
        column_config={
            "weekday": st.column_config.SelectboxColumn("Weekday", options=WEEKDAYS, required=True),
            "start": st.column_config.TimeColumn("Start", format="HH:mm", step=300, required=True),
            "end": st.column_config.TimeColumn("End", format="HH:mm", step=300, required=True),
        },
    )
    slots = []
    for row in edited.to_dict("records"):
        cells = [row.get("weekday"), row.get("start"), row.get("end")]
        if all(blank(c) for c in cells):
            continue  # an empty row someone added and left
        if any(blank(c) for c in cells):
            return None
        slots.append({"weekday": row["weekday"], "start": clock(row["start"]), "end": clock(row["end"])})
    return slots


def form_problem(body: dict) -> str | None:
    """What the API cannot say well about the form (it only sees what we send)."""
    if not body["timezone"]:
        return "Choose the group's time zone."
    if body["schedule"] is None:
        return "Each schedule row needs a weekday, a start and an end."
    if not body["schedule"]:
        return "Add at least one weekly meeting time to the schedule."
    return None


def create_group(api, facilitators: dict[str, str]) -> None:
    with st.expander("New group", icon=":material/add:"):
        zones = accepted(api)
        mine = api.me.get("timezone")
        with st.form("new_group", border=False):
            body = group_fields("new", {"timezone": mine if mine in zones else DEFAULT_TIMEZONE}, facilitators, zones)
            submitted = st.form_submit_button("Create group", type="primary", key="new_submit")
        if not submitted:
            return
        if problem := form_problem(body):
            st.error(problem)
            return
        try:
            created = api.post("/v1/staff/groups", body)
        except ApiError as exc:
            refused(exc)
            return
        flash(f"Created {plain(created['name'])}.", "groups")
        st.session_state.group_pick_next = created["id"]  # show the new group below
        st.rerun()


# --- one group: edit and archive -------------------------------------------------------------


def changes(before: dict, after: dict) -> dict:
    """Only the fields that differ: a PATCH changes what it names."""
    changed = {}
    for field, value in after.items():
        old = before.get(field)
        if field == "facilitator_ids":
            same = set(value) == set(old or [])
        else:
            same = value == old
        if not same:
            changed[field] = value
    return changed


def as_body(group: dict) -> dict:
    """The group as the form would send it, to compare with what the form holds now."""
    return {
        "name": group["name"],
        "description": group["description"],
        "topics": group["topics"],
        "format": group["format"],
        "timezone": group["timezone"],
        "capacity": group["capacity"],
        "address": group["address"],
        "latitude": group["latitude"],
        "longitude": group["longitude"],
        "conference_url": group["conference_url"],
        "conference_phone": group["conference_phone"],
        "public": group["public"],
        "facilitator_ids": [f["id"] for f in group.get("facilitators") or []],
        "schedule": [{"weekday": s["weekday"], "start": s["start"], "end": s["end"]} for s in group["schedule"]],
    }


def edit_group(api, group: dict, facilitators: dict[str, str]) -> None:
    gid = group["id"]
    with st.form(f"edit_{gid}"):
        body = group_fields(f"edit_{gid}", group, facilitators, accepted(api))
        submitted = st.form_submit_button("Save changes", type="primary", key=f"edit_{gid}_submit")
    if submitted:
        save_group(api, group, body)
    archive_group(api, group)


def save_group(api, group: dict, body: dict) -> None:
    if problem := form_problem(body):
        st.error(problem)
        return
    changed = changes(as_body(group), body)
    if not changed:
        st.info("Nothing changed.")
        return
    try:
        api.patch(f"/v1/staff/groups/{group['id']}", changed)
    except ApiError as exc:
        refused(exc)
        return
    flash(f"Saved {plain(group['name'])}: {', '.join(f.replace('_', ' ') for f in changed)}.", "groups")
    st.rerun()


def archive_group(api, group: dict) -> None:
    """Archiving takes it out of the listing and the public feeds: so a box to tick first."""
    gid = group["id"]
    with st.form(f"archive_{gid}"):
        st.markdown("**Archive this group**")
        st.caption("It leaves the listing and the public feeds; members, sessions and attendance stay on record.")
        sure = st.checkbox(f"Yes, archive {plain(group['name'])}", key=f"archive_{gid}_confirm")
        submitted = st.form_submit_button("Archive group", icon=":material/archive:", key=f"archive_{gid}_submit")
    if not submitted:
        return
    if not sure:
        st.warning("Tick the box to confirm, then archive.")
        return
    try:
        api.post(f"/v1/staff/groups/{gid}/archive")
    except ApiError as exc:
        refused(exc)
        return
    flash(f"Archived {plain(group['name'])}.", "groups")
    st.rerun()


# --- the page --------------------------------------------------------------------------------


def pick_group(groups: list[dict]) -> str | None:
    by_id = {g["id"]: g for g in groups}
    # A group just created is shown at once (set before the widget exists, as Streamlit asks).
    if (wanted := st.session_state.pop("group_pick_next", None)) in by_id:
        st.session_state.group_pick = wanted
    if st.session_state.get("group_pick") not in by_id:
        st.session_state.pop("group_pick", None)  # archived meanwhile: start over
    return st.selectbox(
        "Group", list(by_id), format_func=lambda gid: by_id[gid]["name"], key="group_pick", placeholder="Pick a group"
    )


def render(api) -> None:
    st.title("Groups")
    show_flash("groups")
    # Kept a minute: a page with thousands of groups is not re-read on every click.
    groups = recent("groups:active", lambda: api.get_all("/v1/groups", limit=200), ttl_s=60)
    facilitators = team(api, "facilitator")
    listing(groups)
    create_group(api, facilitators)

    st.subheader("A group")
    if not groups:
        st.info("No active groups: create one above.")
        archived_groups(api)
        return
    gid = pick_group(groups)
    if gid is None:
        archived_groups(api)
        return
    section = st.radio("Show", SECTIONS, horizontal=True, key="group_section", label_visibility="collapsed")
    group = api.get(f"/v1/groups/{gid}")  # the full record: facilitators, conference link
    if section == "Edit":
        edit_group(api, group, facilitators)
    elif section == "Members":
        members(api, group)
    else:
        sessions(api, group)
    archived_groups(api)


def archived_groups(api) -> None:
    """Archived groups stay on record; one archived by mistake can come back."""
    # Read only when asked for (an expander runs its contents even when closed).
    if st.toggle("Show archived groups", key="groups_show_archived"):
        archived = recent("groups:archived", lambda: api.get_all("/v1/groups", archived="true", limit=200), ttl_s=60)
        if not archived:
            st.caption("None.")
            return
        for group in archived:
            name, reopen = st.columns([3, 1])
            name.markdown(f"**{plain(group['name'])}** · {plural(group['member_count'], 'member')}")
            if reopen.button("Reopen", key=f"unarchive_{group['id']}"):
                try:
                    api.post(f"/v1/staff/groups/{group['id']}/unarchive")
                except ApiError as exc:
                    refused(exc)
                    return
                flash(f"{plain(group['name'])} is back in the listing.", "groups")
                st.rerun()


run_page(render)
