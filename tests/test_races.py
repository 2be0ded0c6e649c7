"""Truly concurrent requests (a real server, many requests in flight). The row locks in
the SQL keep these right: without them the login, reissue and join tests fail (checked by
removing each lock). The leave test passes even without the group lock, because the seat
count's own row update serialises leaves; it stays as a guard on the outcome."""

import asyncio
import uuid

import httpx
import pytest

from tests import helpers
from tests.conftest import make_settings
from tests.live_server import LiveServer


@pytest.fixture
async def live(database_url, conn):
    with LiveServer(make_settings(database_url)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http


async def test_one_code_redeemed_at_once_by_many_gives_one_session(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    code = (await helpers.enroll(live, staff))["activation_code"]
    answers = await asyncio.gather(*[live.post("/v1/auth/activate", json={"code": code}) for _ in range(8)])
    assert sorted(a.status_code for a in answers) == [201] + [401] * 7
    graduate_sessions = await conn.fetchval(
        "select count(*) from auth_sessions s join people p on p.id = s.person_id where 'participant' = any(p.roles)"
    )
    assert graduate_sessions == 1


async def test_parallel_wrong_passwords_are_all_counted(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    guesses = [{"email": staff.email, "password": f"guess {i}"} for i in range(30)]
    answers = await asyncio.gather(*[live.post("/v1/auth/login", json=g) for g in guesses])
    assert all(a.status_code == 401 for a in answers)
    # Exactly ten passwords were checked; the other twenty met the lock.
    row = await conn.fetchrow(
        "select failed_logins, locked_until > now() as locked from people where email = $1", staff.email
    )
    assert row["failed_logins"] == 10 and row["locked"]


async def test_parallel_reissues_leave_one_live_code(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    enrolled = await helpers.enroll(live, staff)
    url = f"/v1/staff/participants/{enrolled['id']}/activation-code"
    answers = await asyncio.gather(*[live.post(url, headers=staff.headers) for _ in range(6)])
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    live_codes = await conn.fetchval(
        "select count(*) from activation_codes where person_id = $1 and used_at is null and revoked_at is null",
        enrolled["id"],
    )
    assert live_codes == 1


async def test_a_refresh_token_sent_twice_at_once_rotates_once_and_keeps_the_session(live, conn):
    # A phone that retries, or two parts of an app: both get the same successor, the session lives.
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    for _ in range(15):
        graduate = await helpers.graduate(live, staff)
        body = {"refresh_token": graduate.tokens["refresh_token"]}
        answers = await asyncio.gather(*[live.post("/v1/auth/refresh", json=body) for _ in range(3)])
        assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
        assert len({a.json()["refresh_token"] for a in answers}) == 1
        for answer in answers:
            assert (await live.get("/v1/me", headers=helpers.bearer(answer.json()))).status_code == 200
        tokens = await conn.fetch(
            """
            select s.revoked_at, rt.used_at is not null as used from refresh_tokens rt
            join auth_sessions s on s.id = rt.session_id where s.person_id = $1
            """,
            graduate.id,
        )
        assert sorted((t["revoked_at"], t["used"]) for t in tokens) == [(None, False), (None, True)]


async def test_a_freed_seat_goes_to_exactly_one_person_when_many_leave_at_once(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    group = await helpers.create_group(live, staff, capacity=3)
    url = f"/v1/groups/{group['id']}/membership"
    people = [await helpers.graduate(live, staff, alias=f"P{i}") for i in range(8)]
    for person in people:  # three members, five waiting, in this order
        await live.post(url, headers=person.headers)
    leaving = people[:3]
    answers = await asyncio.gather(*[live.delete(url, headers=p.headers) for p in leaving])
    assert all(a.status_code == 200 for a in answers)
    rows = await conn.fetch(
        "select p.name, m.status from group_members m join people p on p.id = m.person_id "
        "where m.group_id = $1 order by m.status, m.since, p.name",
        uuid.UUID(group["id"]),
    )
    assert [(r["name"], r["status"]) for r in rows] == [
        ("P3", "member"),
        ("P4", "member"),
        ("P5", "member"),
        ("P6", "waitlisted"),
        ("P7", "waitlisted"),
    ]
    assert await conn.fetchval("select member_count from groups where id = $1", uuid.UUID(group["id"])) == 3


async def test_many_joining_a_nearly_full_group_at_once(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    group = await helpers.create_group(live, staff, capacity=2)
    people = [await helpers.graduate(live, staff, alias=f"J{i}") for i in range(6)]
    url = f"/v1/groups/{group['id']}/membership"
    answers = await asyncio.gather(*[live.post(url, headers=p.headers) for p in people])
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["member", "member", "waitlisted", "waitlisted", "waitlisted", "waitlisted"]
    positions = sorted(a.json()["waitlist_position"] for a in answers if a.json()["status"] == "waitlisted")
    assert positions == [1, 2, 3, 4]


async def test_the_same_check_in_sent_many_times_at_once_is_stored_once(live, conn):

    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    graduate = await helpers.graduate(live, staff)
    body = helpers.checkin_body(mood=3, craving=9)
    answers = await asyncio.gather(*[live.post("/v1/checkins", json=body, headers=graduate.headers) for _ in range(8)])
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await conn.fetchval("select count(*) from checkins") == 1
    assert await conn.fetchval("select count(*) from alerts") == 1  # one craving alert, not eight
