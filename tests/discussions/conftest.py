"""Fixtures of the discussion tests."""

from __future__ import annotations

import pytest

from tests import helpers


@pytest.fixture
async def circle(client, staff, conn, hasher):
    """A group with two members and a facilitator, and a graduate outside it."""
    group = await helpers.create_group(client, staff)
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    await conn.execute("insert into group_facilitators values ($1, $2)", group["id"], facilitator.id)
    ana = await helpers.graduate(client, staff, alias="Ana")
    ben = await helpers.graduate(client, staff, alias="Ben")
    outsider = await helpers.graduate(client, staff, alias="Cy")
    for member in (ana, ben):
        response = await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)
        assert response.status_code == 201, response.text
    return {"group": group, "facilitator": facilitator, "ana": ana, "ben": ben, "outsider": outsider, "staff": staff}
