"""Support-circle requests that meet in flight (a real server, both in flight at once): a
block that lands while the blocked person accepts an invitation never leaves the two in a
circle; five calls for help at once make three."""

import asyncio

from tests import helpers
from tests.test_races import live  # noqa: F401  (the fixture: a served app, requests in flight at once)

ROUNDS = 12


async def pair(http, conn):
    staff = await helpers.account(http, conn, helpers.Hasher("cheapest"), ["staff"])
    group = await helpers.create_group(http, staff)
    ana = await helpers.graduate(http, staff, alias="Ana")
    ben = await helpers.graduate(http, staff, alias="Ben")
    for member in (ana, ben):
        assert (await http.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)).status_code == 201
    return ana, ben


async def test_a_block_and_an_acceptance_at_once_never_leave_them_in_a_circle(live, conn):  # noqa: F811
    ana, ben = await pair(live, conn)
    outcomes = set()
    for _ in range(ROUNDS):
        invited = await live.post("/v1/me/circle/invitations", json={"person_id": ben.id}, headers=ana.headers)
        assert invited.status_code == 201, invited.text
        accepted, blocked = await asyncio.gather(
            live.post(f"/v1/me/circle/invitations/{invited.json()['id']}/accept", headers=ben.headers),
            live.post("/v1/me/blocks", json={"person_id": ben.id}, headers=ana.headers),
        )
        assert accepted.status_code in (200, 404) and blocked.status_code == 201, (accepted.text, blocked.text)
        outcomes.add(accepted.status_code)
        assert await conn.fetchval("select count(*) from circle_members") == 0
        assert await conn.fetchval("select count(*) from circle_invitations where answered_at is null") == 0
        assert (await live.delete(f"/v1/me/blocks/{ben.id}", headers=ana.headers)).status_code == 204
    print(f"accept vs block, {ROUNDS} rounds: accept answered {sorted(outcomes)}")


async def test_five_calls_for_help_at_once_make_three(live, conn):  # noqa: F811
    ana, _ = await pair(live, conn)
    answers = await asyncio.gather(*(live.post("/v1/me/help-now", json={}, headers=ana.headers) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 429, 429]
    assert await conn.fetchval("select count(*) from help_requests") == 3
