"""Part of the Groups page: one group's members and its waitlist, in line order. Graduates
join and leave from the app (the API offers staff no way to seat or remove someone), so this
is a view. Reading it is audited by the API, so it is drawn only when staff open the tab."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from admin_dashboard.zones import day_column


def members(api, group: dict) -> None:
    people = api.get(f"/v1/groups/{group['id']}/members")["items"]
    seated = [p for p in people if p["status"] == "member"]
    waiting = [p for p in people if p["status"] == "waitlisted"]  # the API lists them in line order
    capacity = group["capacity"] or "no limit"
    zone = group["timezone"]
    st.markdown(f"**Members** ({len(seated)} of {capacity})")
    if seated:
        st.dataframe(
            people_frame(seated),
            hide_index=True,
            width="stretch",
            key="members_table",
            column_config={
                "alias": st.column_config.TextColumn("Name", width="large"),
                "since": day_column("Member since", zone, help="In the group's time zone"),
            },
        )
    else:
        st.caption("Nobody has joined yet.")
    st.markdown(f"**Waitlist** ({len(waiting)})")
    if waiting:
        frame = people_frame(waiting)
        frame.insert(0, "position", range(1, len(frame) + 1))
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            key="waitlist_table",
            column_config={
                "position": st.column_config.NumberColumn("Place", width="small"),
                "alias": st.column_config.TextColumn("Name", width="large"),
                "since": day_column("Waiting since", zone, help="In the group's time zone"),
            },
        )
        st.caption("A freed seat, or a larger capacity (under Details), goes to the first in line at once.")
    else:
        st.caption("Nobody is waiting.")


def people_frame(people: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(people, columns=["alias", "since"]).assign(since=lambda f: pd.to_datetime(f["since"]))
