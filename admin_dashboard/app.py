"""The staff dashboard: `streamlit run admin_dashboard/app.py` (or `aftercare dashboard`).

Sign-in first; then the pages a role may use (st.navigation). Every number and name comes
from the Aftercare API (admin_dashboard/client.py); this app never opens the database."""

from __future__ import annotations

import streamlit as st

from admin_dashboard.banner import system_banner
from admin_dashboard.client import ApiError, ApiUnavailable, SessionExpired
from admin_dashboard.state import api_down, client, idle_watch, refused, sign_out, signed_in, timed_out
from admin_dashboard.typed import plain
from admin_dashboard.zones import own_zone_note

# No page_icon: Streamlit's own favicon is served by the dashboard itself, not fetched from
# a font host by every staff browser.
st.set_page_config(page_title="Aftercare staff", layout="wide")

STAFF_PAGES = [
    st.Page("views/watchlist.py", title="Watchlist", icon=":material/priority_high:", default=True),
    st.Page("views/overview.py", title="Overview", icon=":material/monitoring:"),
    st.Page("views/participants.py", title="Participants", icon=":material/group:"),
    st.Page("views/enroll.py", title="Enroll a graduate", icon=":material/person_add:"),
    st.Page("views/groups.py", title="Groups", icon=":material/diversity_3:"),
    st.Page("views/messages.py", title="Messages", icon=":material/send:"),
    st.Page("views/password.py", title="My password", icon=":material/key:"),
]
ADMIN_PAGES = [
    st.Page("views/accounts.py", title="Accounts", icon=":material/badge:"),
    st.Page("views/audit.py", title="Audit log", icon=":material/policy:"),
]


def sign_in() -> None:
    st.title("Aftercare staff dashboard")
    if message := st.session_state.pop("signin_message", None):
        st.info(message)
    with st.form("sign_in"):
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    with st.expander("First time here? Use your set-up code"):
        with st.form("set_up"):
            st.caption(
                "Your admin gave you a one-time code. Choose your own password: at least 12 characters, "
                "hard to guess, not containing your email or name."
            )
            code = st.text_input("Set-up code", key="setup_code", placeholder="K7QM-3XHP-W9")
            chosen = st.text_input("Choose a password", type="password", key="setup_password")
            again = st.text_input("The password again", type="password", key="setup_again")
            setting_up = st.form_submit_button("Set my password and sign in", key="setup_submit")
    if setting_up and chosen != again:
        st.error("The two passwords are not the same.")
        return
    if not (submitted or setting_up):
        return
    api = client()
    try:
        me = api.set_up(code.strip(), chosen) if setting_up else api.login(email.strip(), password)
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
    if not {"staff", "admin"} & set(me["roles"]):
        api.logout()
        st.error("This dashboard is for staff. Facilitators use the mobile app.")
        return
    st.rerun()


# Before anything is shown: a click after the idle time-out gets the sign-in page, not what
# it asked for; any other click counts as activity.
timed_out()
if not signed_in():
    # Every page's address is known (and none is shown), so a bookmarked or shared page
    # opens where it points once its reader has signed in, instead of "page not found".
    st.navigation(STAFF_PAGES + ADMIN_PAGES, position="hidden")
    sign_in()
else:
    api = client()
    pages = {"Care": STAFF_PAGES}
    if "admin" in api.roles:
        pages["Admin"] = ADMIN_PAGES
    navigation = st.navigation(pages)
    with st.sidebar:
        st.caption(f"Signed in as **{plain(api.me['alias'])}** ({', '.join(sorted(api.roles))})")
        own_zone_note(api)
        idle_watch()
        if st.button("Sign out", icon=":material/logout:"):
            api.logout()
            sign_out("You have signed out.")
            st.rerun()
    system_banner(api)  # above every page: is the watch keeping up?
    navigation.run()
