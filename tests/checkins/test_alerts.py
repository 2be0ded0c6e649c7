"""The staff alert workflow and plan overrides, with their authorization and audit."""

import datetime as dt
import json
import uuid

import pytest

from tests import helpers
from tests.clock import FEW, ONCE
from tests.helpers import assert_problem

checkin = helpers.checkin_body


@pytest.mark.clock_instants(*ONCE)
async def test_acknowledge_outreach_resolve(client, conn, staff, graduate):
    await client.post("/v1/checkins", json=checkin(need_support="talk_soon"), headers=graduate.headers)
    listed = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    assert [(a["kind"], a["severity"], a["status"], a["participant_id"]) for a in listed] == [
        ("talk_soon", "high", "open", graduate.id)
    ]
    url = f"/v1/staff/alerts/{listed[0]['id']}"
    ack = await client.post(f"{url}/acknowledge", headers=staff.headers)
    assert (
        ack.status_code == 200 and ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == staff.id
    )
    call = {"channel": "call", "reached": False, "note": "Voicemail; will try at 6."}
    assert (await client.post(f"{url}/outreach", json=call, headers=staff.headers)).status_code == 200
    text = {"channel": "text", "reached": True, "note": "Talked; coming to group Tuesday."}
    await client.post(f"{url}/outreach", json=text, headers=staff.headers)
    await client.post("/v1/checkins", json=checkin(), headers=graduate.headers)  # shows on the alert
    resolved = (
        await client.post(f"{url}/resolve", json={"note": "Safe, plan in place."}, headers=staff.headers)
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == staff.id
    timeline = [(e["kind"], e["actor_id"], e["channel"], e["reached"]) for e in resolved["events"]]
    assert timeline == [
        ("opened", None, None, None),
        ("acknowledged", staff.id, None, None),
        ("outreach", staff.id, "call", False),
        ("outreach", staff.id, "text", True),
        ("checkin", None, None, None),
        ("resolved", staff.id, None, None),
    ]
    assert_problem(await client.post(f"{url}/acknowledge", headers=staff.headers), 409)
    assert (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"] == []
    done = (await client.get("/v1/staff/alerts", params={"status": "resolved"}, headers=staff.headers)).json()["items"]
    assert [a["id"] for a in done] == [listed[0]["id"]]
    actions = [r["action"] for r in await conn.fetch("select action from audit_log order by id")]
    for action in ("alert.list", "alert.acknowledge", "alert.outreach", "alert.resolve"):
        assert action in actions
    # A new reason after resolving opens a new alert.
    await client.post("/v1/checkins", json=checkin(need_support="talk_soon"), headers=graduate.headers)
    assert len((await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]) == 1


@pytest.mark.clock_instants(*ONCE)
async def test_alert_order_and_filters(client, conn, hasher, staff):
    mine = await helpers.graduate(client, staff, alias="Mine", counselor_id=staff.id)
    other_counselor = await helpers.account(client, conn, hasher, ["staff"])
    theirs = await helpers.graduate(client, staff, alias="Theirs", counselor_id=other_counselor.id)
    await client.post("/v1/checkins", json=checkin(craving=9), headers=mine.headers)  # medium
    await client.post("/v1/checkins", json=checkin(need_support="crisis_now"), headers=theirs.headers)  # critical
    await client.post("/v1/checkins", json=checkin(used=True), headers=mine.headers)  # high
    items = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    assert [a["severity"] for a in items] == ["critical", "high", "medium"]
    mine_only = (await client.get("/v1/staff/alerts", params={"counselor_id": staff.id}, headers=staff.headers)).json()
    assert {a["alias"] for a in mine_only["items"]} == {"Mine"}
    high_up = (await client.get("/v1/staff/alerts", params={"severity": "high"}, headers=staff.headers)).json()
    assert [a["severity"] for a in high_up["items"]] == ["critical", "high"]
    page = (await client.get("/v1/staff/alerts", params={"limit": 2}, headers=staff.headers)).json()
    rest = (await client.get("/v1/staff/alerts", params={"cursor": page["next_cursor"]}, headers=staff.headers)).json()
    assert [a["id"] for a in page["items"] + rest["items"]] == [a["id"] for a in items]


@pytest.mark.clock_instants(*ONCE)
async def test_graduates_and_facilitators_reach_no_alerts_or_check_ins(client, conn, hasher, staff, graduate):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    other = await helpers.graduate(client, staff, alias="Other")
    await client.post("/v1/checkins", json=checkin(need_support="talk_soon", note="private"), headers=other.headers)
    alert_id = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"][0]["id"]
    for actor in (graduate, facilitator):
        assert_problem(await client.get("/v1/staff/alerts", headers=actor.headers), 403)
        assert_problem(await client.get(f"/v1/staff/alerts/{alert_id}", headers=actor.headers), 403)
        assert_problem(await client.get(f"/v1/staff/participants/{other.id}/checkins", headers=actor.headers), 403)
    mine = (await client.get("/v1/checkins", headers=graduate.headers)).json()["items"]
    assert mine == []
    assert_problem(await client.get("/v1/staff/alerts/999999", headers=staff.headers), 404)
    read = (await client.get(f"/v1/staff/participants/{other.id}/checkins", headers=staff.headers)).json()["items"]
    assert [c["note"] for c in read] == ["private"]
    assert await conn.fetchval("select count(*) from audit_log where action = 'participant.checkins.read'") == 1


@pytest.mark.clock_instants(*FEW)
async def test_plan_override_back_to_daily(client, staff):
    today = dt.date.today()
    graduate = await helpers.graduate(
        client, staff, timezone="UTC", iop_completed_on=str(today - dt.timedelta(days=120))
    )
    due = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()
    assert due["current_slot"]["cadence"] == "weekly"
    url = f"/v1/staff/participants/{graduate.id}/plan"
    body = {"cadence": "daily", "ends_on": str(today + dt.timedelta(days=13))}
    plan = (await client.put(url, json=body, headers=staff.headers)).json()
    assert plan["cadence"] == "daily" and plan["starts_on"] == str(today) and plan["current_slot"]["cadence"] == "daily"
    due = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()
    assert due["current_slot"]["starts_on"] == due["current_slot"]["ends_on"] == str(today)
    assert (await client.put(url, json={"cadence": "default"}, headers=staff.headers)).json()["cadence"] == "default"
    # Ending before it starts (relative to today: a fixed start would one day be past, refused for that instead).
    bad = {"cadence": "daily", "starts_on": str(today + dt.timedelta(days=10)), "ends_on": str(today + dt.timedelta(1))}
    problem = assert_problem(await client.put(url, json=bad, headers=staff.headers), 400)
    assert problem["errors"][0]["field"] == "ends_on"
    assert_problem(
        await client.put(f"/v1/staff/participants/{uuid.uuid4()}/plan", json=body, headers=staff.headers), 404
    )
    assert_problem(await client.put(url, json=body, headers=graduate.headers), 403)


@pytest.mark.clock_instants(*ONCE)
async def test_worse_news_reopens_an_acknowledged_alert(client, conn, staff, graduate):
    await client.post("/v1/checkins", json=checkin(craving=9), headers=graduate.headers)  # medium
    [alert] = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    await client.post(f"/v1/staff/alerts/{alert['id']}/acknowledge", headers=staff.headers)
    await client.post("/v1/checkins", json=checkin(craving=8), headers=graduate.headers)  # same, medium
    same = (await client.get(f"/v1/staff/alerts/{alert['id']}", headers=staff.headers)).json()
    assert same["status"] == "acknowledged" and len(same["reasons"]) == 2
    await client.post("/v1/checkins", json=checkin(need_support="crisis_now"), headers=graduate.headers)  # another kind
    await client.post(f"/v1/staff/alerts/{alert['id']}/acknowledge", headers=staff.headers)
    reopened = await conn.fetchrow("select status, acknowledged_at from alerts where id = $1", alert["id"])
    assert reopened["status"] == "acknowledged"
    crisis = [
        a
        for a in (await client.get("/v1/staff/alerts", params={"status": "open"}, headers=staff.headers)).json()[
            "items"
        ]
    ]
    assert [a["kind"] for a in crisis] == ["crisis"]
    crisis_id = crisis[0]["id"]
    await client.post(f"/v1/staff/alerts/{crisis_id}/acknowledge", headers=staff.headers)
    await client.post("/v1/checkins", json=checkin(need_support="crisis_now"), headers=graduate.headers)
    again = (await client.get(f"/v1/staff/alerts/{crisis_id}", headers=staff.headers)).json()
    assert again["status"] == "open" and again["acknowledged_at"] is None  # a second crisis needs eyes again


@pytest.mark.clock_instants(*ONCE)
async def test_bad_plan_dates_and_ids_are_4xx(client, staff, graduate):
    url = f"/v1/staff/participants/{graduate.id}/plan"
    assert_problem(
        await client.put(url, json={"cadence": "daily", "ends_on": "2020-01-01"}, headers=staff.headers), 400
    )
    assert_problem(
        await client.put(url, json={"cadence": "daily", "starts_on": "2020-01-01"}, headers=staff.headers), 400
    )
    assert_problem(await client.get("/v1/staff/alerts/99999999999999999999", headers=staff.headers), 400)
    assert_problem(await client.get("/v1/checkins", params={"to": "0001-01-05"}, headers=graduate.headers), 400)


@pytest.mark.clock_instants(*ONCE)
async def test_an_alerts_reasons_are_objects_through_the_api(client, staff, graduate):
    """Each reason is a JSON object (code, kind, severity, message), not a string holding one."""
    response = await client.post("/v1/checkins", json=helpers.checkin_body(used=True), headers=graduate.headers)
    assert response.status_code == 201
    [alert] = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    [reason] = alert["reasons"]
    assert isinstance(reason, dict) and reason["code"] and reason["message"]


@pytest.mark.clock_instants(*ONCE)
async def test_resolving_with_no_outreach_logged_needs_a_note(client, conn, staff, graduate):
    await client.post("/v1/checkins", json=checkin(need_support="talk_soon"), headers=graduate.headers)
    [alert] = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    url = f"/v1/staff/alerts/{alert['id']}/resolve"
    for body in ({}, {"note": None}, {"note": ""}, {"note": " \n\t "}):  # blank is no note
        refused = assert_problem(await client.post(url, json=body, headers=staff.headers), 422, "outcome_required")
        assert "note" in refused["detail"] and "outreach" in refused["detail"]
    row = await conn.fetchrow("select status, resolved_at from alerts where id = $1", alert["id"])
    assert (row["status"], row["resolved_at"]) == ("open", None)
    assert await conn.fetchval("select count(*) from alert_events where kind = 'resolved'") == 0
    assert await conn.fetchval("select count(*) from audit_log where action = 'alert.resolve'") == 0
    resolved = await client.post(url, json={"note": "  Talked in person; safe.  "}, headers=staff.headers)
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["resolution_note"]) == ("resolved", "Talked in person; safe.")


@pytest.mark.clock_instants(*ONCE)
async def test_after_outreach_the_resolution_note_is_optional(client, conn, staff, graduate):
    await client.post("/v1/checkins", json=checkin(used=True), headers=graduate.headers)
    [alert] = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    url = f"/v1/staff/alerts/{alert['id']}"
    outreach = {"channel": "call", "reached": True, "note": "Safe; back to daily check-ins."}
    assert (await client.post(f"{url}/outreach", json=outreach, headers=staff.headers)).status_code == 200
    resolved = await client.post(f"{url}/resolve", json={"note": "   "}, headers=staff.headers)
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["resolution_note"]) == ("resolved", None)
    assert [e["kind"] for e in resolved.json()["events"]][-2:] == ["outreach", "resolved"]


@pytest.mark.clock_instants(*ONCE)
async def test_a_list_with_timelines_carries_outreach_by_name_and_the_check_in_behind_each_alert(
    client, conn, hasher, staff
):
    robin = await helpers.graduate(client, staff, alias="Robin")
    kim = await helpers.graduate(client, staff, alias="Kim")
    sky = await helpers.graduate(client, staff, alias="Sky")
    await client.post("/v1/checkins", json=checkin(craving=9, note="first"), headers=robin.headers)  # medium
    await client.post("/v1/checkins", json=checkin(craving=9, used=True, note="rough **night**"), headers=robin.headers)
    await client.post("/v1/checkins", json=checkin(need_support="crisis_now"), headers=kim.headers)
    await client.post("/v1/checkins", json=checkin(need_support="talk_soon"), headers=sky.headers)
    colleague = await helpers.account(client, conn, hasher, ["staff"])
    await conn.execute("update people set name = 'Dana' where id = $1", uuid.UUID(colleague.id))
    [craving] = [
        a
        for a in (
            await client.get("/v1/staff/alerts", params={"participant_id": robin.id}, headers=staff.headers)
        ).json()["items"]
        if a["kind"] == "craving"
    ]
    call = {"channel": "call", "reached": False, "note": "Voicemail."}
    await client.post(f"/v1/staff/alerts/{craving['id']}/outreach", json=call, headers=colleague.headers)

    params = {"participant_id": [robin.id, kim.id], "timeline": "true"}
    listed = (await client.get("/v1/staff/alerts", params=params, headers=staff.headers)).json()["items"]
    assert {a["alias"] for a in listed} == {"Robin", "Kim"}  # Sky was not asked for
    by_kind = {(a["alias"], a["kind"]): a for a in listed}
    behind = by_kind[("Robin", "craving")]["checkin"]
    assert (behind["craving"], behind["used"], behind["note"]) == (9, True, "rough **night**")  # the latest reason
    assert by_kind[("Robin", "reported_use")]["checkin"]["note"] == "rough **night**"
    assert by_kind[("Kim", "crisis")]["checkin"]["need_support"] == "crisis_now"
    [outreach] = [e for e in by_kind[("Robin", "craving")]["events"] if e["kind"] == "outreach"]
    assert (outreach["actor_name"], outreach["actor_id"], outreach["note"]) == ("Dana", colleague.id, "Voicemail.")
    opened = by_kind[("Robin", "craving")]["events"][0]
    assert (opened["kind"], opened["actor_name"]) == ("opened", None)  # the system
    plain_list = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    assert {(a["events"], a["checkin"]) for a in plain_list} == {(None, None)}  # only when asked for
    # Whose notes were read: one row per graduate, or one row naming them all (either shape of the log).
    rows = await conn.fetch(
        "select to_jsonb(a) as row from audit_log a where action = 'alert.list' and details = '{\"timeline\": true}'"
    )
    read = [
        i
        for r in rows
        for i in (json.loads(r["row"]).get("participant_ids") or [json.loads(r["row"])["participant_id"]])
    ]
    assert sorted(read) == sorted([robin.id, kim.id])


async def test_outreach_and_a_resolve_without_a_note_at_once_never_resolve_without_an_outcome(
    client, conn, staff, graduate, api_url
):
    """The race the resolve rule must hold: outreach and a note-less resolve sent together,
    on a real server (each request its own connection), many times, either side first. A
    resolve that wins the lock finds no outreach and is refused; one that waits finds it."""
    import asyncio
    import random

    import httpx

    outcomes = set()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for _ in range(12):
            sent = await client.post("/v1/checkins", json=checkin(need_support="talk_soon"), headers=graduate.headers)
            assert sent.status_code == 201, sent.text
            alert_id = await conn.fetchval("select id from alerts where status = 'open'")
            url = f"/v1/staff/alerts/{alert_id}"

            async def outreach(url: str = url) -> int:
                await asyncio.sleep(random.random() / 100)
                body = {"channel": "call", "reached": True}
                return (await http.post(f"{url}/outreach", json=body, headers=staff.headers)).status_code

            async def resolve(url: str = url) -> int:
                await asyncio.sleep(random.random() / 100)
                return (await http.post(f"{url}/resolve", json={}, headers=staff.headers)).status_code

            logged, resolved = await asyncio.gather(outreach(), resolve())
            outcomes.add((logged, resolved))
            kinds = [
                r["kind"]
                for r in await conn.fetch("select kind from alert_events where alert_id = $1 order by id", alert_id)
            ]
            if resolved == 200:
                assert logged == 200 and kinds.index("outreach") < kinds.index("resolved"), kinds
            else:
                assert resolved == 422 and "resolved" not in kinds, (resolved, kinds)
                done = await http.post(f"{url}/resolve", json={"note": "Reached by phone."}, headers=staff.headers)
                assert done.status_code == 200, done.text
    assert outcomes <= {(200, 200), (200, 422)}, outcomes
