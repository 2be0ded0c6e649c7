"""The red banner above every page: whether the watch is keeping up (GET
/v1/staff/system-status), in words a counselor can act on at 9 pm on a Friday. A background
job that is late, or graduates and groups a job leaves out because their time zone is not
recognized. Admins also see who is left out, and can open their page to fix it. Nothing when
all is well, and nothing when the status cannot be read (the page says so if the API is down)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError, ApiUnavailable, EnrolmentRequired, SessionExpired
from admin_dashboard.state import plural, recent, sign_out, to_two_factor
from admin_dashboard.zones import clock, reader_zone, time_column, zone_named

STATUS_SECONDS = 30
# A late job, in the order a counselor cares: (not since a time, never).
LATE = {
    "sweep": ("Missed check-ins have not been checked since", "Missed check-ins have never been checked"),
    "reminders": (
        "Check-in and session reminders have not been sent since",
        "Check-in and session reminders have never been sent",
    ),
    "dispatch": ("Push notifications have not been sent since", "Push notifications have never been sent"),
    "purge": (
        "Clearing deleted accounts' records after 30 days has not run since",
        "Clearing deleted accounts' records after 30 days has never run",
    ),
}
LEFT_OUT_OF = {"sweep": "missed check-ins", "reminders": "reminders", "dispatch": "push notifications"}
KINDS = {"participant": "Graduate", "group": "Group"}


def system_status(api) -> dict:
    """The status, kept half a minute; {} when this API has no such page."""

    def fetch() -> dict:
        try:
            return api.get("/v1/staff/system-status")
        except ApiError:
            return {}

    return recent("system_status", fetch, ttl_s=STATUS_SECONDS)


def since(moment: str, zone: str, now: dt.datetime) -> str:
    """ "2:10 PM" today, "Nov 27, 2:10 PM" another day (and the year if not this one), where
    the reader is."""
    local = dt.datetime.fromisoformat(moment).astimezone(zone_named(zone) or dt.UTC)
    today = now.astimezone(local.tzinfo).date()
    if local.date() == today:
        text = clock(local)
    elif local.year == today.year:
        text = f"{local:%b} {local.day}, {clock(local)}"
    else:
        text = f"{local:%b} {local.day}, {local.year}, {clock(local)}"
    return text + (" UTC" if zone == "UTC" else "")


def late_sentences(jobs: list[dict], zone: str, now: dt.datetime) -> list[str]:
    late = {job["name"]: job for job in jobs if job.get("late")}
    sentences = []
    for name, (not_since, never) in LATE.items():
        if name not in late:
            continue
        last = late[name].get("last_success_at")
        if last:
            sentences.append(f"{not_since} {since(last, zone, now)}.")
        else:
            sentences.append(f"{never}: the background worker is not running.")
    return sentences


def left_out(jobs: list[dict]) -> pd.DataFrame:
    """Who and what the jobs leave out, once each (the same graduate is skipped by several)."""
    rows: dict[str, dict] = {}
    for job in sorted(jobs, key=lambda j: list(LEFT_OUT_OF).index(j["name"]) if j["name"] in LEFT_OUT_OF else 9):
        for skip in job.get("skipped") or []:
            row = rows.setdefault(
                skip["id"],
                {
                    "id": skip["id"],
                    "kind": skip["kind"],
                    "name": skip["name"],
                    "jobs": [],
                    "reasons": [],
                    "since": skip["since"],
                },
            )
            row["jobs"].append(LEFT_OUT_OF.get(job["name"], job["name"]))
            if skip["reason"] not in row["reasons"]:
                row["reasons"].append(skip["reason"])
            row["since"] = min(row["since"], skip["since"])
    frame = pd.DataFrame(rows.values(), columns=["id", "kind", "name", "jobs", "reasons", "since"])
    frame["jobs"] = frame["jobs"].map(", ".join)
    frame["reasons"] = frame["reasons"].map("; ".join)
    frame["since"] = pd.to_datetime(frame["since"], utc=True, format="ISO8601")
    return frame


def skip_sentences(frame: pd.DataFrame) -> list[str]:
    sentences = []
    people = int((frame["kind"] == "participant").sum())
    if people == 1:
        sentences.append(
            "1 graduate is not being watched: their time zone is not recognized, so missed check-ins and "
            "reminders are not worked out for them."
        )
    elif people:
        sentences.append(
            f"{people} graduates are not being watched: their time zones are not recognized, so missed check-ins "
            "and reminders are not worked out for them."
        )
    groups = int((frame["kind"] == "group").sum())
    if groups:
        its = "its time zone is" if groups == 1 else "their time zones are"
        gets = "gets" if groups == 1 else "get"
        sentences.append(f"{plural(groups, 'group')} {gets} no session reminders: {its} not recognized.")
    return sentences


def system_banner(api) -> None:
    try:
        status = system_status(api)
    except SessionExpired as exc:
        sign_out(str(exc))
        st.rerun()
    except EnrolmentRequired:  # two-factor was turned off meanwhile, and the role needs it
        to_two_factor()
    except ApiUnavailable:
        return
    jobs = status.get("jobs") or []
    zone = reader_zone(api)
    late = late_sentences(jobs, zone, dt.datetime.now(dt.UTC))
    skipped = left_out(jobs)
    skips = skip_sentences(skipped)
    if not late and not skips:
        return
    admin = "admin" in api.roles
    if not admin:
        tail = ["Tell your administrator."]
    else:
        tail = (["Check that the background worker (`aftercare worker`) is running, and its log."] if late else []) + (
            ["Fix their time zones: they are listed below."] if skips else []
        )
    st.error(" ".join(late + skips + tail), icon=":material/warning:")
    if admin and not skipped.empty:
        fix_list(skipped, zone)


def fix_list(frame: pd.DataFrame, zone: str) -> None:
    """For admins: who is left out, by name (as typed: a table cell, never Markdown), and a
    way to their page, where the time zone is fixed."""
    with st.expander(f"Left out by the background jobs ({len(frame)})", icon=":material/person_alert:"):
        st.dataframe(
            frame.assign(kind=frame["kind"].map(lambda kind: KINDS.get(kind, kind))),
            hide_index=True,
            width="stretch",
            key="banner_left_out",
            column_order=["name", "kind", "jobs", "reasons", "since"],
            column_config={
                "name": "Name",
                "kind": "What",
                "jobs": "Left out of",
                "reasons": "Why",
                "since": time_column("Since", zone),
            },
        )
        labels = {row.id: f"{row.name} ({KINDS.get(row.kind, row.kind).lower()})" for row in frame.itertuples()}
        kinds = dict(zip(frame["id"], frame["kind"], strict=True))
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        chosen = pick.selectbox("Fix the time zone of", list(labels), format_func=labels.get, key="banner_pick")
        if go.button("Open their page", key="banner_open", icon=":material/edit:"):
            if kinds[chosen] == "participant":
                st.switch_page("views/participants.py", query_params={"participant": chosen})
            st.session_state.group_pick_next = chosen  # the Groups page opens it below its list
            st.switch_page("views/groups.py")
