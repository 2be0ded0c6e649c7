"""Steps the discussion tests share: posting as someone of the `circle` fixture
(tests/discussions/conftest.py), and the small world of the races."""

from __future__ import annotations

from tests import helpers


async def post(client, circle, who, body, **extra):
    """`who` of the `circle` fixture (tests/discussions/conftest.py) posts `body` to its group."""
    return await client.post(
        f"/v1/groups/{circle['group']['id']}/posts", json={"body": body, **extra}, headers=circle[who].headers
    )


async def two_members(http, conn):
    """A staff member, a group of theirs, and Ana and Ben, its two members (through `http`,
    the served app): (staff, group id, ana, ben)."""
    staff = await helpers.account(http, conn, helpers.Hasher("cheapest"), ["staff"])
    group = await helpers.create_group(http, staff)
    ana = await helpers.graduate(http, staff, alias="Ana")
    ben = await helpers.graduate(http, staff, alias="Ben")
    for member in (ana, ben):
        assert (await http.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)).status_code == 201
    return staff, group["id"], ana, ben
