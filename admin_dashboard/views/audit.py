"""Audit log (to be built)."""

import streamlit as st

from admin_dashboard.state import run_page


def render(api) -> None:
    st.title("Audit log")


run_page(render)
