"""Deleting an account in the middle of an alert (PRODUCT.md section 11): the right to delete
and the clinic's duty of care, both kept. Every deletion is audited; open alerts leave a
minimal record on the watchlist until staff acknowledge it; admins delete for those who can
no longer sign in; crisis support cannot be switched off."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import asyncpg
import pytest

from api.worker import Worker
from db import privacy as privacy_db
from db.pool import create_pool
from notifications.sender import LogSender
from tests import helpers
from tests.clock import FEW, ONCE
from tests.config import make_settings
from tests.helpers import assert_problem

NOTE = "private: I am at the bridge on 5th street"


async def _in_crisis(client, staff, alias: str = "Robin") -> helpers.Actor:
    """A graduate whose crisis check-in (with a note) opened a critical alert that staff
    acknowledged: outreach under way."""
    who = await helpers.graduate(client, staff, alias=alias, email="robin@example.org", counselor_id=staff.id)
    crisis = helpers.checkin_body(need_support="crisis_now", note=NOTE, mood=1, used=True)
    assert (await client.post("/v1/checkins", json=crisis, headers=who.headers)).status_code == 201
    alerts = (await client.get("/v1/staff/alerts", params={"participant_id": who.id}, headers=staff.headers)).json()
    critical = next(a for a in alerts["items"] if a["severity"] == "critical")
    ack = await client.post(f"/v1/staff/alerts/{critical['id']}/acknowledge", headers=staff.headers)
    assert ack.status_code == 200, ack.text
    return who


async def _watchlist(client, staff) -> list[dict]:
    response = await client.get("/v1/staff/watchlist", headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.clock_instants(*ONCE)
async def test_a_graduate_deleting_mid_alert_leaves_staff_a_minimal_record(client, conn, staff):
    robin = await _in_crisis(client, staff)
    calm = await helpers.graduate(client, staff, alias="Calm")
    talk = helpers.checkin_body(need_support="talk_soon")
    assert (await client.post("/v1/checkins", json=talk, headers=calm.headers)).status_code == 201

    response = await client.delete("/v1/me", headers=robin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["care_record_kept"] is True
    assert response.json()["deleted"]["alerts"] == 2  # crisis and reported use: the alerts themselves go

    # Audited, with the graduate as the actor, in the log that outlives the account.
    [row] = await conn.fetch("select * from audit_log where action = 'participant.delete'")
    assert (str(row["actor_id"]), str(row["participant_id"]), row["method"]) == (robin.id, robin.id, "DELETE")
    assert row["actor_roles"] == ["participant"]
    # Kept: the alias, the counselor, the time, the open alerts' kinds and severities. Nothing else.
    [kept] = await conn.fetch("select * from deleted_participants")
    assert set(dict(kept)) == {
        "person_id",
        "alias",
        "counselor_id",
        "deleted_at",
        "alerts",
        "top_severity",
        "acknowledged_at",
        "acknowledged_by",
    }
    assert (str(kept["person_id"]), kept["alias"], str(kept["counselor_id"])) == (robin.id, "Robin", staff.id)
    assert json.loads(kept["alerts"]) == [
        {"kind": "crisis", "severity": "critical"},
        {"kind": "reported_use", "severity": "high"},
    ]
    for leak in (NOTE, "robin@example.org", "bridge"):
        assert leak not in json.dumps(
            [dict(r) for r in await conn.fetch("select * from deleted_participants")], default=str
        )

    # On the watchlist, most severe first, until acknowledged.
    items = await _watchlist(client, staff)
    assert [(i["alias"], i["status"], i["top_severity"]) for i in items] == [
        ("Robin", "account_deleted", "critical"),
        ("Calm", "active", "high"),
    ]
    deleted = items[0]
    assert deleted["participant_id"] == robin.id and deleted["counselor_id"] == staff.id
    assert deleted["alerts"] == [
        {"kind": "crisis", "severity": "critical"},
        {"kind": "reported_use", "severity": "high"},
    ]
    assert deleted["open_alerts"] == 2 and deleted["deleted_at"] is not None
    assert NOTE not in json.dumps(items)
    # The counselor filter applies to it too.
    other = await client.get("/v1/staff/watchlist", params={"counselor_id": str(uuid.uuid4())}, headers=staff.headers)
    assert other.json()["items"] == []

    acknowledged = await client.post(f"/v1/staff/deleted-accounts/{robin.id}/acknowledge", headers=staff.headers)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledged_by"] == staff.id
    again = await client.post(f"/v1/staff/deleted-accounts/{robin.id}/acknowledge", headers=staff.headers)
    assert again.json()["acknowledged_at"] == acknowledged.json()["acknowledged_at"]  # once is enough
    assert [i["alias"] for i in await _watchlist(client, staff)] == ["Calm"]
    audited = await conn.fetch(
        "select details from audit_log where action = 'participant.deleted.acknowledge' and participant_id = $1"
        " order by id",
        uuid.UUID(robin.id),
    )
    assert [json.loads(r["details"]) for r in audited] == [
        {"already_acknowledged": False},
        {"already_acknowledged": True},
    ]


@pytest.mark.clock_instants(*FEW)
async def test_kept_records_are_purged_30_days_after_acknowledgement(client, conn, staff, admin, database_url):
    robin = await _in_crisis(client, staff)
    await client.delete("/v1/me", headers=robin.headers)
    never_seen = await _in_crisis(client, staff, alias="Sky")
    await client.delete("/v1/me", headers=never_seen.headers)
    await client.post(f"/v1/staff/deleted-accounts/{robin.id}/acknowledge", headers=staff.headers)
    acknowledged_at = await conn.fetchval(
        "select acknowledged_at from deleted_participants where acknowledged_at is not null"
    )

    async def purge_at(moment: dt.datetime) -> None:
        pool = await create_pool(database_url, max_size=2)
        try:
            await Worker(make_settings(database_url), pool, LogSender(), clock=lambda: moment).run_once()
        finally:
            await pool.close()

    await purge_at(acknowledged_at + dt.timedelta(days=29, hours=23))
    assert await conn.fetchval("select count(*) from deleted_participants") == 2
    await purge_at(acknowledged_at + dt.timedelta(days=30, minutes=1))
    # The one nobody acknowledged stays on the watchlist however long it takes.
    assert [r["alias"] for r in await conn.fetch("select alias from deleted_participants")] == ["Sky"]
    assert await conn.fetchval("select last_success_at from job_runs where job = 'purge'") is not None


async def test_no_record_is_kept_without_open_alerts(client, conn, staff):
    quiet = await helpers.graduate(client, staff, alias="Quiet")
    response = await client.delete("/v1/me", headers=quiet.headers)
    assert response.json()["care_record_kept"] is False
    assert await conn.fetchval("select count(*) from deleted_participants") == 0
    assert await conn.fetchval("select count(*) from audit_log where action = 'participant.delete'") == 1


@pytest.mark.clock_instants(*ONCE)
async def test_an_admin_deletes_a_deactivated_graduate_who_cannot_sign_in(client, conn, staff, admin):
    robin = await _in_crisis(client, staff)
    deactivated = await client.post(f"/v1/staff/participants/{robin.id}/deactivate", headers=staff.headers)
    assert deactivated.status_code == 200
    assert_problem(await client.delete("/v1/me", headers=robin.headers), 401)  # they cannot do it themselves
    url = f"/v1/staff/participants/{robin.id}"

    wrong = await client.request("DELETE", url, json={"confirm_alias": "robin"}, headers=admin.headers)
    body = assert_problem(wrong, 400, "validation_failed")
    assert body["errors"][0]["field"] == "confirm_alias" and "robin" not in wrong.text
    assert await conn.fetchval("select count(*) from people where id = $1", uuid.UUID(robin.id)) == 1
    assert_problem(await client.request("DELETE", url, json={"confirm_alias": "Robin"}, headers=staff.headers), 403)
    assert_problem(await client.request("DELETE", url, headers=admin.headers), 400)  # no confirmation at all

    response = await client.request("DELETE", url, json={"confirm_alias": "Robin"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["care_record_kept"] is True and response.json()["deleted"]["people"] == 1
    [row] = await conn.fetch("select actor_id, participant_id, path from audit_log where action = 'participant.delete'")
    assert (str(row["actor_id"]), str(row["participant_id"]), row["path"]) == (admin.id, robin.id, url)
    assert [i["status"] for i in await _watchlist(client, staff)] == ["account_deleted"]
    assert_problem(await client.request("DELETE", url, json={"confirm_alias": "Robin"}, headers=admin.headers), 404)
    assert_problem(await client.get(url, headers=staff.headers), 404)


async def test_a_staff_members_id_is_no_graduate_to_delete(client, conn, staff, admin):
    url = f"/v1/staff/participants/{staff.id}"
    assert_problem(await client.request("DELETE", url, json={"confirm_alias": "Staff"}, headers=admin.headers), 404)
    assert await conn.fetchval("select count(*) from people where id = $1", uuid.UUID(staff.id)) == 1


@pytest.mark.clock_instants(*ONCE)
async def test_two_deletions_at_once_delete_once_and_keep_one_record(client, conn, staff, admin):
    robin = await _in_crisis(client, staff)
    url = f"/v1/staff/participants/{robin.id}"
    answers = await asyncio.gather(
        client.delete("/v1/me", headers=robin.headers),
        client.request("DELETE", url, json={"confirm_alias": "Robin"}, headers=admin.headers),
        client.request("DELETE", url, json={"confirm_alias": "Robin"}, headers=admin.headers),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 1 and all(s in (200, 401, 404) for s in statuses), statuses
    assert await conn.fetchval("select count(*) from deleted_participants") == 1
    assert await conn.fetchval("select count(*) from audit_log where action = 'participant.delete'") == 1


async def test_no_alert_can_open_between_the_record_and_the_deletion(conn, client, staff, database_url):
    """The deletion locks the graduate's row first: an alert written meanwhile waits, then
    finds them gone, instead of vanishing unrecorded."""
    robin = await _in_crisis(client, staff)
    person = uuid.UUID(robin.id)
    deleter = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        assert await privacy_db.lock_participant(deleter, person)
        insert = asyncio.create_task(
            writer.execute("insert into alerts (person_id, kind, severity) values ($1, 'late', 2)", person)
        )
        await asyncio.sleep(0.3)
        assert not insert.done()  # waiting on the lock
        assert await privacy_db.keep_for_care(deleter, person, dt.datetime.now(dt.UTC))
        await privacy_db.delete_person(deleter, person)
        await transaction.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await insert
    finally:
        await deleter.close()
        await writer.close()


async def test_crisis_support_cannot_be_switched_off(client, conn, graduate):
    url = "/v1/me/notification-preferences"
    response = await client.put(
        url, json={"kinds": {"crisis_support": False, "announcement": False}}, headers=graduate.headers
    )
    body = assert_problem(response, 400, "validation_failed")
    assert body["errors"][0]["field"] == "kinds.crisis_support"
    assert "cannot be switched off" in body["detail"]
    current = (await client.get(url, headers=graduate.headers)).json()
    assert current["always_on"] == ["crisis_support", "help_now"]
    assert current["kinds"]["crisis_support"] is True and current["kinds"]["announcement"] is True  # nothing changed
    assert (
        await client.put(url, json={"kinds": {"crisis_support": True}}, headers=graduate.headers)
    ).status_code == 200


@pytest.mark.clock_instants(*ONCE)
async def test_an_opt_out_stored_before_the_rule_does_not_stop_a_crisis_push(
    client, conn, staff, database_url, fcm, sender
):
    who = await helpers.graduate(client, staff)
    device = await client.post("/v1/me/devices", json={"token": "phone", "platform": "ios"}, headers=who.headers)
    assert device.status_code == 201
    await conn.execute(
        "insert into notification_preferences (person_id, disabled_kinds, quiet_start, quiet_end)"
        " values ($1, array['crisis_support', 'announcement'], '22:00', '08:00')",
        uuid.UUID(who.id),
    )
    assert (await client.get("/v1/me/notification-preferences", headers=who.headers)).json()["kinds"]["crisis_support"]
    crisis = helpers.checkin_body(need_support="crisis_now")
    assert (await client.post("/v1/checkins", json=crisis, headers=who.headers)).status_code == 201
    pool = await create_pool(database_url, max_size=2)
    try:
        await Worker(make_settings(database_url), pool, sender).run_once()
    finally:
        await pool.close()
    assert await conn.fetchval("select push_state from notifications where kind = 'crisis_support'") == "sent"
    assert [m["token"] for m in fcm.delivered] == ["phone"]


async def test_an_alias_is_one_line_an_admin_can_type_back(client, staff, admin, graduate):
    for alias in ("x\n===", "Sam\n", "tab\tx", "\u202eevil\u202c", "zero\u200bwidth", "   "):
        for response in (
            await client.patch("/v1/me", json={"alias": alias}, headers=graduate.headers),
            await client.post(
                "/v1/staff/participants",
                json={"alias": alias, "timezone": "UTC", "iop_completed_on": "2026-11-01"},
                headers=staff.headers,
            ),
        ):
            body = assert_problem(response, 400, "validation_failed")
            assert body["errors"][0]["field"] == "alias", alias
    # Spaces as they read: doubled or trailing ones need not be typed exactly.
    spaced = await helpers.graduate(client, staff, alias="Mary  Ann ")
    url = f"/v1/staff/participants/{spaced.id}"
    response = await client.request("DELETE", url, json={"confirm_alias": "Mary Ann"}, headers=admin.headers)
    assert response.status_code == 200, response.text
