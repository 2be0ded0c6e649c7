"""`GET /v1/staff/participants/{id}/groups`: a graduate's groups for the staff participant
page, with waitlist places, audited like every other read of participant data."""

from __future__ import annotations

import uuid

from tests import helpers
from tests.helpers import assert_problem


async def test_staff_see_a_graduates_groups_and_waitlist_places(client, conn, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Jo")
    circle = await helpers.create_group(client, staff, name="Tuesday Evening Circle", capacity=1)
    morning = await helpers.create_group(client, staff, name="Morning Check-in")
    untouched = await helpers.create_group(client, staff, name="Not theirs")
    assert (await client.post(f"/v1/groups/{circle['id']}/membership", headers=other.headers)).status_code == 201
    for group in (circle, morning):
        response = await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
        assert response.status_code == 201, response.text

    response = await client.get(f"/v1/staff/participants/{graduate.id}/groups", headers=staff.headers)
    assert response.status_code == 200, response.text
    items = {g["name"]: g for g in response.json()["items"]}
    assert set(items) == {"Tuesday Evening Circle", "Morning Check-in"} and untouched["name"] not in items
    assert items["Morning Check-in"]["status"] == "member" and items["Morning Check-in"]["waitlist_position"] is None
    assert items["Tuesday Evening Circle"]["status"] == "waitlisted"
    assert items["Tuesday Evening Circle"]["waitlist_position"] == 1
    assert items["Tuesday Evening Circle"]["schedule"] == [{"weekday": "tuesday", "start": "19:00", "end": "20:30"}]

    [row] = await conn.fetch("select * from audit_log where action = 'participant.groups.read'")
    assert str(row["participant_id"]) == graduate.id and str(row["actor_id"]) == staff.id


async def test_only_staff_and_only_graduates(client, staff, graduate):
    assert_problem(await client.get(f"/v1/staff/participants/{graduate.id}/groups", headers=graduate.headers), 403)
    for target in (str(uuid.uuid4()), staff.id):
        assert_problem(await client.get(f"/v1/staff/participants/{target}/groups", headers=staff.headers), 404)
    empty = await client.get(f"/v1/staff/participants/{graduate.id}/groups", headers=staff.headers)
    assert empty.json() == {"items": [], "next_cursor": None}
