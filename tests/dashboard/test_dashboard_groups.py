"""The dashboard's Groups page: create, refuse, edit, archive and reopen, the roster of a
session and cancelling one. Streamlit's AppTest against the real API on a free port; what the
page did is checked through the API. Where a group meets, its schedule, the tabs and the
listing's layout: tests/dashboard/test_dashboard_group_details.py."""

from __future__ import annotations

import pytest

from tests import helpers
from tests.clock import FEW
from tests.dashboard.apptest import as_read, texts
from tests.dashboard.groups_page import groups_page, listing, pick, schedule_rows


async def test_staff_create_a_group_through_the_form(dashboard, client, conn, hasher):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    counselor, at = await groups_page(dashboard, client, conn, hasher)
    at.text_input(key="new_name").input("Thursday Newcomers")
    at.text_area(key="new_description").input("For the first months after IOP.")
    at.multiselect(key="new_topics").set_value(["newcomers", "family"])
    at.selectbox(key="new_format").set_value("online")
    at.selectbox(key="new_timezone").set_value("America/New_York")
    at.number_input(key="new_capacity").set_value(12)
    at.text_input(key="new_url").input("https://meet.example.org/newcomers")
    at.multiselect(key="new_facilitators").set_value([facilitator.id])
    schedule_rows(at, "new_schedule", {"weekday": "thursday", "start": "18:30", "end": "19:45"})
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception
    assert "Created Thursday Newcomers." in texts(at)

    row = await conn.fetchrow("select * from groups where name = 'Thursday Newcomers'")
    assert row is not None
    group = (await client.get(f"/v1/groups/{row['id']}", headers=counselor.headers)).json()
    assert group["format"] == "online" and group["timezone"] == "America/New_York"
    assert group["capacity"] == 12 and sorted(group["topics"]) == ["family", "newcomers"]
    assert group["schedule"] == [{"weekday": "thursday", "start": "18:30", "end": "19:45"}]
    assert group["conference_url"] == "https://meet.example.org/newcomers"
    assert [f["id"] for f in group["facilitators"]] == [facilitator.id]
    # The listing shows it, and the group picked below is the new one.
    assert "Thursday Newcomers" in list(listing(at)["name"])
    assert at.selectbox(key="group_pick").value == str(row["id"])
    assert at.text_input(key=f"edit_{row['id']}_name").value == "Thursday Newcomers"  # at its Details


async def test_a_session_that_ends_before_it_starts_is_refused_with_a_message(dashboard, client, conn, hasher):
    _, at = await groups_page(dashboard, client, conn, hasher)
    at.text_input(key="new_name").input("Backwards Group")
    at.text_input(key="new_address").input("1 Elm St")
    schedule_rows(at, "new_schedule", {"weekday": "monday", "start": "20:00", "end": "19:00"})
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception
    message = " ".join(e.value for e in at.error)
    assert "must end after it starts" in message
    assert await conn.fetchval("select count(*) from groups where name = 'Backwards Group'") == 0


async def test_an_empty_name_is_refused_with_a_message(dashboard, client, conn, hasher):
    _, at = await groups_page(dashboard, client, conn, hasher)
    at.text_input(key="new_address").input("1 Elm St")
    schedule_rows(at, "new_schedule", {"weekday": "monday", "start": "18:00", "end": "19:00"})
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception
    # Named as the form labels it, in the API's words.
    assert any(as_read(e.value).startswith("Name: ") for e in at.error), [e.value for e in at.error]


async def test_editing_the_capacity_sends_only_the_capacity(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Capacity Circle", capacity=5)
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Details")
    assert at.text_input(key=f"edit_{group['id']}_name").value == "Capacity Circle"  # prefilled
    at.number_input(key=f"edit_{group['id']}_capacity").set_value(9)
    at.button(key=f"edit_{group['id']}_submit").click().run()
    assert not at.exception, at.exception
    assert "Saved Capacity Circle: capacity." in texts(at)
    after = (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).json()
    assert after["capacity"] == 9
    assert after["schedule"] == group["schedule"] and after["latitude"] == group["latitude"]


async def test_archiving_asks_for_confirmation_first(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Closing Circle")
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Details")
    at.button(key=f"archive_{group['id']}_submit").click().run()
    assert "Tick the box to confirm" in texts(at)
    assert (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).json()["archived"] is False

    at.checkbox(key=f"archive_{group['id']}_confirm").check()
    at.button(key=f"archive_{group['id']}_submit").click().run()
    assert not at.exception, at.exception
    assert "Archived Closing Circle." in texts(at)
    assert (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).json()["archived"] is True
    assert "Closing Circle" not in list(listing(at)["name"])

    # Archived by mistake: shown again with the switch at the top, and reopened at its Details.
    at.toggle(key="groups_show_archived").set_value(True).run()
    shown = listing(at)
    assert shown.loc[shown["name"] == "Closing Circle", "archived"].tolist() == [True]
    pick(at, group["id"], "Details")
    assert f"archive_{group['id']}_submit" not in [b.key for b in at.button]  # archived: nothing to archive
    at.button(key=f"unarchive_{group['id']}").click().run()
    assert not at.exception, at.exception
    assert "Closing Circle is back in the listing." in texts(at)
    assert (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).json()["archived"] is False
    at.toggle(key="groups_show_archived").set_value(False).run()
    assert "Closing Circle" in list(listing(at)["name"])


@pytest.mark.clock_instants(*FEW)
async def test_the_roster_shows_a_members_rsvp(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Roster Circle")
    sam = await helpers.graduate(client, staff, alias="Sam")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=sam.headers)).status_code == 201
    session = await next_session(client, staff, group["id"])
    response = await client.put(f"/v1/sessions/{session['id']}/rsvp", json={"status": "going"}, headers=sam.headers)
    assert response.status_code == 200, response.text

    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Members")
    assert list(at.dataframe[-1].value["alias"]) == ["Sam"]
    pick(at, group["id"], "Sessions")
    assert at.selectbox(key=f"session_{group['id']}").value == session["id"]  # the next one first
    roster = at.data_editor(key=f"roster_{session['id']}").value
    assert roster[["alias", "rsvp"]].to_dict("records") == [{"alias": "Sam", "rsvp": "Going"}]
    assert "Going 1" in texts(at)
    assert any(b.label == "Download attendance CSV" for b in at.get("download_button"))


@pytest.mark.clock_instants(*FEW)
async def test_staff_mark_attendance_on_the_roster(dashboard, client, conn, hasher, staff):
    zone, slot = helpers.slot_starting_in(10)  # attendance opens 30 minutes before the start
    group = await helpers.create_group(client, staff, name="Present Circle", timezone=zone, schedule=[slot])
    sam = await helpers.graduate(client, staff, alias="Sam")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=sam.headers)).status_code == 201
    session = await next_session(client, staff, group["id"])

    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Sessions")
    key = f"roster_{session['id']}"
    at.session_state[key] = {"edited_rows": {0: {"attendance": "present"}}, "added_rows": [], "deleted_rows": []}
    at.button(key=f"attendance_{session['id']}_submit").click().run()
    assert not at.exception, at.exception
    assert "Attendance saved: 1 mark." in texts(at)
    assert "Present 1" in texts(at)
    roster = await client.get(f"/v1/sessions/{session['id']}/roster", headers=staff.headers)
    assert [(m["alias"], m["attendance"], m["attendance_source"]) for m in roster.json()["members"]] == [
        ("Sam", "present", "facilitator")
    ]


@pytest.mark.clock_instants(*FEW)
async def test_staff_cancel_a_session_with_a_reason(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Cancel Circle")
    session = await next_session(client, staff, group["id"])
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Sessions")
    at.text_input(key="cancel_reason").input("The room is flooded")
    at.button(key="cancel_submit").click().run()
    assert not at.exception, at.exception
    assert "Members have been told" in texts(at)
    assert "Cancelled: The room is flooded" in texts(at)

    listed = await client.get(f"/v1/groups/{group['id']}/sessions", headers=staff.headers)
    [after] = [s for s in listed.json()["items"] if s["id"] == session["id"]]
    assert after["status"] == "cancelled" and after["note"] == "The room is flooded"


@pytest.mark.clock_instants(*FEW)
async def test_cancelling_without_a_reason_is_refused_with_a_message(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Reasonless Circle")
    session = await next_session(client, staff, group["id"])
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Sessions")
    at.button(key="cancel_submit").click().run()
    assert not at.exception, at.exception
    assert any("reason" in e.value for e in at.error), [e.value for e in at.error]
    listed = await client.get(f"/v1/groups/{group['id']}/sessions", headers=staff.headers)
    assert {s["status"] for s in listed.json()["items"] if s["id"] == session["id"]} == {"scheduled"}


async def next_session(client, staff, group_id: str) -> dict:
    response = await client.get(f"/v1/groups/{group_id}/sessions", headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"][0]
