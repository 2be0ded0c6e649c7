"""Groups: staff management, the listing and its filters, membership and the waitlist."""

import uuid

import pytest

from tests import helpers
from tests.helpers import GROUP, assert_problem, create_group


async def names(client, actor, **params):
    response = await client.get("/v1/groups", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return [g["name"] for g in response.json()["items"]]


async def test_staff_create_edit_archive(client, conn, hasher, staff, graduate):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    group = await create_group(client, staff, facilitator_ids=[facilitator.id], capacity=12)
    assert group["schedule"] == [{"weekday": "tuesday", "start": "19:00", "end": "20:30"}]
    assert group["seats_left"] == 12 and group["my_status"] == "none" and not group["archived"]
    assert group["facilitators"] == [{"id": facilitator.id, "name": "Facilitator"}]
    url = f"/v1/staff/groups/{group['id']}"
    edited = await client.patch(url, json={"name": "Tuesday Circle", "capacity": None}, headers=staff.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Tuesday Circle" and edited.json()["seats_left"] is None
    archived = await client.post(f"{url}/archive", headers=staff.headers)
    assert archived.json()["archived"] is True
    assert await names(client, graduate) == []
    assert_problem(await client.get(f"/v1/groups/{group['id']}", headers=graduate.headers), 404)
    assert (await client.get(f"/v1/groups/{group['id']}", headers=staff.headers)).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"address": None}, "address"),
        ({"format": "online"}, "conference_url"),
        ({"latitude": None}, "latitude"),
        ({"schedule": []}, "schedule"),
        ({"schedule": [{"weekday": "funday", "start": "19:00", "end": "20:00"}]}, "schedule"),
        ({"schedule": [{"weekday": "monday", "start": "19:00", "end": "18:00"}]}, "schedule"),
        ({"schedule": [{"weekday": "monday", "start": "25:00", "end": "26:00"}]}, "schedule"),
        (
            {
                "schedule": [
                    {"weekday": "monday", "start": "19:00", "end": "20:00"},
                    {"weekday": "monday", "start": "19:30", "end": "21:00"},
                ]
            },
            "schedule",
        ),
        ({"topics": ["astrology"]}, "topics"),
        ({"timezone": "Moon/Base"}, "timezone"),
        ({"capacity": 0}, "capacity"),
        ({"conference_url": "javascript:alert(1)"}, "conference_url"),
        ({"facilitator_ids": [str(uuid.uuid4())]}, "facilitator_ids"),
    ],
)
async def test_bad_groups_are_refused_naming_the_field(client, conn, staff, change, field):
    response = await client.post("/v1/staff/groups", json=GROUP | change, headers=staff.headers)
    body = assert_problem(response, 400)
    assert field in [e["field"] for e in body["errors"]] or body["detail"].startswith(field), body
    assert await conn.fetchval("select count(*) from groups") == 0


async def test_graduates_and_facilitators_cannot_manage_groups(client, conn, hasher, staff, graduate):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    group = await create_group(client, staff, facilitator_ids=[facilitator.id])
    for actor in (graduate, facilitator):
        assert_problem(await client.post("/v1/staff/groups", json=GROUP, headers=actor.headers), 403)
        response = await client.patch(f"/v1/staff/groups/{group['id']}", json={"name": "x"}, headers=actor.headers)
        assert_problem(response, 403)


async def test_conference_link_only_for_members(client, staff, graduate):
    group = await create_group(
        client, staff, format="hybrid", conference_url="https://meet.example/abc", conference_phone="+1 555 0100"
    )
    seen = (await client.get(f"/v1/groups/{group['id']}", headers=graduate.headers)).json()
    assert seen["conference_url"] is None and seen["conference_phone"] is None
    await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
    seen = (await client.get(f"/v1/groups/{group['id']}", headers=graduate.headers)).json()
    assert seen["conference_url"] == "https://meet.example/abc"
    listed = (await client.get("/v1/groups", headers=graduate.headers)).json()["items"][0]
    assert listed["conference_url"] == "https://meet.example/abc" and listed["my_status"] == "member"


async def test_listing_filters(client, staff, graduate):
    await create_group(
        client,
        staff,
        name="Monday Morning Women",
        topics=["women"],
        schedule=[{"weekday": "monday", "start": "08:00", "end": "09:00"}],
    )
    await create_group(
        client,
        staff,
        name="Wednesday Afternoon Men",
        topics=["men", "dual_diagnosis"],
        schedule=[{"weekday": "wednesday", "start": "13:00", "end": "14:00"}],
    )
    await create_group(
        client,
        staff,
        name="Online Evenings",
        format="online",
        address=None,
        latitude=None,
        longitude=None,
        conference_url="https://meet.example/x",
        topics=["lgbtq"],
        schedule=[
            {"weekday": "monday", "start": "19:00", "end": "20:00"},
            {"weekday": "friday", "start": "19:00", "end": "20:00"},
        ],
        description="Meditation and mindfulness for staying sober",
    )
    await create_group(
        client,
        staff,
        name="Full Saturday",
        capacity=1,
        schedule=[{"weekday": "saturday", "start": "10:00", "end": "11:00"}],
    )
    other = await helpers.graduate(client, staff, alias="Taken")
    full = [
        g
        for g in (await client.get("/v1/groups", headers=staff.headers)).json()["items"]
        if g["name"] == "Full Saturday"
    ][0]
    await client.post(f"/v1/groups/{full['id']}/membership", headers=other.headers)

    assert await names(client, graduate) == [
        "Full Saturday",
        "Monday Morning Women",
        "Online Evenings",
        "Wednesday Afternoon Men",
    ]
    assert await names(client, graduate, weekday="monday") == ["Monday Morning Women", "Online Evenings"]
    assert await names(client, graduate, weekday=["wednesday", "saturday"]) == [
        "Full Saturday",
        "Wednesday Afternoon Men",
    ]
    assert await names(client, graduate, time_of_day="morning") == ["Full Saturday", "Monday Morning Women"]
    assert await names(client, graduate, time_of_day="afternoon") == ["Wednesday Afternoon Men"]
    assert await names(client, graduate, time_of_day="evening") == ["Online Evenings"]
    assert await names(client, graduate, weekday="monday", time_of_day="evening") == ["Online Evenings"]
    assert await names(client, graduate, format="online") == ["Online Evenings"]
    assert await names(client, graduate, format=["online", "hybrid"]) == ["Online Evenings"]
    assert await names(client, graduate, topic="women") == ["Monday Morning Women"]
    assert await names(client, graduate, topic=["women", "dual_diagnosis"]) == [
        "Monday Morning Women",
        "Wednesday Afternoon Men",
    ]
    assert await names(client, graduate, open_seats="true") == [
        "Monday Morning Women",
        "Online Evenings",
        "Wednesday Afternoon Men",
    ]
    assert await names(client, graduate, q="mindfulness") == ["Online Evenings"]
    assert await names(client, graduate, q="meditating sober") == ["Online Evenings"]  # stemmed words
    assert await names(client, graduate, q="women") == ["Monday Morning Women"]
    assert await names(client, graduate, q="nothing like this") == []


async def test_distance_order_and_radius(client, staff, graduate):
    # Around Chicago's Loop (41.8781, -87.6298).
    for name, lat, lon in [
        ("Loop", 41.8781, -87.6298),
        ("Evanston", 42.0451, -87.6877),
        ("Naperville", 41.7508, -88.1535),
        ("Milwaukee", 43.0389, -87.9065),
    ]:
        await create_group(client, staff, name=name, latitude=lat, longitude=lon)
    await create_group(
        client,
        staff,
        name="Online",
        format="online",
        address=None,
        latitude=None,
        longitude=None,
        conference_url="https://meet.example/y",
    )
    near = "41.8781,-87.6298"
    response = await client.get("/v1/groups", params={"near": near, "radius_km": 200}, headers=graduate.headers)
    items = response.json()["items"]
    assert [g["name"] for g in items] == ["Loop", "Evanston", "Naperville", "Milwaukee"]
    assert items[0]["distance_km"] == 0 and 18 < items[1]["distance_km"] < 20 and 125 < items[3]["distance_km"] < 135
    assert await names(client, graduate, near=near, radius_km=50) == ["Loop", "Evanston", "Naperville"]
    assert await names(client, graduate, near=near) == ["Loop", "Evanston", "Naperville"]  # 100 km by default
    assert await names(client, graduate, near=near, radius_km=1) == ["Loop"]
    assert_problem(await client.get("/v1/groups", params={"near": "north"}, headers=graduate.headers), 400)
    assert_problem(await client.get("/v1/groups", params={"near": "91,0"}, headers=graduate.headers), 400)
    assert_problem(await client.get("/v1/groups", params={"radius_km": 5}, headers=graduate.headers), 400)


@pytest.mark.parametrize("params", [{}, {"near": "41.8781,-87.6298"}])
async def test_cursor_pages_are_stable_and_complete(client, staff, graduate, params):
    for i in range(7):
        await create_group(client, staff, name=f"Group {i % 3}", latitude=41.8 + i / 100, longitude=-87.6)
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                "/v1/groups",
                params=params | {"limit": 3} | ({"cursor": cursor} if cursor else {}),
                headers=graduate.headers,
            )
        ).json()
        seen += [g["id"] for g in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    everything = (await client.get("/v1/groups", params=params | {"limit": 50}, headers=graduate.headers)).json()
    assert seen == [g["id"] for g in everything["items"]] and len(set(seen)) == 7


async def test_join_leave_and_waitlist(client, staff):
    group = await create_group(client, staff, capacity=2)
    url = f"/v1/groups/{group['id']}/membership"
    people = [await helpers.graduate(client, staff, alias=f"P{i}") for i in range(5)]
    answers = [(await client.post(url, headers=p.headers)).json() for p in people]
    assert [a["status"] for a in answers] == ["member", "member", "waitlisted", "waitlisted", "waitlisted"]
    assert [a["waitlist_position"] for a in answers[2:]] == [1, 2, 3]
    again = (await client.post(url, headers=people[2].headers)).json()
    assert again == {"status": "waitlisted", "waitlist_position": 1}  # joining twice changes nothing
    detail = (await client.get(f"/v1/groups/{group['id']}", headers=people[3].headers)).json()
    assert detail["seats_left"] == 0 and detail["waitlist_position"] == 2

    assert (await client.delete(url, headers=people[0].headers)).json()["status"] == "none"
    assert (await client.get(f"/v1/groups/{group['id']}", headers=people[2].headers)).json()["my_status"] == "member"
    assert (await client.get(f"/v1/groups/{group['id']}", headers=people[3].headers)).json()["waitlist_position"] == 1
    # Leaving the waitlist frees no seat.
    await client.delete(url, headers=people[3].headers)
    detail = (await client.get(f"/v1/groups/{group['id']}", headers=people[4].headers)).json()
    assert detail["my_status"] == "waitlisted" and detail["waitlist_position"] == 1 and detail["member_count"] == 2
    # A bigger room seats the waitlist at once.
    await client.patch(f"/v1/staff/groups/{group['id']}", json={"capacity": 5}, headers=staff.headers)
    assert (await client.get(f"/v1/groups/{group['id']}", headers=people[4].headers)).json()["my_status"] == "member"


async def test_membership_needs_a_graduate_and_a_live_group(client, staff, graduate):
    assert_problem(await client.post(f"/v1/groups/{uuid.uuid4()}/membership", headers=graduate.headers), 404)
    group = await create_group(client, staff)
    assert_problem(await client.post(f"/v1/groups/{group['id']}/membership", headers=staff.headers), 403)
    await client.post(f"/v1/staff/groups/{group['id']}/archive", headers=staff.headers)
    assert_problem(await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers), 404)


async def test_staff_list_archived_groups_and_bring_one_back(client, staff, graduate):
    kept = await create_group(client, staff, name="Kept")
    closed = await create_group(client, staff, name="Closed")
    assert (await client.post(f"/v1/staff/groups/{closed['id']}/archive", headers=staff.headers)).status_code == 200

    active = (await client.get("/v1/groups", headers=staff.headers)).json()["items"]
    archived = (await client.get("/v1/groups", params={"archived": "true"}, headers=staff.headers)).json()["items"]
    assert [g["id"] for g in active] == [kept["id"]]
    assert [(g["id"], g["archived"]) for g in archived] == [(closed["id"], True)]
    assert_problem(await client.get("/v1/groups", params={"archived": "true"}, headers=graduate.headers), 403)
    assert_problem(await client.post(f"/v1/staff/groups/{closed['id']}/unarchive", headers=graduate.headers), 403)
    assert_problem(await client.post(f"/v1/staff/groups/{uuid.uuid4()}/unarchive", headers=staff.headers), 404)

    response = await client.post(f"/v1/staff/groups/{closed['id']}/unarchive", headers=staff.headers)
    assert response.status_code == 200 and response.json()["archived"] is False
    listed = (await client.get("/v1/groups", headers=graduate.headers)).json()["items"]
    assert sorted(g["name"] for g in listed) == ["Closed", "Kept"]
