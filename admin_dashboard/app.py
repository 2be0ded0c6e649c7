"""The staff dashboard: `streamlit run admin_dashboard/app.py` (or `aftercare dashboard`).

Sign-in first (admin_dashboard/sign_in.py); then the pages a role may use (st.navigation),
or only the two-factor set-up while the role must use it and it is not on. Every number and
name comes from the Aftercare API (admin_dashboard/client.py); this app never opens the database."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from admin_dashboard.banner import system_banner
from admin_dashboard.sign_in import sign_in
from admin_dashboard.state import MUST_ENROL, client, idle_watch, sign_out, signed_in, timed_out
from admin_dashboard.typed import plain
from admin_dashboard.zones import own_zone_note

# Our own favicon, served by the dashboard: without one, Streamlit makes the default page's
# Material icon the favicon and every staff browser fetches it from a font host (a clinic
# network that blocks outside hosts would see requests fail on every page).
FAVICON = Path(__file__).resolve().parent / "favicon.png"
st.set_page_config(page_title="Aftercare staff", page_icon=str(FAVICON), layout="wide")
# Tables' own CSV export off (`aftercare dashboard` passes it on the command line too, which
# also covers the first page a bare `streamlit run` draws): our download beside each table
# neutralises cells a spreadsheet would run as formulas; Streamlit's would not.
st.set_option("client.disableDataExport", True)

MY_PASSWORD = st.Page("views/password.py", title="My password", icon=":material/key:")
TWO_FACTOR = st.Page("views/two_factor.py", title="Two-factor sign-in", icon=":material/phonelink_lock:")
STAFF_PAGES = [
    st.Page("views/watchlist.py", title="Watchlist", icon=":material/priority_high:", default=True),
    st.Page("views/moderation.py", title="Moderation", icon=":material/shield:"),
    st.Page("views/overview.py", title="Overview", icon=":material/monitoring:"),
    st.Page("views/participants.py", title="Participants", icon=":material/group:"),
    st.Page("views/enroll.py", title="Enroll a graduate", icon=":material/person_add:"),
    st.Page("views/groups.py", title="Groups", icon=":material/diversity_3:"),
    st.Page("views/messages.py", title="Messages", icon=":material/send:"),
    MY_PASSWORD,
    TWO_FACTOR,
]
ADMIN_PAGES = [
    st.Page("views/accounts.py", title="Accounts", icon=":material/badge:"),
    st.Page("views/audit.py", title="Audit log", icon=":material/policy:"),
]
# What a session may use before its required two-factor sign-in is set up (the API's rule).
DURING_ENROLMENT = [TWO_FACTOR, MY_PASSWORD]


def account_menu(api) -> None:
    """The sidebar's foot on every page: who is signed in, the idle watch, signing out."""
    roles = ", ".join(sorted(api.roles))
    alias = api.me.get("alias")
    st.caption(f"Signed in as **{plain(alias)}** ({roles})" if alias else f"Signed in ({roles})")
    own_zone_note(api)
    idle_watch()
    if st.button("Sign out", icon=":material/logout:"):
        api.logout()
        sign_out("You have signed out.")
        st.rerun()


def enrolment_only(api) -> None:
    """Every page stays known, so that any address (a bookmark, a page open when two-factor
    was turned off) opens the set-up instead of "page not found"; the sidebar offers only
    what the API lets such a session use."""
    page = st.navigation(STAFF_PAGES + ADMIN_PAGES, position="hidden")
    if page.url_path not in {allowed.url_path for allowed in DURING_ENROLMENT}:
        st.switch_page(TWO_FACTOR)
    with st.sidebar:
        st.warning(MUST_ENROL, icon=":material/phonelink_lock:")
        for allowed in DURING_ENROLMENT:
            st.page_link(allowed)
        account_menu(api)
    page.run()


def everything(api) -> None:
    pages = {"Care": STAFF_PAGES}
    if "admin" in api.roles:
        pages["Admin"] = ADMIN_PAGES
    navigation = st.navigation(pages)
    with st.sidebar:
        account_menu(api)
    system_banner(api)  # above every page: is the watch keeping up?
    navigation.run()


# Before anything is shown: a click after the idle time-out gets the sign-in page, not what
# it asked for; any other click counts as activity.
timed_out()
if not signed_in():
    # Every page's address is known (and none is shown), so a bookmarked or shared page
    # opens where it points once its reader has signed in, instead of "page not found".
    st.navigation(STAFF_PAGES + ADMIN_PAGES, position="hidden")
    sign_in()
elif client().must_enrol_mfa:
    enrolment_only(client())
else:
    everything(client())
