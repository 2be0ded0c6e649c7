"""Part of the Participants page: a graduate's calls for help to their support circle (help
now), with who they reached, who answered what, and whether 15 minutes passed with nobody
reaching out. Everything a peer wrote is shown as text, in a table."""

import pandas as pd
import streamlit as st

from admin_dashboard.state import plural
from admin_dashboard.zones import when

ANSWERS = {"reaching_out": "reaching out", "cannot_now": "can't right now"}


def help_frame(items: list[dict], zone: str) -> pd.DataFrame:
    rows = [
        {
            "when": when(item["created_at"], zone),
            "message": item["message"] or "",
            "reached": item["reached"],
            "answers": "; ".join(
                f"{a['person']['alias']}: {ANSWERS.get(a['response'], a['response'])} ({when(a['responded_at'], zone)})"
                for a in item["answers"]
            ),
            "nobody_came": "Yes, alert raised to high" if item["escalated_at"] else "",
        }
        for item in items
    ]
    return pd.DataFrame(rows, columns=["when", "message", "reached", "answers", "nobody_came"])


def calls_for_help(api, person: dict, zone: str) -> None:
    items = api.get(f"/v1/staff/participants/{person['id']}/help-requests")["items"]
    if not items:
        st.info("No calls for help to their support circle.")
        return
    st.caption(
        f"{plural(len(items), 'call')} for help, newest first (the last 50). Times are in their zone ({zone}). "
        "A second call within 24 hours, or one on a day their check-in reported use or crisis, raises a medium "
        "alert; 15 minutes with nobody reaching out raises it to high."
    )
    st.dataframe(
        help_frame(items, zone),
        hide_index=True,
        width="stretch",
        column_config={
            "when": "When",
            "message": st.column_config.TextColumn("Their message", width="large"),
            "reached": "Reached",
            "answers": st.column_config.TextColumn("Answers", width="large"),
            "nobody_came": "Nobody came in 15 min",
        },
    )
