"""My password: a signed-in staff member changes their own password. Every other session of
theirs ends (whoever knew the old password is signed out); this one stays."""

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import refused, run_page

FIELDS = ("pw_current", "pw_new", "pw_again")


def render(api) -> None:
    st.title("My password")
    if st.session_state.pop("pw_clear", False):
        for key in FIELDS:  # before the widgets exist: an empty form after a success
            st.session_state.pop(key, None)
    if done := st.session_state.pop("pw_done", None):
        st.success(done, icon=":material/check_circle:")
    st.caption(
        "At least 12 characters, hard to guess, and not containing your email or name: a few unrelated "
        "words make a good one. Changing it signs you out everywhere else."
    )
    with st.form("pw_change"):
        current = st.text_input("Current password", type="password", key="pw_current", autocomplete="current-password")
        new = st.text_input("New password", type="password", key="pw_new", autocomplete="new-password")
        again = st.text_input("New password again", type="password", key="pw_again", autocomplete="new-password")
        submitted = st.form_submit_button("Change password", type="primary", icon=":material/key:", key="pw_submit")
    if not submitted:
        return
    if not current or not new:
        st.error("Enter your current password and a new one.")
        return
    if new != again:
        st.error("The two new passwords are not the same.")
        return
    try:
        api.post("/v1/me/password", {"current_password": current, "new_password": new})
    except ApiError as exc:
        refused(exc)
        return
    st.session_state.pw_done = "Your password is changed. Your other sessions are signed out."
    st.session_state.pw_clear = True
    st.rerun()


run_page(render)
