"""Support-circle requests that meet in flight (a real server, both in flight at once): a
block that lands while the blocked person accepts an invitation never leaves the two in a
circle; invitations at once for the last place make one; five calls for help at once make
three."""

import asyncio

from tests import helpers
from tests.discussions.steps import two_members  # the world: a group with Ana and Ben

ROUNDS = 12


async def test_a_block_and_an_acceptance_at_once_never_leave_them_in_a_circle(live, conn):
    _, _, ana, ben = await two_members(live, conn)
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


async def test_five_calls_for_help_at_once_make_three(live, conn):
    _, _, ana, _ = await two_members(live, conn)
    answers = await asyncio.gather(*(live.post("/v1/me/help-now", json={}, headers=ana.headers) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 429, 429]
    assert await conn.fetchval("select count(*) from help_requests") == 3


async def test_invitations_at_once_for_the_last_place_make_one(live, conn):
    staff, group_id, ana, ben = await two_members(live, conn)
    fellows = [ben]
    for alias in ("Dee", "Eve", "Fay", "Gus", "Hal", "Ivy"):
        who = await helpers.graduate(live, staff, alias=alias)
        assert (await live.post(f"/v1/groups/{group_id}/membership", headers=who.headers)).status_code == 201
        fellows.append(who)
    for who in fellows[:4]:  # four places taken by open invitations
        invited = await live.post("/v1/me/circle/invitations", json={"person_id": who.id}, headers=ana.headers)
        assert invited.status_code == 201, invited.text
    for _ in range(ROUNDS):
        answers = await asyncio.gather(
            *(
                live.post("/v1/me/circle/invitations", json={"person_id": who.id}, headers=ana.headers)
                for who in fellows[4:]
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
        [made] = [a.json() for a in answers if a.status_code == 201]
        withdrawn = await live.post(f"/v1/me/circle/invitations/{made['id']}/decline", headers=ana.headers)
        assert withdrawn.status_code == 204
