"""The dashboard's Groups page, how it is laid out: where a group meets (an address, and a
map position only if staff give one, on a map only when asked: the map's tiles come from
another host), weekdays picked from a list and saved as the API's slots, the archived switch
before the listing, the listing's columns wide enough to read, and one tab per task that
draws only itself. Streamlit's AppTest against the real API; what was saved is read back
through the API."""

from __future__ import annotations

import json
import uuid

import pytest
from streamlit.testing.v1.element_tree import Dataframe, Widget

from tests import helpers
from tests.clock import FEW
from tests.dashboard.apptest import as_read, open_page, sign_in, texts
from tests.dashboard.groups_page import groups_page, listing, pick, schedule_rows

MAP_SWITCH = "Show on a map (loads map tiles from the internet)"


def maps(at) -> list:
    """The maps drawn on the page (st.map is a deck.gl chart, whose tiles come from outside)."""
    return at.get("deck_gl_json_chart")


def new_in_person_group(at, name: str, *, latitude: float | None = None, longitude: float | None = None):
    at.text_input(key="new_name").input(name)
    at.text_input(key="new_address").input("12 Harbor Rd, Portland, ME")
    if latitude is not None:
        at.number_input(key="new_lat").set_value(latitude)
    if longitude is not None:
        at.number_input(key="new_lon").set_value(longitude)
    schedule_rows(at, "new_schedule", {"weekday": "wednesday", "start": "18:00", "end": "19:00"})
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception


async def created(conn, client, who, name: str) -> dict:
    group_id = await conn.fetchval("select id from groups where name = $1", name)
    assert group_id is not None, f"{name} was not created"
    response = await client.get(f"/v1/groups/{group_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_group_with_an_address_and_no_map_position_is_created_with_no_map(dashboard, client, conn, hasher):
    counselor, at = await groups_page(dashboard, client, conn, hasher)
    new_in_person_group(at, "Harbor Circle")
    assert "Created Harbor Circle." in texts(at)
    group = await created(conn, client, counselor, "Harbor Circle")
    assert group["address"] == "12 Harbor Rd, Portland, ME"
    assert (group["latitude"], group["longitude"]) == (None, None)
    # At its Details: said to be off the map, with nothing to switch on and no map drawn.
    assert "No map position: the group is not on the app's map." in texts(at)
    assert MAP_SWITCH not in [t.label for t in at.toggle]
    assert maps(at) == []


async def test_a_map_position_is_saved_and_drawn_on_a_map_only_when_asked(dashboard, client, conn, hasher):
    counselor, at = await groups_page(dashboard, client, conn, hasher)
    new_in_person_group(at, "Lighthouse Circle", latitude=43.65910, longitude=-70.25680)
    group = await created(conn, client, counselor, "Lighthouse Circle")
    assert (group["latitude"], group["longitude"]) == pytest.approx((43.6591, -70.2568))
    assert "Map position: 43.65910, -70.25680" in texts(at)
    # Opening the page asks nothing of the tile host: the map waits for the switch.
    assert at.toggle(key=f"map_{group['id']}").label == MAP_SWITCH
    assert at.toggle(key=f"map_{group['id']}").value is False
    assert maps(at) == []

    at.toggle(key=f"map_{group['id']}").set_value(True).run()
    assert not at.exception, at.exception
    [drawn] = maps(at)
    view = json.loads(drawn.proto.json)["initialViewState"]
    assert (view["latitude"], view["longitude"]) == pytest.approx((43.6591, -70.2568))

    at.toggle(key=f"map_{group['id']}").set_value(False).run()
    assert maps(at) == []


async def test_a_latitude_without_a_longitude_is_refused_in_the_forms_words(dashboard, client, conn, hasher):
    _, at = await groups_page(dashboard, client, conn, hasher)
    new_in_person_group(at, "Half Placed Circle", latitude=43.6591)
    assert [as_read(e.value) for e in at.error] == ["Map position: give latitude and longitude together, or neither"]
    assert await conn.fetchval("select count(*) from groups where name = 'Half Placed Circle'") == 0


async def test_weekdays_are_picked_from_a_list_and_saved_as_the_apis_slots(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Weekday Circle")
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, group["id"], "Details")
    key = f"edit_{group['id']}_schedule"
    columns = json.loads(at.data_editor(key=key).proto.columns)
    weekday = columns["weekday"]["type_config"]
    assert weekday["type"] == "selectbox"  # a list to pick from, not a cell to type in
    assert [(o["value"], o["label"]) for o in weekday["options"]] == [(d, d.title()) for d in helpers.WEEKDAYS]
    assert columns["start"]["type_config"]["type"] == columns["end"]["type_config"]["type"] == "time"

    # The stored Tuesday becomes a Monday, and a Saturday morning is added.
    at.session_state[key] = {
        "edited_rows": {0: {"weekday": "monday"}},
        "added_rows": [{"weekday": "saturday", "start": "09:30", "end": "11:00"}],
        "deleted_rows": [],
    }
    at.button(key=f"edit_{group['id']}_submit").click().run()
    assert not at.exception, at.exception
    assert "Saved Weekday Circle: schedule." in texts(at)
    after = (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).json()
    assert after["schedule"] == [
        {"weekday": "monday", "start": "19:00", "end": "20:30"},
        {"weekday": "saturday", "start": "09:30", "end": "11:00"},
    ]
    assert "Mon 7:00 PM–8:30 PM, Sat 9:30 AM–11:00 AM" in list(listing(at)["schedule"])


async def test_overlapping_meetings_are_refused_naming_the_schedule(dashboard, client, conn, hasher):
    _, at = await groups_page(dashboard, client, conn, hasher)
    at.text_input(key="new_name").input("Overlap Circle")
    at.text_input(key="new_address").input("1 Elm St")
    schedule_rows(
        at,
        "new_schedule",
        {"weekday": "friday", "start": "18:00", "end": "19:30"},
        {"weekday": "friday", "start": "19:00", "end": "20:00"},
    )
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception
    assert [as_read(e.value) for e in at.error] == ["Weekly schedule: two friday sessions overlap"]
    assert await conn.fetchval("select count(*) from groups where name = 'Overlap Circle'") == 0


def people_tables(at) -> list:
    """The tables of people with the day they joined or started waiting (members, waitlist)."""
    return [d.value for d in at.dataframe if list(d.value.columns)[-2:] == ["alias", "since"]]


async def test_the_archived_switch_comes_first_before_the_listing(dashboard, client, conn, hasher, staff):
    await helpers.create_group(client, staff, name="Switch Circle")
    _, at = await groups_page(dashboard, client, conn, hasher)
    nodes = list(at.main)
    widgets = [n for n in nodes if isinstance(n, Widget)]
    tables = [i for i, n in enumerate(nodes) if isinstance(n, Dataframe)]
    assert widgets[0].key == "groups_show_archived" and widgets[0].label == "Show archived groups"
    assert nodes.index(widgets[0]) < tables[0]
    assert "archived" not in listing(at).columns  # nothing archived to mark while they are hidden


async def test_the_listing_shows_long_names_and_addresses_whole(dashboard, client, conn, hasher, staff):
    name = "Thursday Evening Relapse Prevention and Family Support Circle for the First Year"
    address = "Room 214, Second Floor, Riverside Community Health Center, 1450 West Lake Street, Minneapolis"
    await helpers.create_group(client, staff, name=name, address=address)
    _, at = await groups_page(dashboard, client, conn, hasher)
    shown = listing(at)
    assert list(shown["name"]) == [name] and list(shown["where"]) == [address]  # the full text
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["_index"]["hidden"] is True
    # Each text column is at least as wide as its longest text (about 7 pixels a character).
    for column, text in (("name", name), ("where", address)):
        assert columns[column]["width"] >= 7 * len(text), (column, columns[column])
    assert list(shown.columns[:3]) == ["name", "schedule", "where"]  # what staff look for first, on the left


@pytest.mark.clock_instants(*FEW)
async def test_each_tab_draws_only_its_own_part(dashboard, client, conn, hasher, staff):
    group = await helpers.create_group(client, staff, name="Tabbed Circle", capacity=1)
    for alias in ("Sam", "Alex"):
        person = await helpers.graduate(client, staff, alias=alias)
        response = await client.post(f"/v1/groups/{group['id']}/membership", headers=person.headers)
        assert response.status_code == 201, response.text
    counselor, at = await groups_page(dashboard, client, conn, hasher)

    async def member_reads() -> int:
        return await conn.fetchval(
            "select count(*) from audit_log where action = 'group.members.read' and actor_id = $1",
            uuid.UUID(counselor.id),
        )

    pick(at, group["id"], "Details")
    assert [t.label for t in at.tabs] == ["Details", "Members", "Sessions"]
    assert at.text_input(key=f"edit_{group['id']}_name").value == "Tabbed Circle"
    assert f"session_{group['id']}" not in [s.key for s in at.selectbox]
    assert await member_reads() == 0  # the members were not read for a tab nobody opened

    pick(at, group["id"], "Members")
    seated, waiting = people_tables(at)
    assert list(seated["alias"]) == ["Sam"] and list(waiting["alias"]) == ["Alex"]
    assert list(waiting["position"]) == [1]
    assert "**Members** (1 of 1)" in texts(at) and "**Waitlist** (1)" in texts(at)
    assert f"edit_{group['id']}_name" not in [t.key for t in at.text_input]
    assert await member_reads() == 1

    pick(at, group["id"], "Sessions")
    assert at.selectbox(key=f"session_{group['id']}").value is not None
    assert people_tables(at) == []
    assert await member_reads() == 1


async def test_a_group_opened_from_the_banner_opens_at_its_details(dashboard, client, conn, hasher, staff):
    """The system banner hands a group over (`group_pick_next`): it opens at Details, whatever
    tab was open before."""
    first = await helpers.create_group(client, staff, name="First Circle")
    second = await helpers.create_group(client, staff, name="Second Circle")
    _, at = await groups_page(dashboard, client, conn, hasher)
    pick(at, first["id"], "Members")
    at.session_state["group_pick_next"] = second["id"]
    open_page(at, "views/groups.py")
    assert at.selectbox(key="group_pick").value == second["id"]
    assert at.text_input(key=f"edit_{second['id']}_name").value == "Second Circle"


async def test_a_reader_with_no_groups_is_told_to_create_one(dashboard, client, conn, admin):
    at = open_page(sign_in(dashboard(), admin), "views/groups.py")
    assert "No active groups: create one above." in texts(at)
    assert at.toggle(key="groups_show_archived").value is False
