"""Steps on the dashboard's Groups page, shared by its tests (tests/dashboard/test_dashboard_groups.py
and tests/dashboard/test_dashboard_group_details.py)."""

from __future__ import annotations

from tests import helpers
from tests.dashboard.apptest import open_page, sign_in

PAGE = "views/groups.py"


async def groups_page(dashboard, client, conn, hasher):
    """A new counselor, signed in on the Groups page: (counselor, the page)."""
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    return counselor, open_page(sign_in(dashboard(), counselor), PAGE)


def pick(at, group_id: str, section: str):
    """Pick a group below the listing and open one of its tabs (AppTest switches tabs through
    their state, as a click in the browser does)."""
    at.selectbox(key="group_pick").set_value(group_id)
    at.session_state["group_section"] = section
    at.run()
    assert not at.exception, at.exception
    return at


def listing(at):
    """The table of groups (the first table on the page)."""
    return at.dataframe[0].value


def schedule_rows(at, key: str, *rows: dict) -> None:
    """Type rows into a schedule table (AppTest takes a data editor's edits as its state)."""
    at.session_state[key] = {"edited_rows": {}, "added_rows": list(rows), "deleted_rows": []}
