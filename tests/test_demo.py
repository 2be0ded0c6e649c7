"""The demo data `aftercare up` loads: once, and usable through the API."""

import pytest

from api.demo import ADMIN_EMAIL, COUNSELOR_EMAIL, load_demo
from tests import helpers
from tests.clock import ONCE

# The demo's history is dated back from today (api/demo.py).
pytestmark = pytest.mark.clock_instants(*ONCE)


async def test_demo_loads_once_and_its_sign_ins_work(client, conn, hasher):
    lines = []
    logins = await load_demo(conn, hasher, progress=lines.append)
    assert logins is not None and len(logins.activation_codes) == 5
    assert any("graduate 5/5" in line for line in lines)
    assert await load_demo(conn, hasher, progress=lines.append) is None  # already there

    for email in (ADMIN_EMAIL, COUNSELOR_EMAIL):
        response = await client.post("/v1/auth/login", json={"email": email, "password": logins.password})
        assert response.status_code == 201, response.text
    tokens = await helpers.activate(client, logins.activation_codes["Sam"])
    me = (await client.get("/v1/me", headers=helpers.bearer(tokens))).json()
    assert me["alias"] == "Sam" and me["days_sober"] >= 60
    groups = (await client.get("/v1/groups", headers=helpers.bearer(tokens))).json()["items"]
    assert len(groups) == 3 and {g["format"] for g in groups} == {"in_person", "online", "hybrid"}


async def test_every_start_gives_fresh_codes_to_those_not_signed_in(client, conn, hasher):
    from api.demo import demo_graduate_codes

    first = await load_demo(conn, hasher, progress=lambda _: None)
    await helpers.activate(client, first.activation_codes["Sam"])
    codes = await demo_graduate_codes(conn, hasher)
    assert list(codes) == ["Sam", "Alex", "Jo", "Riley", "Maya"]
    assert codes["Sam"] == "(active: signed in already)"
    assert codes["Alex"] != first.activation_codes["Alex"]
    stale = await client.post("/v1/auth/activate", json={"code": first.activation_codes["Alex"]})
    helpers.assert_problem(stale, 401, "code_replaced")
    await helpers.activate(client, codes["Alex"])
