from tests.helpers import assert_problem


async def test_health(client):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    assert (await client.get("/health/ready")).json() == {"status": "ok"}


async def test_enroll_and_activate(client, staff, graduate):
    me = await client.get("/v1/me", headers=graduate.headers)
    assert me.status_code == 200, me.text
    assert me.json()["alias"] == "Sam"


async def test_unknown_route_is_problem(client):
    assert_problem(await client.get("/nope"), 404)
