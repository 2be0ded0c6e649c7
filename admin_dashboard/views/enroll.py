"""Enroll a graduate at IOP completion. The API answers with a one-time activation code:
it is shown once, large, with what to tell the graduate, and then forgotten (only its hash
is stored by the API, so nobody can see it again; a lost code is reissued from the
participant page)."""

import datetime as dt

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import refused, run_page, team
from admin_dashboard.typed import plain
from admin_dashboard.zones import accepted, reader_zone, today_in, zone_named

DEFAULT_ZONE = "America/Chicago"
# Kept here between the successful submit and the next run that shows it; that run takes
# it out, so any later rerun, page visit or submit no longer has it.
CODE_KEY = "enroll_new_code"
TELL_THEM = "Open the Aftercare app and enter this code. It works once, within 7 days."
NO_COUNSELOR = ""
FIELDS = [
    "enroll_alias",
    "enroll_timezone",
    "enroll_iop_date",
    "enroll_sobriety_date",
    "enroll_email",
    "enroll_phone",
    "enroll_counselor",
]


def local_today(api) -> dt.date:
    """Today where the staff member is (at 9 pm in Chicago, UTC is already tomorrow)."""
    return today_in(reader_zone(api))


def zones(api) -> list[str]:
    """The zones the API accepts (GET /v1/timezones: places it and its database both know)."""
    return accepted(api)


def default_zone(mine: str | None, choices: list[str]) -> str | None:
    """The staff member's own zone, unless it is the account default (UTC) or not offered."""
    if mine and mine != "UTC" and mine in choices:
        return mine
    return DEFAULT_ZONE if DEFAULT_ZONE in choices else None


def expiry_text(expires_at: str, zone: str) -> str:
    when = dt.datetime.fromisoformat(expires_at).astimezone(zone_named(zone) or dt.UTC)
    return when.strftime("%A %B %-d, %Y at %-I:%M %p ") + (when.tzname() or zone)


def show_code(enrolled: dict, zone: str) -> None:
    with st.container(border=True):
        st.success(
            f"{plain(enrolled['alias'])} is enrolled. Give them this activation code now: it is shown only once."
        )
        st.markdown(f"# `{enrolled['activation_code']}`")
        st.markdown(f"**Tell them:** “{TELL_THEM}”")
        st.caption(
            f"Expires {expiry_text(enrolled['activation_expires_at'], zone)}. "
            "Lost or expired? Issue a new one from their participant page."
        )


def render(api) -> None:
    st.title("Enroll a graduate")
    fresh = st.session_state.pop(CODE_KEY, None)
    if fresh:
        show_code(fresh, fresh["timezone"])
        # No form while the code is on screen: a second click cannot enrol the same person
        # again, and the form comes back empty (its widgets were not drawn in between).
        st.button("Enroll another graduate", key="enroll_another", type="primary")
        return

    counselors = team(api)
    counselor_ids = [NO_COUNSELOR, *counselors]
    me = api.me["id"]
    choices = zones(api)
    default = default_zone(api.me.get("timezone"), choices)
    with st.form("enroll"):
        left, right = st.columns(2)
        alias = left.text_input(
            "Alias", max_chars=50, key="enroll_alias", help="First name or nickname: no last name needed."
        )
        zone = right.selectbox(
            "Time zone",
            choices,
            index=choices.index(default) if default else None,
            placeholder="Choose a time zone",
            key="enroll_timezone",
            help="Where they live: check-ins and reminders follow their local time.",
        )
        completed = left.date_input(
            "IOP completed on", value=local_today(api), format="YYYY-MM-DD", key="enroll_iop_date"
        )
        sober = right.date_input(
            "Sobriety date (optional)", value=None, format="YYYY-MM-DD", key="enroll_sobriety_date"
        )
        email = left.text_input("Email (optional)", key="enroll_email")
        phone = right.text_input("Phone (optional)", key="enroll_phone")
        counselor = st.selectbox(
            "Primary counselor",
            counselor_ids,
            index=counselor_ids.index(me) if me in counselors else 0,
            format_func=lambda c: counselors.get(c, "No counselor yet"),
            key="enroll_counselor",
        )
        submitted = st.form_submit_button("Enroll and get the activation code", type="primary")
    if not submitted:
        return
    if not zone:
        st.error("Choose the time zone where they live.")
        return
    body = {
        "alias": alias.strip(),
        "timezone": zone,
        "iop_completed_on": completed.isoformat() if completed else None,
        "email": email.strip() or None,
        "phone": phone.strip() or None,
        "counselor_id": counselor or None,
        "sobriety_date": sober.isoformat() if sober else None,
    }
    try:
        enrolled = api.post("/v1/staff/participants", {k: v for k, v in body.items() if v is not None})
    except ApiError as exc:
        refused(exc)
        return
    st.session_state[CODE_KEY] = enrolled
    for key in FIELDS:  # an empty form for the next graduate (a refusal keeps what was typed)
        st.session_state.pop(key, None)
    st.rerun()


run_page(render)
