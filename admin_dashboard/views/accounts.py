"""Accounts (admins): staff, admin and facilitator sign-ins. List them, create one (a
one-time set-up code, shown once: the person chooses their own password with it), reset
one's password (a new set-up code; their two-factor sign-in is turned off too, for someone
who lost their phone), deactivate one (all its sessions end at once), unlock one after too
many wrong passwords."""

import datetime as dt

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import refused, run_page, table_with_csv
from admin_dashboard.typed import plain
from admin_dashboard.zones import accepted, reader_zone, when

ROLES = {"staff": "Staff (counselor)", "admin": "Admin", "facilitator": "Facilitator"}
FIELDS = ("acct_email", "acct_name", "acct_roles", "acct_timezone")


def show_setup_code(handed: dict, zone: str) -> None:
    """A set-up code, this once (the API keeps only its hash), with what to tell its owner."""
    account, code = handed["account"], handed["setup_code"]
    # Facilitators too: the password they choose there is the one the app asks for.
    where = "on this dashboard's sign-in page, under “First time here? Use your set-up code”"
    st.warning(
        f"Set-up code for {plain(account['name'])}, shown this once: write it down or hand it over now. "
        f"Tell them to choose their own password with it {where}. It works once and expires in 72 hours "
        f"({when(handed['setup_code_expires_at'], zone)}, {zone}). Give it in person or by phone, not by email.",
        icon=":material/key:",
    )
    st.code(code, language=None)


def accounts_frame(accounts: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        accounts,
        columns=[
            "id",
            "name",
            "email",
            "roles",
            "timezone",
            "is_active",
            "locked_until",
            "created_at",
            "deactivated_at",
            "mfa_enabled",
        ],
    )
    frame["roles"] = frame["roles"].map(lambda roles: ", ".join(sorted(roles)))
    for column in ("locked_until", "created_at", "deactivated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    now = pd.Timestamp(dt.datetime.now(dt.UTC))
    frame["locked"] = frame["locked_until"].map(lambda at: pd.notna(at) and at > now)
    return frame


def render(api) -> None:
    st.title("Accounts")
    if st.session_state.pop("acct_clear", False):
        for key in FIELDS:  # before the widgets exist: an empty form after a success
            st.session_state.pop(key, None)
    if done := st.session_state.pop("acct_done", None):
        st.success(done, icon=":material/check_circle:")
    zone = reader_zone(api)
    if handed := st.session_state.pop("acct_code", None):
        show_setup_code(handed, zone)

    accounts = api.get_all("/v1/staff/accounts", limit=200)
    frame = accounts_frame(accounts)
    count = len(frame)
    st.caption(
        f"{count} {'account' if count == 1 else 'accounts'}, {int(frame['is_active'].sum())} active. "
        "Graduates are not listed here."
    )
    shown = frame[
        ["name", "email", "roles", "timezone", "is_active", "locked", "mfa_enabled", "created_at", "deactivated_at"]
    ]
    table_with_csv(
        shown,
        "accounts.csv",
        {
            "name": "Name",
            "email": "Email",
            "roles": "Roles",
            "timezone": "Time zone",
            "is_active": st.column_config.CheckboxColumn("Active"),
            "locked": st.column_config.CheckboxColumn("Locked", help="Too many wrong passwords: unlock below"),
            "mfa_enabled": st.column_config.CheckboxColumn(
                "Two-factor", help="Signs in with a code from an authenticator app after the password"
            ),
            "created_at": st.column_config.DatetimeColumn("Created", format="MMM D, YYYY", timezone=zone),
            "deactivated_at": st.column_config.DatetimeColumn("Deactivated", format="MMM D, YYYY", timezone=zone),
        },
        key="acct_csv",
    )

    create, manage = st.columns(2)
    with create:
        create_account(api)
    with manage:
        manage_account(api, frame)


def create_account(api) -> None:
    st.subheader("Create an account")
    zone = api.me.get("timezone") or "UTC"
    zones = accepted(api)  # only what the API accepts: the reader's own zone if it is one
    with st.form("acct_create"):
        email = st.text_input("Email", key="acct_email")
        name = st.text_input("Name", key="acct_name", help="Shown to colleagues, and to graduates for facilitators.")
        roles = st.multiselect("Roles", list(ROLES), default=["staff"], format_func=ROLES.get, key="acct_roles")
        timezone = st.selectbox(
            "Time zone",
            zones,
            index=zones.index(zone) if zone in zones else None,
            placeholder="Choose a time zone",
            key="acct_timezone",
        )
        submitted = st.form_submit_button(
            "Create account", type="primary", icon=":material/person_add:", key="acct_submit"
        )
    if not submitted:
        return
    problems = []
    if "@" not in email:
        problems.append("Enter the person's email address.")
    if not name.strip():
        problems.append("Enter the person's name.")
    if not roles:
        problems.append("Choose at least one role.")
    if not timezone:
        problems.append("Choose a time zone.")
    if problems:
        for problem in problems:
            st.error(problem)
        return
    try:
        created = api.post(
            "/v1/staff/accounts",
            {"email": email.strip(), "name": name.strip(), "roles": roles, "timezone": timezone},
        )
    except ApiError as exc:
        refused(exc)
        return
    account = created["account"]
    st.session_state.acct_done = f"Account created for {plain(account['name'])} ({plain(account['email'])})."
    st.session_state.acct_code = created
    st.session_state.acct_clear = True
    st.rerun()


def manage_account(api, frame: pd.DataFrame) -> None:
    st.subheader("Unlock, reset or deactivate")
    labels = {
        row.id: f"{row.name} ({row.email})"
        + ("" if row.is_active else ", deactivated")
        + (", locked" if row.locked else "")
        for row in frame.itertuples()
    }
    chosen = st.selectbox(
        "Account", list(labels), index=None, format_func=labels.get, placeholder="Choose an account", key="acct_chosen"
    )
    if chosen is None:
        return
    row = frame.set_index("id").loc[chosen]
    myself = chosen == api.me["id"]
    unlock, deactivate = st.columns(2)
    try:
        if unlock.button(
            "Unlock",
            key="acct_unlock",
            icon=":material/lock_open:",
            help="Clears the wrong-password count and any lock.",
        ):
            api.post(f"/v1/staff/accounts/{chosen}/unlock")
            st.session_state.acct_done = f"{plain(row['name'])} can sign in again."
            st.rerun()
        if row["is_active"]:
            confirm = deactivate.checkbox(
                "I understand: this ends all their sessions at once", key="acct_confirm", disabled=myself
            )
            if deactivate.button(
                "Deactivate",
                key="acct_deactivate",
                icon=":material/block:",
                disabled=myself or not confirm,
                help="You cannot deactivate your own account." if myself else "Tick the box above first.",
            ):
                api.post(f"/v1/staff/accounts/{chosen}/deactivate")
                st.session_state.acct_done = f"{plain(row['name'])} is deactivated and signed out everywhere."
                st.rerun()
        else:
            st.caption("This account is deactivated.")
        if row["is_active"]:
            reset_password(api, chosen, row, myself)
    except ApiError as exc:
        refused(exc)


def reset_password(api, chosen: str, row, myself: bool) -> None:
    """For a colleague who forgot their password, may have given it away, or lost the phone
    with their authenticator app."""
    confirm = st.checkbox(
        "Reset the password: this ends all their sessions, their password stops working and their two-factor "
        "sign-in is turned off (they set it up again)",
        key="acct_reset_confirm",
        disabled=myself,
    )
    if st.button(
        "Reset password",
        key="acct_reset",
        icon=":material/key:",
        disabled=myself or not confirm,
        help="Change your own password on the My password page." if myself else "Tick the box above first.",
    ):
        handed = api.post(f"/v1/staff/accounts/{chosen}/reset")
        st.session_state.acct_done = (
            f"{plain(row['name'])} is signed out everywhere; their old password is void and their two-factor "
            "sign-in is off until they set it up again."
        )
        st.session_state.acct_code = handed
        st.rerun()


run_page(render)
