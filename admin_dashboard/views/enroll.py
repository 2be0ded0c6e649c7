"""Enroll a graduate (to be built)."""

import streamlit as st

from admin_dashboard.state import run_page


def render(api) -> None:
    st.title("Enroll a graduate")


run_page(render)
