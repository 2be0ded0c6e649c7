"""Part of the Groups page: the group form that creating and editing share. The address is
where a group meets; latitude and longitude are optional (they put it on the app's map and
let people search by distance), so they sit in an expander. Weekdays are picked from a list,
times from a clock; what is sent is what the API takes (weekday names, 24-hour "HH:MM")."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import blank, refused
from admin_dashboard.zones import zone_picker

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
# The API's field names as the form labels them, for its refusals.
LABELS = {
    "name": "Name",
    "description": "Description",
    "topics": "Topics",
    "format": "Format",
    "timezone": "Time zone",
    "capacity": "Capacity",
    "address": "Address",
    "latitude": "Map position",
    "longitude": "Map position",
    "conference_url": "Conference link",
    "conference_phone": "Conference phone",
    "public": "Public",
    "facilitator_ids": "Facilitators",
    "schedule": "Weekly schedule",
}
SCHEDULE_CELL = re.compile(r"^schedule\[(\d+)\](?:\.(\w+))?$")
SCHEDULE_COLUMNS = {"weekday": "Weekday", "start": "Starts", "end": "Ends"}


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
    place = location_fields(prefix, group)
    left, right = st.columns(2)
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
        **place,
        "conference_url": conference_url.strip() or None,
        "conference_phone": conference_phone.strip() or None,
        "public": public,
        "facilitator_ids": facilitator_ids,
        "schedule": schedule,
    }


def location_fields(prefix: str, group: dict) -> dict[str, Any]:
    """The address, and the optional map position under it (ranges as the API takes them)."""
    address = st.text_input(
        "Address",
        group.get("address") or "",
        max_chars=300,
        placeholder="Street, city",
        help="Where the group meets: needed for in-person and hybrid groups",
        key=f"{prefix}_address",
    )
    placed = group.get("latitude") is not None
    with st.expander("Map position (optional)", expanded=placed, icon=":material/location_on:"):
        st.caption(
            "Puts the group on the app's map, so graduates can find groups near them. "
            "Give both or neither; leave both empty to keep the group off the map."
        )
        left, right = st.columns(2)
        latitude = left.number_input(
            "Latitude",
            -90.0,
            90.0,
            group.get("latitude"),
            format="%.5f",
            placeholder="e.g. 41.87811",
            key=f"{prefix}_lat",
        )
        longitude = right.number_input(
            "Longitude",
            -180.0,
            180.0,
            group.get("longitude"),
            format="%.5f",
            placeholder="e.g. -87.62980",
            key=f"{prefix}_lon",
        )
    return {"address": address.strip() or None, "latitude": latitude, "longitude": longitude}


def schedule_editor(prefix: str, schedule: list[dict]) -> list[dict] | None:
    """The weekly times as an editable table, a weekday picked per row; None when a row is
    half filled in."""
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
            "weekday": st.column_config.SelectboxColumn(
                "Weekday", options=WEEKDAYS, format_func=str.title, required=True, width="medium"
            ),
            "start": st.column_config.TimeColumn("Starts", format="h:mm A", step=300, required=True),
            "end": st.column_config.TimeColumn("Ends", format="h:mm A", step=300, required=True),
        },
    )
    slots = []
    for row in edited.to_dict("records"):
        cells = [row.get("weekday"), row.get("start"), row.get("end")]
        if all(blank(c) for c in cells):
            continue  # an empty row someone added and left
        if any(blank(c) for c in cells):
            return None
        slots.append({"weekday": row["weekday"], "start": hhmm(row["start"]), "end": hhmm(row["end"])})
    return slots


def hhmm(value: Any) -> str:
    """24-hour "HH:MM", as the API takes it, from what the schedule editor hands back (a
    time, or text from the browser)."""
    if isinstance(value, str):
        try:
            value = dt.time.fromisoformat(value.strip())
        except ValueError:
            return value.strip()  # let the API say what is wrong with it
    if isinstance(value, pd.Timestamp | dt.datetime):
        value = value.time()
    return value.strftime("%H:%M")


def form_problem(body: dict) -> str | None:
    """What the API cannot say well about the form (it only sees what we send)."""
    if not body["timezone"]:
        return "Choose the group's time zone."
    if body["schedule"] is None:
        return "Each schedule row needs a weekday, a start and an end."
    if not body["schedule"]:
        return "Add at least one weekly meeting time to the schedule."
    return None


def refused_in_words(exc: ApiError) -> None:
    """The API's refusal with each field named as the form labels it ("Conference link", not
    conference_url; "Weekly schedule, row 2", not schedule[1])."""
    errors = [e | {"field": label(e["field"])} if isinstance(e, dict) and e.get("field") else e for e in exc.errors]
    refused(ApiError(exc.status, exc.detail, exc.code, errors, exc.extra))


def label(field: str) -> str:
    if cell := SCHEDULE_CELL.match(field):
        row = f"Weekly schedule, row {int(cell.group(1)) + 1}"
        return f"{row} ({SCHEDULE_COLUMNS.get(cell.group(2), cell.group(2))})" if cell.group(2) else row
    return LABELS.get(field, field)
