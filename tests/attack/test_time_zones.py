"""Which time zones people and groups may be given: places both Python and the connected
PostgreSQL know (PRODUCT.md section 11). Everything else is a 400 naming the field, on every
route that takes a zone, and the database refuses what gets past the API."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from api import timezones, validation
from db import zones
from db.pool import create_pool
from tests import helpers
from tests.helpers import assert_problem

# Python knows them, and so did the API before: the tz database's pseudo-zones, and a
# zone from tzdata 2025b that the embedded PostgreSQL does not have.
PSEUDO = ["localtime", "posixrules", "Factory", "posix/America/Chicago", "right/UTC"]
LAGGING = "America/Coyhaique"


@pytest.fixture
def postgres_lags(database_url):
    """The connected PostgreSQL's zone list without America/Coyhaique, as the embedded one
    (pgserver's PostgreSQL 16.2) is: the API must refuse what its database cannot use."""
    python_knows = zones.python_zone(LAGGING) is not None
    assert python_knows, "this Python's tzdata should know America/Coyhaique (2025b)"
    real = validation.accepted_zones()
    validation.accept_zones_known_to(real - {LAGGING})
    yield
    validation.accept_zones_known_to(real)


async def _graduate_zone_routes(client, staff, graduate, group_id: str, zone: str):
    """Every way to give a person or a group a zone, answered."""
    enrol = {"alias": "Ana", "timezone": zone, "iop_completed_on": "2026-11-01"}
    account = {
        "email": f"z-{uuid.uuid4().hex[:6]}@example.org",
        "name": "Zed",
        "roles": ["facilitator"],
        "timezone": zone,
    }
    return {
        "PATCH /v1/me": await client.patch("/v1/me", json={"timezone": zone}, headers=graduate.headers),
        "POST /v1/staff/participants": await client.post("/v1/staff/participants", json=enrol, headers=staff.headers),
        "PATCH /v1/staff/participants/{id}": await client.patch(
            f"/v1/staff/participants/{graduate.id}", json={"timezone": zone}, headers=staff.headers
        ),
        "POST /v1/staff/groups": await client.post(
            "/v1/staff/groups", json=helpers.GROUP | {"timezone": zone}, headers=staff.headers
        ),
        "PATCH /v1/staff/groups/{id}": await client.patch(
            f"/v1/staff/groups/{group_id}", json={"timezone": zone}, headers=staff.headers
        ),
        "POST /v1/staff/accounts": await client.post("/v1/staff/accounts", json=account, headers=staff.headers),
    }


@pytest.mark.parametrize("zone", PSEUDO + [helpers.UNKNOWN_ZONE, "US/Eastern", "EST5EDT", "GMT"])
async def test_zones_that_are_no_place_are_refused_everywhere_with_the_field_named(client, admin, graduate, zone):
    group = await helpers.create_group(client, admin)
    before = (await client.get("/v1/me", headers=graduate.headers)).json()["timezone"]
    for route, response in (await _graduate_zone_routes(client, admin, graduate, group["id"], zone)).items():
        body = assert_problem(response, 400, "validation_failed")
        assert body["errors"][0]["field"] == "timezone", route
        assert zone not in response.text, route  # an answer never repeats what was sent
    assert (await client.get("/v1/me", headers=graduate.headers)).json()["timezone"] == before


async def test_a_zone_python_knows_but_the_database_does_not_is_refused(client, admin, graduate, postgres_lags):
    group = await helpers.create_group(client, admin)
    for route, response in (await _graduate_zone_routes(client, admin, graduate, group["id"], LAGGING)).items():
        assert_problem(response, 400, "validation_failed")
        assert response.json()["errors"][0]["field"] == "timezone", route
    assert LAGGING not in (await client.get("/v1/timezones")).json()["items"]


async def test_a_zone_the_api_accepts_but_the_database_refuses_is_a_400_not_a_500(client, graduate, conn, monkeypatch):
    # The API's list older than its database's: the database's own check answers for it.
    monkeypatch.setattr(validation, "_accepted", validation.accepted_zones() | {"localtime"})
    response = await client.patch("/v1/me", json={"timezone": "localtime"}, headers=graduate.headers)
    body = assert_problem(response, 400, "validation_failed")
    assert body["errors"][0]["field"] == "timezone" and "localtime" not in response.text
    stored = await conn.fetchval("select timezone from people where id = $1", uuid.UUID(graduate.id))
    assert stored != "localtime"


async def test_an_app_on_another_database_reads_that_databases_zones(database_url, conn):
    """The tests serve apps on servers of other PostgreSQL versions in one process (the
    fault tests start their own): the set read from one must not stand for another's."""
    other_url = f"{database_url}{'&' if '?' in database_url else '?'}application_name=another-database"
    known = validation.accepted_zones()
    pool = await create_pool(database_url, max_size=1)
    try:
        await timezones.learn_database_zones(pool, database_url)
        known = validation.accepted_zones()
        await timezones.learn_database_zones(pool, other_url)
        validation.accept_zones_known_to(known - {"UTC"}, read_from=other_url)  # as if it lacked UTC
        await timezones.learn_database_zones(pool, other_url)
        assert "UTC" not in validation.accepted_zones()  # the same database again: not read again
        await timezones.learn_database_zones(pool, database_url)
        assert validation.accepted_zones() == known  # back on the first one: read again
    finally:
        await pool.close()
        validation.accept_zones_known_to(known)


async def test_a_zone_both_know_is_accepted(client, graduate):
    # The embedded PostgreSQL does not know America/Coyhaique yet; the machine's does.
    zone = LAGGING if LAGGING in validation.accepted_zones() else "America/Punta_Arenas"
    response = await client.patch("/v1/me", json={"timezone": zone}, headers=graduate.headers)
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == zone


async def test_the_accepted_zones_are_listed_for_anyone(client, conn):
    response = await client.get("/v1/timezones")
    assert response.status_code == 200
    names = response.json()["items"]
    assert names == sorted(names) and response.json()["next_cursor"] is None
    assert {"UTC", "America/Chicago", "Asia/Kolkata", "Pacific/Kiritimati"} <= set(names)
    assert not set(names) & {"localtime", "posixrules", "Factory", "US/Eastern", "EST5EDT"}
    database = {r["name"] for r in await conn.fetch("select name from pg_timezone_names")}
    assert set(names) <= database  # each one usable in SQL
    assert all(zones.python_zone(name) is not None for name in names)  # and in Python


async def test_the_database_refuses_a_zone_it_does_not_know_whoever_writes_it(conn, client, graduate):
    # Unknown, pseudo, another spelling, a POSIX rule: `at time zone` takes the last two.
    for zone in ("Mars/Olympus_Mons", "localtime", "posix/UTC", "america/chicago", "UTC+5", "<+05>-5"):
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await conn.execute("update people set timezone = $2 where id = $1", uuid.UUID(graduate.id), zone)
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await conn.execute("insert into groups (slug, name, format, timezone) values ('g', 'G', 'online', 'Factory')")


async def test_known_time_zones_lists_the_places_the_database_knows(conn):
    known = {r["name"] for r in await conn.fetch("select name from known_time_zones")}
    database = {r["name"] for r in await conn.fetch("select name from pg_timezone_names")}
    assert known == {name for name in database if zones.is_place(name)}
    # A refresh after the server's zone list changed brings it back in line.
    await conn.execute("delete from known_time_zones where name = 'Asia/Kolkata'")
    await conn.execute("insert into known_time_zones values ('Atlantis/Capital')")
    assert await zones.refresh_known(conn) == 2
    assert {r["name"] for r in await conn.fetch("select name from known_time_zones")} == known


def test_region_zones_are_places_under_a_continent_or_an_ocean_or_utc():
    assert zones.is_region_zone("America/Argentina/Buenos_Aires")
    assert zones.is_region_zone("UTC")
    for name in ("localtime", "Factory", "posixrules", "posix/Europe/Paris", "US/Eastern", "Etc/GMT+5", "GMT"):
        assert not zones.is_region_zone(name), name
    assert zones.python_zone("Mars/Olympus_Mons") is None
    assert zones.python_zone("../../etc/passwd") is None
    assert zones.python_zone("America") is None  # a folder, not a zone
    assert str(zones.zone_of("Mars/Olympus_Mons")) == "UTC"


async def test_a_person_whose_stored_zone_went_bad_can_still_change_the_rest_and_the_zone(client, conn, graduate):
    await helpers.plant_time_zone(conn, "people", graduate.id, helpers.UNKNOWN_ZONE)
    renamed = await client.patch("/v1/me", json={"alias": "Riley"}, headers=graduate.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["timezone"] == helpers.UNKNOWN_ZONE  # as stored, until put right
    fixed = await client.patch("/v1/me", json={"timezone": "Europe/Lisbon"}, headers=graduate.headers)
    assert fixed.status_code == 200 and fixed.json()["timezone"] == "Europe/Lisbon"
