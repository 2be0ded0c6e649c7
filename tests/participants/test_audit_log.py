"""The audit log as admins read it: a read of a list is one row naming every graduate it
showed, a read of one graduate a row of their own; names beside ids; the filter by a
person's name; what the log shows once an account is deleted."""

from __future__ import annotations

import uuid

from tests import helpers


async def new_rows(conn, since: int) -> list:
    return await conn.fetch("select * from audit_log where id > $1 order by id", since)


async def last_id(conn) -> int:
    return await conn.fetchval("select coalesce(max(id), 0) from audit_log")


async def audit(client, admin, **params) -> list[dict]:
    response = await client.get("/v1/staff/audit", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_list_read_is_one_row_holding_every_graduate_it_showed(client, conn, staff, admin):
    enrolled = {(await helpers.enroll(client, staff, alias=f"Grad {i}"))["id"]: f"Grad {i}" for i in range(12)}
    before = await last_id(conn)
    listed = (await client.get("/v1/staff/participants", params={"limit": 200}, headers=staff.headers)).json()
    assert {p["id"] for p in listed["items"]} == set(enrolled)

    [row] = await new_rows(conn, before)
    assert row["action"] == "participant.list" and row["participant_id"] is None
    assert sorted(map(str, row["participant_ids"])) == sorted(enrolled)  # every read recorded, in one row

    [entry] = await audit(client, admin, action="participant.list")
    assert entry["id"] == row["id"] and entry["actor_id"] == staff.id and entry["actor_name"] == "Staff"
    assert {p["id"]: p["alias"] for p in entry["participants"]} == enrolled  # names beside the ids
    # Whose data: by one graduate's id, and by their name, the list read is found.
    one = next(iter(enrolled))
    about_one = await audit(client, admin, participant_id=one)
    assert [(e["id"], e["action"]) for e in about_one][0] == (row["id"], "participant.list")
    assert [e["action"] for e in about_one] == ["participant.list", "participant.create"]
    assert [e["id"] for e in await audit(client, admin, person=enrolled[one])] == [e["id"] for e in about_one]


async def test_a_read_of_one_graduate_is_one_row_with_their_id(client, conn, staff, admin):
    robin = await helpers.enroll(client, staff, alias="Robin")
    await helpers.enroll(client, staff, alias="Alex")
    before = await last_id(conn)
    assert (await client.get(f"/v1/staff/participants/{robin['id']}", headers=staff.headers)).status_code == 200
    [row] = await new_rows(conn, before)
    assert (row["action"], str(row["participant_id"]), row["participant_ids"]) == (
        "participant.read",
        robin["id"],
        None,
    )
    [entry] = await audit(client, admin, action="participant.read")
    assert entry["participant_id"] == robin["id"] and entry["participants"] == [{"id": robin["id"], "alias": "Robin"}]


async def test_the_name_filter_matches_actor_or_graduate_any_case_and_takes_wildcards_as_typed(
    client, conn, hasher, staff, admin
):
    dana = await helpers.account(client, conn, hasher, ["staff"])
    await conn.execute("update people set name = 'Dana Whitfield' where id = $1", uuid.UUID(dana.id))
    percent = await helpers.enroll(client, staff, alias="100% Jo")
    underscore = await helpers.enroll(client, dana, alias="Jo_Bo")
    lookalike = await helpers.enroll(client, dana, alias="JoXBo")

    def about(entries: list[dict]) -> set[str]:
        return {p["alias"] for e in entries for p in e["participants"]}

    assert about(await audit(client, admin, person="%")) == {"100% Jo"}
    assert about(await audit(client, admin, person="o_b")) == {"Jo_Bo"}
    assert about(await audit(client, admin, person="joxbo")) == {"JoXBo"}
    by_actor = await audit(client, admin, person="WHITFIELD")
    assert {e["actor_name"] for e in by_actor} == {"Dana Whitfield"}
    assert {e["participant_id"] for e in by_actor} == {underscore["id"], lookalike["id"]}
    assert percent["id"] not in {e["participant_id"] for e in by_actor}
    assert await audit(client, admin, person="nobody by this name") == []
    response = await client.get("/v1/staff/audit", params={"person": ""}, headers=admin.headers)
    assert response.status_code == 400


async def test_a_deleted_graduate_shows_as_deleted_and_their_ids_stay(client, conn, staff, admin):
    robin = await helpers.graduate(client, staff, alias="Robin")
    await helpers.enroll(client, staff, alias="Alex")
    await client.get("/v1/staff/participants", headers=staff.headers)
    export = (await client.get("/v1/me/export", headers=robin.headers)).json()["data"]
    assert (staff.id, "participant.list") in [(a["actor_id"], a["action"]) for a in export["access_to_my_record"]]

    assert (await client.delete("/v1/me", headers=robin.headers)).status_code == 200
    [listed] = await audit(client, admin, action="participant.list")
    assert {p["alias"] for p in listed["participants"]} == {None, "Alex"}  # kept by id, named no more
    assert robin.id in [p["id"] for p in listed["participants"]]
    [deleted] = await audit(client, admin, action="participant.delete")
    assert (deleted["actor_id"], deleted["actor_name"]) == (robin.id, None)  # they deleted themselves
    assert deleted["participants"] == [{"id": robin.id, "alias": None}]
    assert {e["id"] for e in await audit(client, admin, participant_id=robin.id)} >= {listed["id"], deleted["id"]}
    assert await audit(client, admin, person="Robin") == []  # a name that is gone finds nothing
