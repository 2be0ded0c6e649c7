"""Feeds: Meeting Guide out and in (the three sample feeds, and our own feed round trip),
and iCalendar feeds parsed back."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest

from api.groups.meeting_guide import FeedGroup, export_feed, parse_feed
from tests import helpers
from tests.clock import FEW
from tests.helpers import assert_problem, create_group

# The sample feeds live in the shared folder beside the checkout (as on CI).
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "meeting-guide"


def sample(name):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not found: the shared folder is not beside this checkout")
    return json.loads(path.read_text())


def test_quinte_feed_imports_every_meeting_with_a_default_zone():
    groups, skipped = parse_feed(sample("quinte-ontario-feed.json"), "America/Toronto")
    assert len(groups) + len(skipped) == 45 and skipped == []
    assert all(g.timezone == "America/Toronto" and g.format == "in_person" for g in groups)
    tweed = next(g for g in groups if g.slug == "8")
    assert tweed.name == "Tweed Group" and tweed.slots == [(2, dt.time(19, 30), dt.time(20, 30))]  # day 2 = Tuesday
    assert tweed.address == "55 Victoria St N, Tweed, CA"  # empty and null postal codes left out
    assert (tweed.latitude, tweed.longitude) == (44.4759824, -77.3114402)
    lennox = next(g for g in groups if g.slug == "22")
    assert lennox.slots[0][0] == 7  # day 0 = Sunday


def test_quinte_feed_without_a_zone_reports_why():
    groups, skipped = parse_feed(sample("quinte-ontario-feed.json"))
    assert groups == [] and len(skipped) == 45
    assert {s.reason for s in skipped} == {"no timezone in the feed: pass --timezone"}


def test_the_specs_single_meeting_example():
    [group], skipped = parse_feed(sample("single-meeting-example.json"), "America/Los_Angeles")
    assert skipped == []
    assert group.slug == "sunday-serenity-14" and group.slots == [(7, dt.time(18), dt.time(19, 30))]
    assert group.topics == ["lgbtq"] and group.format == "in_person"
    assert group.address == "123 Main Street, Anytown, CA, 98765, US"
    assert group.description == "Ring buzzer. Meeting is on the 2nd floor."


def test_three_meetings_in_person_online_and_inactive():
    groups, skipped = parse_feed(sample("three-meetings-feed.json"))
    by_slug = {g.slug: g for g in groups}
    assert by_slug["in-person"].format == "in_person" and by_slug["in-person"].topics == ["men"]
    assert by_slug["in-person"].timezone == "America/Chicago"
    online = by_slug["online"]
    assert online.format == "online" and online.conference_url == "https://zoom.us/j/123456789"
    assert online.address is None  # "New York, NY, USA" is only where it is based
    assert [(s.slug, s.reason) for s in skipped] == [
        ("inactive", "inactive: no street address and no conference link or phone")
    ]


def test_junk_in_a_feed_is_skipped_with_reasons():
    groups, skipped = parse_feed(
        [
            "not an object",
            {"name": "No slug", "day": 1, "time": "10:00"},
            {
                "name": "Bad day",
                "slug": "a",
                "day": 9,
                "time": "10:00",
                "timezone": "UTC",
                "formatted_address": "1 A St",
            },
            {
                "name": "Bad time",
                "slug": "b",
                "day": 1,
                "time": "25:00",
                "timezone": "UTC",
                "formatted_address": "1 A St",
            },
            {"name": "Closed", "slug": "c", "day": 1, "time": "10:00", "types": ["TC"], "timezone": "UTC"},
            {
                "name": "Bad zone",
                "slug": "d",
                "day": 1,
                "time": "10:00",
                "timezone": "Nowhere",
                "formatted_address": "1 A St",
            },
            {
                "name": "Late",
                "slug": "e",
                "day": [1, 3],
                "time": "23:30",
                "timezone": "UTC",
                "formatted_address": "1 A St",
            },
        ]
    )
    assert [g.slug for g in groups] == ["e"] and groups[0].slots[0][2] == dt.time(23, 59)  # kept within the day
    assert len(skipped) == 6 and all(s.reason for s in skipped)


def test_our_feed_parses_back_to_the_same_groups():
    ours = [
        FeedGroup(
            "evening",
            "Evening Circle",
            "Bring a friend.",
            ["family", "relapse_prevention", "women"],
            "hybrid",
            "America/Chicago",
            [(1, dt.time(19), dt.time(20)), (3, dt.time(19), dt.time(20)), (6, dt.time(10), dt.time(11, 30))],
            "1 Main St, Springfield",
            39.8,
            -89.6,
            "https://meet.example/a",
            "+1 555 0100",
        ),
        FeedGroup(
            "online-only",
            "Online Only",
            "",
            ["lgbtq", "dual_diagnosis"],
            "online",
            "Europe/Berlin",
            [(7, dt.time(18), dt.time(19))],
            conference_url="https://meet.example/b",
        ),
    ]
    exported = export_feed(ours)
    assert [m["slug"] for m in exported] == ["evening", "evening--2", "online-only"]
    assert exported[0]["day"] == 6 and exported[1]["day"] == [1, 3] and exported[2]["day"] == 0  # 0 = Sunday
    assert "W" in exported[0]["types"] and exported[0]["notes"].endswith("Topics: family, relapse prevention")
    back, skipped = parse_feed(json.loads(json.dumps(exported)))
    assert skipped == []
    for original, parsed in zip(ours, back, strict=True):
        original.slots.sort()
        original.topics.sort()
        assert parsed == original


async def test_public_feed_lists_public_groups_without_member_data(client, conn, hasher, staff):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    await create_group(
        client,
        staff,
        name="Listed",
        topics=["women", "relapse_prevention"],
        facilitator_ids=[facilitator.id],
        public=True,
    )
    await create_group(client, staff, name="Private", public=False)
    await create_group(
        client,
        staff,
        name="Online, not published",
        format="online",
        address=None,
        latitude=None,
        longitude=None,
        conference_url="https://meet.example/s",
    )
    archived = await create_group(client, staff, name="Gone", public=True)
    await client.post(f"/v1/staff/groups/{archived['id']}/archive", headers=staff.headers)
    graduate = await helpers.graduate(client, staff, alias="Member Person")
    listed = (await client.get("/v1/groups", params={"q": "Listed"}, headers=graduate.headers)).json()["items"][0]
    await client.post(f"/v1/groups/{listed['id']}/membership", headers=graduate.headers)

    response = await client.get("/v1/public/meeting-guide.json")
    assert response.status_code == 200
    feed = response.json()
    assert [m["name"] for m in feed] == ["Listed"]
    meeting = feed[0]
    assert meeting["day"] == 2 and meeting["time"] == "19:00" and meeting["end_time"] == "20:30"
    assert meeting["timezone"] == "America/Chicago" and meeting["types"] == ["W"]
    assert meeting["notes"].endswith("Topics: relapse prevention")
    assert dt.datetime.strptime(meeting["updated"], "%Y-%m-%d %H:%M:%S")
    text = response.text
    assert "Member Person" not in text and "Facilitator" not in text and graduate.id not in text
    assert "meet.example/s" not in text  # groups stay out of the feed unless staff publish them
    assert "meet.example/s" not in text  # groups are private unless staff publish them
    # And our own importer reads it back as it was.
    [parsed], skipped = parse_feed(feed)
    assert skipped == [] and parsed.slug == listed["slug"] and parsed.topics == ["relapse_prevention", "women"]
    assert parsed.slots == [(2, dt.time(19), dt.time(20, 30))] and parsed.address == listed["address"]


def import_cli(database_url, *args):
    env = os.environ | {"DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "groups", "import-meeting-guide", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def test_cli_imports_the_sample_feeds_into_the_listing(client, conn, graduate, database_url):
    def run(*args):
        return import_cli(database_url, *args)

    quinte = str(SAMPLES / "quinte-ontario-feed.json")
    if not Path(quinte).exists():
        pytest.skip("sample feeds not found")
    first = run(quinte, "--timezone", "America/Toronto")
    assert first.returncode == 0, first.stderr
    assert "Imported 45 groups (45 new, 0 updated); skipped 0 meetings." in first.stdout
    again = run(quinte, "--timezone", "America/Toronto")
    assert "Imported 45 groups (0 new, 45 updated)" in again.stdout
    three = run(str(SAMPLES / "three-meetings-feed.json"))
    assert "skipped inactive (Inactive Meeting): inactive" in three.stdout and "Imported 2 groups" in three.stdout
    single = run(str(SAMPLES / "single-meeting-example.json"), "--timezone", "America/Los_Angeles", "--dry-run")
    assert "Dry run: 1 groups would be imported" in single.stdout
    assert run(quinte, "--timezone", "Mars/Base").returncode == 2
    names = [
        g["name"]
        for g in (await client.get("/v1/groups", params={"q": "Tweed"}, headers=graduate.headers)).json()["items"]
    ]
    assert names == ["Tweed Group"]
    assert await conn.fetchval("select count(*) from groups") == 47


@pytest.mark.clock_instants(*FEW)
async def test_group_calendar_parses_back(client, staff):
    group = await create_group(client, staff, public=True)
    sessions = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=staff.headers)).json()["items"]
    await client.post(f"/v1/sessions/{sessions[0]['id']}/cancel", json={"reason": "Holiday"}, headers=staff.headers)
    response = await client.get(f"/v1/public/groups/{group['id']}/calendar.ics")
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    # Public data that calendar apps poll: caches may keep it a while.
    assert response.headers["cache-control"] == "max-age=300, public"
    calendar = icalendar.Calendar.from_ical(response.content)
    events = {str(e["uid"]).removesuffix("@aftercare"): e for e in calendar.walk("VEVENT")}
    assert len(events) >= 26  # six months of Tuesdays
    first = events[sessions[0]["id"]]
    assert str(first["status"]) == "CANCELLED" and str(events[sessions[1]["id"]]["status"]) == "CONFIRMED"
    start = first.decoded("dtstart")
    assert start.tzinfo is not None and str(start.tzinfo) == "America/Chicago" and start.hour == 19
    assert start == dt.datetime.fromisoformat(sessions[0]["starts_at"])
    assert list(calendar.walk("VTIMEZONE")), "times carry their time zone"
    private = await create_group(client, staff, name="Private", public=False)
    assert_problem(await client.get(f"/v1/public/groups/{private['id']}/calendar.ics"), 404)


async def test_a_group_name_cannot_write_lines_into_a_calendar(client, staff):
    name = "Circle; Tue, 7\\8\nX-INJECTED:1"
    group = await create_group(client, staff, name=name, public=True)
    response = await client.get(f"/v1/public/groups/{group['id']}/calendar.ics")
    assert not any(line.startswith("X-INJECTED") for line in response.text.splitlines())
    assert helpers.ical_text(str(icalendar.Calendar.from_ical(response.content)["x-wr-calname"])) == name


@pytest.mark.clock_instants(*FEW)
async def test_personal_calendar_feed(client, staff):
    group = await create_group(client, staff, name="Women's Circle", topics=["women"])
    graduate = await helpers.graduate(client, staff)
    await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
    first, second, third = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=graduate.headers)).json()[
        "items"
    ][:3]
    for s, status in ((first, "going"), (second, "going"), (third, "not_going")):
        await client.put(f"/v1/sessions/{s['id']}/rsvp", json={"status": status}, headers=graduate.headers)
    await client.post(f"/v1/sessions/{second['id']}/cancel", json={"reason": "Holiday"}, headers=staff.headers)

    url = (await client.post("/v1/me/calendar-feed", headers=graduate.headers)).json()["url"]
    path = "/" + url.split("/", 3)[3]
    response = await client.get(path)  # no bearer token: the URL is the key
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # someone's own sessions: no cache keeps them
    events = list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))
    assert [(e.decoded("dtstart"), str(e["status"])) for e in events] == [
        (dt.datetime.fromisoformat(first["starts_at"]), "CONFIRMED"),
        (dt.datetime.fromisoformat(second["starts_at"]), "CANCELLED"),
    ]
    assert "Women" not in response.text and str(events[0]["summary"]) == "Group session"  # discreet
    # Nothing in it names the group: not its id, nor a session id (which holds the group's id),
    # nor a UID of the group's public calendar. UIDs are one per session and stay the same.
    uids = [str(e["uid"]) for e in events]
    assert group["id"] not in response.text and first["id"] not in response.text
    assert len(set(uids)) == 2 and all(u.endswith("@aftercare") for u in uids)
    again = icalendar.Calendar.from_ical((await client.get(path)).content).walk("VEVENT")
    assert [str(e["uid"]) for e in again] == uids
    public = await create_group(client, staff, name="Open Circle", public=True)
    await client.post(f"/v1/groups/{public['id']}/membership", headers=graduate.headers)
    coming = (await client.get(f"/v1/groups/{public['id']}/sessions", headers=graduate.headers)).json()["items"][0]
    await client.put(f"/v1/sessions/{coming['id']}/rsvp", json={"status": "going"}, headers=graduate.headers)
    mine = {str(e["uid"]) for e in icalendar.Calendar.from_ical((await client.get(path)).content).walk("VEVENT")}
    listed = icalendar.Calendar.from_ical((await client.get(f"/v1/public/groups/{public['id']}/calendar.ics")).content)
    assert len(mine) == 3 and mine.isdisjoint(str(e["uid"]) for e in listed.walk("VEVENT"))

    new_url = (await client.post("/v1/me/calendar-feed", headers=graduate.headers)).json()["url"]
    assert_problem(await client.get(path), 404)  # replaced
    assert (await client.delete("/v1/me/calendar-feed", headers=graduate.headers)).status_code == 204
    assert_problem(await client.get("/" + new_url.split("/", 3)[3]), 404)  # revoked


def test_export_marks_places_as_exact_and_slug_parts_cannot_collide():
    hall = FeedGroup(
        "hall",
        "Hall Group",
        "",
        [],
        "in_person",
        "UTC",
        [(1, dt.time(19), dt.time(20))],
        "St Mary's Church Hall, Springfield",
    )
    [meeting] = export_feed([hall])
    assert meeting["approximate"] == "no"
    [back], skipped = parse_feed([meeting])
    assert skipped == [] and back.format == "in_person" and back.address == hall.address
    # A feed listing the same weekday and start twice (e.g. x and x--2) keeps one session.
    same = {"name": "X", "slug": "x", "day": 2, "time": "19:00", "timezone": "UTC", "formatted_address": "1 A St"}
    [merged], _ = parse_feed([same, same | {"slug": "x--2", "end_time": "21:00"}])
    assert merged.slots == [(2, dt.time(19), dt.time(20))]


async def test_slugs_ending_like_a_feed_part_are_refused(client, staff):
    response = await client.post("/v1/staff/groups", json=helpers.GROUP | {"slug": "evening--2"}, headers=staff.headers)
    assert assert_problem(response, 400)["errors"][0]["field"] == "slug"


async def test_import_never_touches_a_group_staff_made(client, conn, staff, graduate, database_url):
    if not SAMPLES.exists():
        pytest.skip("sample feeds not found")
    ours = await create_group(client, staff, slug="8", name="Our private group")
    result = import_cli(database_url, str(SAMPLES / "quinte-ontario-feed.json"), "--timezone", "America/Toronto")
    assert "skipped 8: a group staff manage has this slug" in result.stdout
    assert "Imported 44 groups (44 new, 0 updated); skipped 1 meetings." in result.stdout
    kept = (await client.get(f"/v1/groups/{ours['id']}", headers=staff.headers)).json()
    assert kept["name"] == "Our private group" and kept["public"] is False and kept["schedule"] == ours["schedule"]


@pytest.mark.clock_instants(*FEW)
async def test_calendar_feed_follows_membership(client, staff):
    group = await create_group(client, staff)
    graduate = await helpers.graduate(client, staff)
    url = f"/v1/groups/{group['id']}/membership"
    await client.post(url, headers=graduate.headers)
    # A coming session: one under way (the group's Tuesday evening may have just begun) keeps
    # its RSVPs when someone leaves.
    now = dt.datetime.now(dt.UTC)
    sessions = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=graduate.headers)).json()["items"]
    sid = next(s["id"] for s in sessions if dt.datetime.fromisoformat(s["starts_at"]) > now)
    await client.put(f"/v1/sessions/{sid}/rsvp", json={"status": "going"}, headers=graduate.headers)
    feed = "/" + (await client.post("/v1/me/calendar-feed", headers=graduate.headers)).json()["url"].split("/", 3)[3]
    assert len(list(icalendar.Calendar.from_ical((await client.get(feed)).content).walk("VEVENT"))) == 1
    await client.delete(url, headers=graduate.headers)
    assert list(icalendar.Calendar.from_ical((await client.get(feed)).content).walk("VEVENT")) == []
    listed = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=graduate.headers)).json()["items"]
    assert next(s for s in listed if s["id"] == sid)["my_rsvp"] is None  # leaving took the RSVPs to coming sessions
