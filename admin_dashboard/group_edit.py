"""Part of the Groups page: creating a group, and one group's Details tab: the form to edit
it, where it meets (with a map only when asked for), archiving it, or reopening it.

The map preview is off until staff switch it on: Streamlit's map draws its base map from
tiles on an outside host (Carto), which a clinic network may block, and the dashboard
otherwise asks nothing of any host but its own. Without the tiles a lone dot says nothing,
so there is no tile-less preview: the position is written out, and the map is one switch away."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.group_form import form_problem, group_fields, refused_in_words
from admin_dashboard.state import flash, refused
from admin_dashboard.typed import plain
from admin_dashboard.zones import accepted

DEFAULT_TIMEZONE = "America/Chicago"
MAP_SWITCH = "Show on a map (loads map tiles from the internet)"


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
            refused_in_words(exc)
            return
        flash(f"Created {plain(created['name'])}.", "groups")
        st.session_state.group_pick_next = created["id"]  # show the new group below, at its Details
        st.rerun()


def details(api, group: dict, facilitators: dict[str, str]) -> None:
    gid = group["id"]
    if group["archived"]:
        reopen_group(api, group)
    with st.form(f"edit_{gid}"):
        body = group_fields(f"edit_{gid}", group, facilitators, accepted(api))
        submitted = st.form_submit_button("Save changes", type="primary", key=f"edit_{gid}_submit")
    if submitted:
        save_group(api, group, body)
    map_preview(group)
    if not group["archived"]:
        archive_group(api, group)


# --- saving -----------------------------------------------------------------------------------


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


def as_body(group: dict) -> dict[str, Any]:
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
        refused_in_words(exc)
        return
    flash(f"Saved {plain(group['name'])}: {', '.join(f.replace('_', ' ') for f in changed)}.", "groups")
    st.rerun()


# --- where it meets ---------------------------------------------------------------------------


def map_preview(group: dict) -> None:
    """The saved position, written out; on a map only when staff switch it on (see above)."""
    latitude, longitude = group["latitude"], group["longitude"]
    if latitude is None or longitude is None:
        st.caption("No map position: the group is not on the app's map. Add one under Map position in the form.")
        return
    st.caption(f"Map position: {latitude:.5f}, {longitude:.5f}")
    if st.toggle(MAP_SWITCH, key=f"map_{group['id']}", help="Off by default: opening this page contacts no other host"):
        st.map(pd.DataFrame({"lat": [latitude], "lon": [longitude]}), zoom=14, height=300)


# --- archive and reopen -----------------------------------------------------------------------


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


def reopen_group(api, group: dict) -> None:
    """An archived group stays on record; one archived by mistake can come back."""
    note, reopen = st.columns([3, 1], vertical_alignment="center")
    note.warning("Archived: not in the listing or the public feeds. Its history stays.", icon=":material/archive:")
    if not reopen.button("Reopen", key=f"unarchive_{group['id']}", icon=":material/unarchive:"):
        return
    try:
        api.post(f"/v1/staff/groups/{group['id']}/unarchive")
    except ApiError as exc:
        refused(exc)
        return
    flash(f"{plain(group['name'])} is back in the listing.", "groups")
    st.rerun()
