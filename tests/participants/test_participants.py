"""Staff work on graduates, with its authorization and its audit trail."""

import datetime as dt
import json
import uuid

from tests import helpers
from tests.helpers import assert_problem


async def audit_rows(conn, action=None):
    return await conn.fetch("select * from audit_log where ($1::text is null or action = $1) order by id", action)


async def test_enrol_returns_the_profile_and_a_code(client, conn, staff):
    enrolled = await helpers.enroll(
        client,
        staff,
        alias="Jo",
        email="jo@example.org",
        phone="+1 555 0100",
        counselor_id=staff.id,
        sobriety_date="2026-01-02",
    )
    assert enrolled["alias"] == "Jo" and enrolled["status"] == "pending"
    assert enrolled["counselor_id"] == staff.id and enrolled["sobriety_date"] == "2026-01-02"
    [row] = await audit_rows(conn, "participant.create")
    assert str(row["participant_id"]) == enrolled["id"] and str(row["actor_id"]) == staff.id
    assert row["method"] == "POST" and row["path"] == "/v1/staff/participants"


async def test_status_follows_activation_and_deactivation(client, staff):
    enrolled = await helpers.enroll(client, staff)
    url = f"/v1/staff/participants/{enrolled['id']}"
    await helpers.activate(client, enrolled["activation_code"])
    assert (await client.get(url, headers=staff.headers)).json()["status"] == "active"
    assert (await client.post(url + "/deactivate", headers=staff.headers)).json()["status"] == "deactivated"
    assert_problem(await client.post(url + "/activation-code", headers=staff.headers), 409)
    assert (await client.post(url + "/reactivate", headers=staff.headers)).json()["status"] == "active"


async def test_counselor_must_be_staff(client, staff, graduate):
    body = {"alias": "A", "timezone": "UTC", "iop_completed_on": "2026-11-01", "counselor_id": graduate.id}
    response = await client.post("/v1/staff/participants", json=body, headers=staff.headers)
    assert assert_problem(response, 400)["errors"][0]["field"] == "counselor_id"


async def test_list_filters_and_pages(client, conn, hasher, staff):
    other = await helpers.account(client, conn, hasher, ["staff"])
    mine = [await helpers.enroll(client, staff, alias=f"Mine{i}", counselor_id=staff.id) for i in range(5)]
    await helpers.enroll(client, staff, alias="Theirs", counselor_id=other.id)
    await helpers.activate(client, mine[0]["activation_code"])

    seen, cursor = [], None
    while True:
        params = {"counselor_id": staff.id, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/staff/participants", params=params, headers=staff.headers)).json()
        seen += [p["alias"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"Mine{i}" for i in reversed(range(5))]  # newest first, no repeats

    active = await client.get("/v1/staff/participants", params={"status": "active"}, headers=staff.headers)
    assert [p["alias"] for p in active.json()["items"]] == ["Mine0"]
    everyone = await client.get("/v1/staff/participants", headers=staff.headers)
    assert len(everyone.json()["items"]) == 6 and everyone.json()["next_cursor"] is None


async def test_a_list_read_writes_one_audit_row_naming_every_participant_shown(client, conn, staff):
    ids = {(await helpers.enroll(client, staff))["id"] for _ in range(3)}
    await client.get("/v1/staff/participants", params={"limit": 2}, headers=staff.headers)
    [row] = await audit_rows(conn, "participant.list")
    assert len(row["participant_ids"]) == 2 and set(map(str, row["participant_ids"])) <= ids


async def test_read_and_update_are_audited(client, conn, staff):
    enrolled = await helpers.enroll(client, staff)
    url = f"/v1/staff/participants/{enrolled['id']}"
    assert (await client.get(url, headers=staff.headers)).status_code == 200
    response = await client.patch(
        url, json={"alias": "Sammy", "phone": None, "timezone": "Europe/Berlin"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["alias"] == "Sammy" and response.json()["timezone"] == "Europe/Berlin"
    [read] = await audit_rows(conn, "participant.read")
    [update] = await audit_rows(conn, "participant.update")
    assert str(read["participant_id"]) == enrolled["id"]
    assert json.loads(update["details"]) == {"fields": ["alias", "phone", "timezone"]}  # names, never values
    assert read["client_ip"]


async def test_unknown_and_non_participant_ids_are_404(client, staff, admin):
    for target in (str(uuid.uuid4()), admin.id, staff.id):
        assert_problem(await client.get(f"/v1/staff/participants/{target}", headers=staff.headers), 404)
        response = await client.patch(f"/v1/staff/participants/{target}", json={"alias": "x"}, headers=staff.headers)
        assert_problem(response, 404)
        assert_problem(await client.post(f"/v1/staff/participants/{target}/deactivate", headers=staff.headers), 404)


async def test_graduates_and_facilitators_are_kept_out_of_staff_routes(client, conn, hasher, staff, graduate):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    other = await helpers.graduate(client, staff, alias="Other")
    for actor in (graduate, facilitator):
        assert_problem(await client.get("/v1/staff/participants", headers=actor.headers), 403, "forbidden")
        assert_problem(await client.get(f"/v1/staff/participants/{other.id}", headers=actor.headers), 403)
        assert_problem(await client.get("/v1/staff/audit", headers=actor.headers), 403)
        response = await client.post("/v1/staff/participants", json={"alias": "x"}, headers=actor.headers)
        assert_problem(response, 403)
    assert_problem(await client.get("/v1/staff/participants"), 401)


async def test_a_graduate_sees_only_their_own_data(client, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Zed", email="zed@example.org")
    mine = (await client.get("/v1/me", headers=graduate.headers)).json()
    assert mine["id"] == graduate.id and mine["alias"] == "Sam"
    export = (await client.get("/v1/me/export", headers=graduate.headers)).text
    assert other.id not in export and "zed@example.org" not in export
    # Staff-only routes about the other graduate are closed to graduates, whatever the id.
    assert_problem(await client.get(f"/v1/staff/participants/{other.id}", headers=graduate.headers), 403)


async def test_staff_are_not_admins(client, staff):
    assert_problem(await client.get("/v1/staff/accounts", headers=staff.headers), 403)
    assert_problem(await client.get("/v1/staff/audit", headers=staff.headers), 403)


async def test_admin_manages_accounts(client, admin):
    body = {"email": "Facil@Example.org", "name": "Pat", "roles": ["facilitator"]}
    created = await client.post("/v1/staff/accounts", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["account"]["roles"] == ["facilitator"]
    password = "violet tram umbrella quietly"  # chosen by Pat, with the set-up code
    setup = await client.post("/v1/auth/setup", json={"code": created.json()["setup_code"], "password": password})
    assert setup.status_code == 201, setup.text
    assert_problem(
        await client.post("/v1/staff/accounts", json=body | {"email": "facil@example.org"}, headers=admin.headers), 409
    )
    listed = (await client.get("/v1/staff/accounts", headers=admin.headers)).json()["items"]
    assert {a["email"] for a in listed} >= {"Facil@Example.org", admin.email}
    signed_in = await client.post("/v1/auth/login", json={"email": "facil@example.org", "password": password})
    assert signed_in.status_code == 201
    assert_problem(await client.post(f"/v1/staff/accounts/{admin.id}/deactivate", headers=admin.headers), 409)


async def test_admin_reads_the_audit_log_with_filters(client, admin, staff):
    enrolled = await helpers.enroll(client, staff)
    await client.get(f"/v1/staff/participants/{enrolled['id']}", headers=staff.headers)
    await client.get(f"/v1/staff/participants/{enrolled['id']}", headers=admin.headers)
    response = await client.get(
        "/v1/staff/audit",
        params={"participant_id": enrolled["id"], "action": "participant.read"},
        headers=admin.headers,
    )
    items = response.json()["items"]
    assert [i["actor_id"] for i in items] == [admin.id, staff.id]
    by_actor = await client.get("/v1/staff/audit", params={"actor_id": staff.id, "limit": 1}, headers=admin.headers)
    page = by_actor.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await client.get(
        "/v1/staff/audit", params={"actor_id": staff.id, "cursor": page["next_cursor"]}, headers=admin.headers
    )
    assert [i["action"] for i in page["items"] + rest.json()["items"]] == ["participant.read", "participant.create"]
    since = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    later = await client.get("/v1/staff/audit", params={"since": since}, headers=admin.headers)
    assert later.json()["items"] == []
