"""Truly concurrent requests (a real server, many requests in flight). The row locks in
the SQL keep these right: without them the login, reissue and join tests fail (checked by
removing each lock). The leave test passes even without the group lock, because the seat
count's own row update serialises leaves; it stays as a guard on the outcome."""

import asyncio
import uuid

import pytest

from tests import helpers
from tests.clock import ONCE
from tests.helpers import group_now, member


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
    # Exactly ten passwords were checked; the other twenty met this address's lock.
    row = await conn.fetchrow(
        "select f.failures, f.locked_until > now() as locked, p.failed_logins from sign_in_failures f "
        "join people p on p.id = f.person_id where p.email = $1",
        staff.email,
    )
    assert (row["failures"], row["locked"], row["failed_logins"]) == (10, True, 10)


async def test_parallel_wrong_codes_are_all_counted_and_only_five_checked(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    code = (await helpers.enroll(live, staff))["activation_code"]
    raw = code.replace("-", "")
    guesses = [raw[:4] + digit * 6 for digit in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" if digit * 6 != raw[4:]][:30]
    answers = await asyncio.gather(*[live.post("/v1/auth/activate", json={"code": g}) for g in guesses])
    # Four wrong, the fifth locks the code; the other 25 met the lock, whichever came first.
    assert sorted(a.status_code for a in answers) == [401] * 4 + [423] * 26, [a.text for a in answers]
    assert await conn.fetchval("select failed_attempts from activation_codes") == 5
    assert (await live.post("/v1/auth/activate", json={"code": code})).status_code == 423


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


async def test_one_client_id_sent_at_once_with_two_sets_of_answers_stores_one_and_refuses_the_other(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    graduate = await helpers.graduate(live, staff)
    for _ in range(5):
        calm = helpers.checkin_body(used=False, mood=4)
        used = calm | {"used": True, "mood": 1}
        bodies = [calm, used] * 4
        answers = await asyncio.gather(*[live.post("/v1/checkins", json=b, headers=graduate.headers) for b in bodies])
        winner = next(b for b, a in zip(bodies, answers, strict=True) if a.status_code == 201)
        for sent, answer in zip(bodies, answers, strict=True):
            if sent is winner:
                assert answer.status_code in (200, 201) and answer.json()["used"] == winner["used"], answer.text
            else:
                assert answer.status_code == 409 and answer.json()["code"] == "idempotency_conflict", answer.text
                assert sorted(e["field"] for e in answer.json()["errors"]) == ["mood", "used"]
        assert sorted(a.status_code for a in answers) == [200] * 3 + [201] + [409] * 4
        rows = await conn.fetch("select used, mood from checkins where client_id = $1", uuid.UUID(calm["client_id"]))
        assert [(r["used"], r["mood"]) for r in rows] == [(winner["used"], winner["mood"])]


@pytest.mark.clock_instants(*ONCE)
async def test_sixty_wrong_check_in_codes_at_once_get_five_compared(live, conn):
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    group, session = await group_now(live, staff, minutes_from_now=-10)
    url = f"/v1/sessions/{session['id']}/check-in"
    code = (await live.get(f"/v1/sessions/{session['id']}/roster", headers=staff.headers)).json()["check_in_code"]
    wrong = [f"{i:06d}" for i in range(61) if f"{i:06d}" != code][:60]
    for _ in range(3):
        graduate = await member(live, staff, group)
        answers = await asyncio.gather(*[live.post(url, json={"code": c}, headers=graduate.headers) for c in wrong])
        codes = sorted(a.json()["code"] for a in answers)
        assert codes == ["too_many_tries"] * 55 + ["validation_failed"] * 5, codes
        assert {a.status_code for a in answers} == {400, 429}
        failures = await conn.fetchval(
            "select failures from session_check_in_failures where session_id = $1 and person_id = $2",
            session["id"],
            uuid.UUID(graduate.id),
        )
        assert failures == 5
        # Locked out, the right code is not compared either (it would tell which code was right).
        right = await live.post(url, json={"code": code}, headers=graduate.headers)
        assert right.status_code == 429 and right.json()["code"] == "too_many_tries"
        attendance = "select count(*) from session_attendance where person_id = $1"
        assert await conn.fetchval(attendance, uuid.UUID(graduate.id)) == 0
