"""A refused request says everything that is wrong at once, in words a person can act on:
every bad field (not only the first), what each takes (a range, the allowed values, a
format), never a library's phrasing or a regex; and `from`/`to` read as the client wrote them."""

from __future__ import annotations

import pytest

from api.wording import PATTERN_MEANINGS
from tests import helpers
from tests.attack.wording import library_words
from tests.clock import ONCE
from tests.dashboard.apptest import as_read
from tests.helpers import assert_problem, checkin_body, create_group

ENROL = "/v1/staff/participants"
WEEKDAYS = "monday, tuesday, wednesday, thursday, friday, saturday, sunday"


def fields(problem: dict) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem["errors"]}


async def test_an_empty_enrolment_lists_every_required_field_at_once(client, conn, staff):
    problem = assert_problem(await client.post(ENROL, json={}, headers=staff.headers), 400, "validation_failed")
    assert problem["errors"] == [
        {"field": "alias", "source": "body", "message": "is required"},
        {"field": "timezone", "source": "body", "message": "is required"},
        {"field": "iop_completed_on", "source": "body", "message": "is required"},
    ]
    assert problem["detail"] == "alias: is required; timezone: is required; iop_completed_on: is required"
    assert await conn.fetchval("select count(*) from people where 'participant' = any(roles)") == 0


@pytest.mark.clock_instants(*ONCE)
async def test_a_check_in_with_several_wrong_answers_names_each_with_what_it_takes(client, conn, staff):
    graduate = await helpers.graduate(client, staff)
    body = checkin_body(mood=9, craving="lots", used="maybe", client_time="noon", need_support="panic")
    del body["sleep"]
    problem = assert_problem(await client.post("/v1/checkins", json=body, headers=graduate.headers), 400)
    assert fields(problem) == {
        "client_time": "must be a date-time like 2026-03-01T09:00:00-06:00",
        "mood": "must be a whole number from 1 to 5",
        "craving": "must be a whole number from 0 to 10",
        "used": "must be true or false",
        "sleep": "is required",
        "need_support": "must be one of no, talk_soon, crisis_now",
    }
    assert await conn.fetchval("select count(*) from checkins") == 0


async def test_allowed_values_are_listed_in_their_own_order(client, staff, graduate):
    group = helpers.GROUP | {
        "format": "outdoors",
        "topics": ["knitting"],
        "schedule": [{"weekday": "funday", "start": "7pm", "end": "20:30"}],
    }
    problem = assert_problem(await client.post("/v1/staff/groups", json=group, headers=staff.headers), 400)
    assert fields(problem) == {
        "format": "must be one of in_person, online, hybrid",
        "schedule[0].weekday": f"must be one of {WEEKDAYS}",
        "schedule[0].start": "must be a time of day like 18:30 (24-hour)",
        "topics[0]": "must be one of relapse_prevention, family, dual_diagnosis, women, men, lgbtq, young_adults,"
        " seniors, newcomers, meditation, spanish_speaking",
    }
    device = {"token": "a-token", "platform": "windows"}
    problem = assert_problem(await client.post("/v1/me/devices", json=device, headers=graduate.headers), 400)
    assert fields(problem) == {"platform": "must be one of ios, android"}
    preferences = {"kinds": {"horoscope": True}}
    response = await client.put("/v1/me/notification-preferences", json=preferences, headers=graduate.headers)
    message = fields(assert_problem(response, 400))["kinds"]
    assert message.startswith("may only name checkin_reminder, ") and "horoscope" not in response.text


async def test_query_parameters_are_all_named_as_sent_and_worded_alike(client, graduate):
    params = {"weekday": "funday", "limit": "0", "radius_km": "far", "format": "outdoors"}
    problem = assert_problem(await client.get("/v1/groups", params=params, headers=graduate.headers), 400)
    assert fields(problem) == {
        "weekday": f"must be one of {WEEKDAYS}",
        "limit": "must be a whole number from 1 to 200",
        "radius_km": "must be a number more than 0 and at most 500",
        "format": "must be one of in_person, online, hybrid",
    }
    assert {e["source"] for e in problem["errors"]} == {"query"}


async def test_no_refusal_speaks_like_a_library(client, staff, graduate, admin):
    refusals = [
        ("POST", ENROL, {"alias": "x" * 51, "timezone": 3, "iop_completed_on": "soon", "phone": "call me"}, staff),
        ("POST", ENROL, {"alias": " ", "timezone": "UTC", "iop_completed_on": "2026-01-01", "email": "nope"}, staff),
        ("POST", ENROL, [1, 2], staff),
        ("POST", "/v1/checkins", {"mood": 0, "craving": 5, "sleep": 1.5, "client_id": "x"}, graduate),
        ("POST", "/v1/staff/groups", helpers.GROUP | {"slug": "-bad slug", "conference_url": "ftp://x"}, staff),
        ("POST", "/v1/staff/groups", helpers.GROUP | {"capacity": -1, "latitude": "north"}, staff),
        ("POST", "/v1/me/devices", {"token": "two words", "platform": 1}, graduate),
        ("POST", "/v1/staff/accounts", {"email": "a@b", "name": "", "roles": ["boss"]}, admin),
        ("GET", "/v1/groups?limit=abc&open_seats=perhaps&near=" + "9" * 70, None, graduate),
        ("GET", f"{ENROL}?status=sleeping&counselor_id=me&limit=9999", None, staff),
        ("GET", "/v1/me/sessions?from=tomorrow&to=2026-02-30", None, graduate),
        ("POST", "/v1/me/blocks", {"person_id": "me", "reason": "rude"}, graduate),
        ("GET", "/v1/staff/moderation?mine=perhaps&limit=0&cursor=zzz", None, staff),
    ]
    for method, url, body, who in refusals:
        response = await client.request(method, url, json=body, headers=who.headers)
        problem = assert_problem(response, 400)
        assert problem["errors"] and not library_words(problem), (url, problem)


async def test_a_post_a_report_and_a_hide_name_each_bad_field_in_words(client, staff):
    group = await create_group(client, staff)
    graduate = await helpers.graduate(client, staff)
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)).status_code < 300
    posts = f"/v1/groups/{group['id']}/posts"
    problem = assert_problem(await client.post(posts, json={"body": "", "reply_to": 0}, headers=graduate.headers), 400)
    assert fields(problem) == {
        "body": "must not be empty",
        "reply_to": "must be a whole number from 1 to 9223372036854775807",
    }
    too_long = await client.post(posts, json={"body": "x" * 2001}, headers=graduate.headers)
    assert fields(assert_problem(too_long, 400)) == {"body": "must be at most 2000 characters long"}
    posted = await client.post(posts, json={"body": "Ninety days today."}, headers=graduate.headers)
    assert posted.status_code == 201, posted.text
    post = f"/v1/posts/{posted.json()['id']}"
    report = await client.post(f"{post}/report", json={"reason": "rude", "note": "x" * 501}, headers=staff.headers)
    assert fields(assert_problem(report, 400)) == {
        "reason": "must be one of unsafe, harassment, spam, other",
        "note": "must be at most 500 characters long",
    }
    reaction = await client.put(f"{post}/reaction", json={"kind": "love"}, headers=graduate.headers)
    assert fields(assert_problem(reaction, 400)) == {"kind": "must be one of support"}
    # Peer text refuses what hides what it says (a right-to-left override) and blank text:
    # said as what to fix, not as "not in the expected form" (a pattern without a meaning).
    for url, body, who in (
        (posts, {"body": "see \u202e txt.exe"}, graduate),
        (f"{post}/hide", {"reason": " "}, staff),
    ):
        message = fields(assert_problem(await client.post(url, json=body, headers=who.headers), 400))
        assert len(message) == 1 and "expected form" not in next(iter(message.values())), (url, message)


def test_every_regex_a_request_may_fail_has_a_meaning(settings):
    """A new pattern in a schema fails here until people are told what it means."""
    from api.app import create_app

    patterns: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(create_app(settings).openapi_schema.to_schema())
    assert patterns and patterns <= set(PATTERN_MEANINGS), patterns - set(PATTERN_MEANINGS)


@pytest.mark.clock_instants(*ONCE)  # Tuesday 2026-06-16, 18:59:50 in Chicago
async def test_from_and_to_take_a_date_meaning_the_start_of_that_day_where_the_group_meets(client, staff):
    group = await create_group(client, staff)  # Tuesdays 19:00-20:30 in America/Chicago
    graduate = await helpers.graduate(client, staff, timezone="America/Chicago")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)).status_code < 300
    for url in (f"/v1/groups/{group['id']}/sessions", "/v1/me/sessions"):

        async def starts(params: dict, url: str = url) -> list[str]:
            response = await client.get(url, params=params, headers=graduate.headers)
            assert response.status_code == 200, response.text
            return [s["starts_at"] for s in response.json()["items"]]

        # Tuesday the 23rd in Chicago holds the 19:00 session, which is Wednesday 00:00 in UTC:
        assert await starts({"from": "2026-06-23", "to": "2026-06-24"}) == ["2026-06-24T00:00:00Z"]
        assert await starts({"from": "2026-06-24", "to": "2026-06-25"}) == []
        assert await starts({"from": "2026-06-23", "to": "2026-06-24T12:00:00Z"}) == ["2026-06-24T00:00:00Z"]
        # A date-time still means that instant (the session ends at 01:30 UTC).
        assert await starts({"from": "2026-06-24T01:30:00Z", "to": "2026-06-30T00:00:00Z"}) == []


@pytest.mark.clock_instants(*ONCE)
async def test_a_bad_from_or_to_is_named_as_sent(client, staff, graduate):
    group = await create_group(client, staff)
    for url in (f"/v1/groups/{group['id']}/sessions", "/v1/me/sessions"):
        for params, field in [
            ({"from": "next tuesday"}, "from"),
            ({"to": "2026-02-30"}, "to"),
            ({"from": "2026-06-23T25:00:00Z"}, "from"),
            ({"to": "x" * 65}, "to"),
        ]:
            problem = assert_problem(await client.get(url, params=params, headers=graduate.headers), 400)
            assert [e["field"] for e in problem["errors"]] == [field], problem
            assert problem["errors"][0]["source"] == "query"
            assert "start" not in problem["detail"] and "end" not in problem["detail"], problem


async def test_the_dashboard_shows_every_field_the_api_named_once_each(client, staff):
    from streamlit.testing.v1 import AppTest

    answer = await client.post(ENROL, json={"alias": "", "phone": "call me"}, headers=staff.headers)
    problem = assert_problem(answer, 400)
    lines = [f"{e['field']}: {e['message']}" for e in problem["errors"]]
    assert len(lines) == 4

    def page(status: int, problem: dict) -> None:
        from admin_dashboard.client import ApiError
        from admin_dashboard.state import refused

        refused(ApiError(status, problem["detail"], problem["code"], problem["errors"]))

    at = AppTest.from_function(page, args=(400, problem)).run()
    shown = "\n".join(as_read(str(e.value)) for e in at.error)  # as a reader sees Markdown's escapes
    assert not at.exception and len(at.error) == 1
    assert all(shown.count(line) == 1 for line in lines), shown


async def test_a_made_up_field_is_named_back_cut_short(client):
    """A field the request does not have is named, but what a client invents could be
    anything and any length: named back at most 40 characters and an ellipsis."""
    made_up = "x" * 5000
    answer = await client.post("/v1/auth/login", json={"email": "a@example.org", "password": "p", made_up: 1})
    problem = assert_problem(answer, 400, "validation_failed")
    assert fields(problem) == {"x" * 40 + "…": "is not a field of this request"}
    assert made_up not in answer.text


async def test_a_made_up_field_named_like_a_regex_is_echoed_but_not_taken_for_library_words(client, graduate):
    # Found by the fuzz walk: a key equal to a regex, named back as the client sent it.
    key = r"^([\w.\[\]]+): (.+)$"
    response = await client.put("/v1/me/notification-preferences", json={key: 1}, headers=graduate.headers)
    problem = assert_problem(response, 400, "validation_failed")
    assert fields(problem)[key] == "is not a field of this request"
    assert not library_words(problem)
    assert library_words({"detail": "mood: Expected `int`", "errors": [{"field": "mood", "message": "x"}]})
