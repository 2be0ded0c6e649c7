"""The sign-in page: a password (or a first-time set-up code), then, for an account with
two-factor sign-in on, a code from the authenticator app or a recovery code."""

from __future__ import annotations

import streamlit as st

from admin_dashboard.client import ApiError, ApiUnavailable, SecondStepNeeded, SessionExpired
from admin_dashboard.state import api_down, client, refused
from admin_dashboard.typed import plain

# The password was right and the second step is under way: {"challenge", "minutes"}.
CHALLENGE = "signin_challenge"
CODE_NEEDED = "Enter the 6-digit code from your authenticator app, or one of your recovery codes."


def sign_in() -> None:
    st.title("Aftercare staff dashboard")
    if message := st.session_state.pop("signin_message", None):
        st.info(message)
    if CHALLENGE in st.session_state:
        second_step(st.session_state[CHALLENGE])
    else:
        first_step()


def first_step() -> None:
    with st.form("sign_in"):
        email = st.text_input("Email", autocomplete="username")
        # Named for password managers, which fill the saved password in (issue 18).
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    with st.expander("First time here? Use your set-up code"):
        with st.form("set_up"):
            st.caption(
                "Your admin gave you a one-time code. Choose your own password: at least 12 characters, "
                "hard to guess, not containing your email or name."
            )
            code = st.text_input("Set-up code", key="setup_code", placeholder="K7QM-3XHP-W9")
            chosen = st.text_input(
                "Choose a password", type="password", key="setup_password", autocomplete="new-password"
            )
            again = st.text_input("The password again", type="password", key="setup_again", autocomplete="new-password")
            setting_up = st.form_submit_button("Set my password and sign in", key="setup_submit")
    if setting_up and chosen != again:
        st.error("The two passwords are not the same.")
        return
    if not (submitted or setting_up):
        return
    api = client()
    try:
        me = api.set_up(code.strip(), chosen) if setting_up else api.login(email.strip(), password)
    except SecondStepNeeded as needed:
        st.session_state[CHALLENGE] = {"challenge": needed.challenge, "minutes": max(1, needed.expires_in // 60)}
        st.rerun()
    except ApiUnavailable as exc:
        api_down(exc)
        return
    except SessionExpired as exc:  # signed in, then refused at once (deactivated meanwhile)
        st.error(str(exc))
        return
    except ApiError as exc:
        if setting_up:
            refused(exc)  # names what is wrong with the code or the password
        else:
            st.error(plain(exc.detail) if exc.status != 400 else "Enter your email and password.")
        return
    let_in(me)


def second_step(challenge: dict) -> None:
    """A wrong code may be typed again under the same challenge; a challenge that ran out, or
    an account locked by wrong codes, goes back to the password with the API's reason."""
    st.subheader("Two-factor sign-in")
    with st.form("second_step", clear_on_submit=True):  # a code is not kept once tried
        code = st.text_input("Code from your authenticator app", key="mfa_code", placeholder="123456")
        st.caption(
            "No phone at hand? Type one of your recovery codes instead (XXXX-XXXX-XXXX-XXXX); each works once. "
            f"This step ends {challenge['minutes']} minutes after your password."
        )
        verifying = st.form_submit_button("Verify", type="primary", key="mfa_verify")
        restarting = st.form_submit_button("Start again", key="mfa_restart")
    if restarting:
        del st.session_state[CHALLENGE]
        st.rerun()
    if not verifying:
        return
    if not code.strip():
        st.error(CODE_NEEDED)
        return
    api = client()
    try:
        me = api.verify(challenge["challenge"], code.strip())
    except ApiUnavailable as exc:
        api_down(exc)
        return
    except SessionExpired as exc:  # the code was right, then the session ended at once
        del st.session_state[CHALLENGE]
        st.session_state.signin_message = str(exc)
        st.rerun()
    except ApiError as exc:
        if exc.code == "invalid_mfa_code":
            st.error(plain(exc.detail))
            return
        if exc.status == 400:
            st.error(CODE_NEEDED)
            return
        # Ran out, locked, deactivated: this challenge is over, the password comes first again.
        del st.session_state[CHALLENGE]
        st.session_state.signin_message = plain(exc.detail)
        st.rerun()
    del st.session_state[CHALLENGE]
    let_in(me)


def let_in(me: dict) -> None:
    if not {"staff", "admin"} & set(me["roles"]):
        client().logout()
        st.error("This dashboard is for staff. Facilitators use the mobile app.")
        return
    st.rerun()
