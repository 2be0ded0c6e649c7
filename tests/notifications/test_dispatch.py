"""Dispatch: real firebase-admin code against the local fake of Google's endpoints. Dead
tokens go after one attempt, transient errors are retried and then delivered, quiet hours
defer what is not urgent, opted-out kinds stay in the inbox unpushed, and two workers (or a
worker that died mid-batch) never lose or double a message."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from api.worker import PUSH_TRANSPORTS
from db import notifications as notifications_db
from notifications.dispatch import Policy, Report, dispatch_lanes, dispatch_once
from notifications.sender import LogSender, QuotaPause
from tests import helpers

NOW = dt.datetime.now(dt.UTC)
# Noon in Chicago, far from anyone's quiet hours.
NOON_CHICAGO = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time(18, 0), tzinfo=dt.UTC)


async def _device(client, who: helpers.Actor | dict, token: str, platform: str = "android") -> int:
    headers = who if isinstance(who, dict) else who.headers
    response = await client.post("/v1/me/devices", json={"token": token, "platform": platform}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _message(client, staff, who: helpers.Actor, *, urgent: bool = False) -> int:
    response = await client.post(
        "/v1/staff/notifications",
        json={"participant_id": who.id, "title": "About Thursday", "body": "Call me when you can.", "urgent": urgent},
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    [notification_id] = response.json()["notification_ids"]
    return notification_id


async def _row(conn, notification_id: int) -> asyncpg.Record:
    return await conn.fetchrow("select * from notifications where id = $1", notification_id)


async def test_a_message_reaches_every_device_discreetly(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "phone-token")
    await _device(client, await helpers.second_device(client, staff, graduate), "tablet-token", "ios")
    notification_id = await _message(client, staff, graduate)

    report = await dispatch_once(conn, sender, NOON_CHICAGO)

    assert (report.claimed, report.pushes, dict(report.states)) == (1, 2, {"sent": 1})
    [android] = fcm.delivered_to("phone-token")
    assert android["notification"] == {"title": "New message", "body": "Open the app to read it."}
    assert android["android"]["notification"]["visibility"] == "PRIVATE"
    assert android["android"]["collapse_key"] == "staff_message"
    assert android["data"] == {"kind": "staff_message", "notification_id": str(notification_id)}
    [ios] = fcm.delivered_to("tablet-token")
    assert ios["apns"]["headers"]["apns-collapse-id"] == "staff_message"
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["attempts"], row["sent_at"]) == ("sent", 1, NOON_CHICAGO)
    outcomes = await conn.fetch("select outcome, message_id from notification_deliveries order by device_id")
    assert [o["outcome"] for o in outcomes] == ["sent", "sent"] and all(o["message_id"] for o in outcomes)
    # Nothing left: the next round claims nothing and sends nothing.
    assert (await dispatch_once(conn, sender, NOON_CHICAGO)).claimed == 0
    assert len(fcm.delivered) == 2


@pytest.mark.parametrize("error", ["UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_TOKEN"])
async def test_a_dead_token_is_removed_after_one_attempt(client, conn, staff, graduate, fcm, sender, error):
    await _device(client, graduate, "dead-token")
    live = await _device(client, await helpers.second_device(client, staff, graduate), "live-token")
    fcm.fail_always("dead-token", error)
    notification_id = await _message(client, staff, graduate)

    report = await dispatch_once(conn, sender, NOON_CHICAGO)

    assert report.dead_tokens == 1
    assert [d["id"] for d in await conn.fetch("select id from devices")] == [live]
    assert (await _row(conn, notification_id))["push_state"] == "sent"  # the live device got it
    # Later messages do not try the dead token again.
    await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    assert fcm.attempts["dead-token"] == 1
    assert len(fcm.delivered_to("live-token")) == 2
    logged = await conn.fetchrow("select outcome, error_code from notification_deliveries where outcome <> 'sent'")
    assert logged["outcome"] == "dead_token" and logged["error_code"].endswith("Error")


@pytest.mark.parametrize(("transport", "protocol"), [("firebase-admin", "h2"), ("aiohttp", "http/1.1")])
async def test_over_tls_each_transport_reads_the_same_answers(
    client, conn, staff, graduate, fcm, service_account, monkeypatch, transport, protocol
):
    """As with the real FCM (and in bench/dispatch.py): TLS, where the SDK's httpx negotiates
    HTTP/2 and aiohttp HTTP/1.1; the error shapes and what the dispatcher makes of them are
    the same as over plain HTTP/1.1."""
    from firebase_admin import messaging

    monkeypatch.setenv("SSL_CERT_FILE", str(fcm.ca_file))  # read when a sender builds its client
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fcm.fcm_tls_url)
    await _device(client, graduate, "tls-live")
    await _device(client, await helpers.second_device(client, staff, graduate), "tls-dead")
    fcm.fail_always("tls-dead", "INVALID_TOKEN")
    before = fcm.protocols[protocol]
    await _message(client, staff, graduate)
    sender = PUSH_TRANSPORTS[transport](str(service_account))
    try:
        report = await dispatch_once(conn, sender, NOON_CHICAGO)
    finally:
        await sender.close()

    assert (report.pushes, report.dead_tokens, dict(report.states)) == (2, 1, {"sent": 1})
    assert len(fcm.delivered_to("tls-live")) == 1
    assert fcm.protocols[protocol] - before == 2


async def test_only_dead_tokens_means_no_device(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "gone")
    fcm.fail_always("gone", "UNREGISTERED")
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    row = await _row(conn, notification_id)
    assert row["push_state"] == "no_device"
    assert await conn.fetchval("select count(*) from devices") == 0


async def test_a_payload_fcm_refuses_fails_without_touching_the_token(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "fine-token")
    fcm.fail_always("fine-token", "INVALID_PAYLOAD")
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["last_error"]) == ("failed", "InvalidArgumentError")
    assert await conn.fetchval("select count(*) from devices") == 1


async def test_quota_exceeded_pauses_the_worker_for_retry_after_then_delivers(
    client, conn, staff, graduate, fcm, sender
):
    """FCM's 429 says how long to wait (Retry-After): the push waits at least that long, and
    the whole worker sends nothing meanwhile, another graduate's push included."""
    await _device(client, graduate, "busy-token")
    fcm.retry_after = "45"  # longer than our own first backoff (15-30 s): it must win
    fcm.fail("busy-token", "QUOTA_EXCEEDED", times=1)
    notification_id = await _message(client, staff, graduate)
    seconds = [1000.0]  # the sender's monotonic clock, ours to move
    sender.pause = QuotaPause(clock=lambda: seconds[0])

    await dispatch_once(conn, sender, NOON_CHICAGO)
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["attempts"], row["last_error"]) == ("pending", 1, "QuotaExceededError")
    assert row["not_before"] == NOON_CHICAGO + dt.timedelta(seconds=45)

    other = await helpers.graduate(client, staff, alias="Other")
    await _device(client, other, "other-token")
    other_id = await _message(client, staff, other)
    seconds[0] += 44
    report = await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(seconds=44))
    assert (report.claimed, round(report.paused_s)) == (0, 1)
    assert "paused for FCM's quota" in report.line()
    assert (await _row(conn, other_id))["push_state"] == "pending"

    seconds[0] += 2  # the pause is over: both go, once; the token stays
    report = await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(seconds=46))
    assert report.claimed == 2
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["attempts"]) == ("sent", 2)
    assert len(fcm.delivered_to("busy-token")) == len(fcm.delivered_to("other-token")) == 1
    assert await conn.fetchval("select count(*) from devices") == 2
    outcomes = [r["outcome"] for r in await conn.fetch("select outcome from notification_deliveries order by id")]
    assert outcomes == ["retry", "sent", "sent"]


async def test_a_quota_pause_longer_than_a_slice_can_wait_sends_the_rest_back(conn, client, staff, fcm, sender):
    """A long Retry-After mid-claim: the pushes not yet sent go back to the outbox, due when
    the pause ends, without a request to FCM."""
    _, ids = await _graduates_with_backlog(client, conn, staff, 3, 50)
    sender.pause.hold(600)
    report = await dispatch_once(conn, SideEffectSender(sender, lambda *_: asyncio.sleep(0)), NOON_CHICAGO)
    assert report.claimed == 0 and report.paused_s > 500  # a paused worker claims nothing

    sender.pause = QuotaPause()

    async def pause_after_first(call, pushes):
        if call == 2:
            sender.pause.hold(600)

    await dispatch_once(conn, SideEffectSender(sender, pause_after_first), NOON_CHICAGO)
    assert len(fcm.delivered) == 100
    rows = await conn.fetch("select push_state, not_before, last_error from notifications where push_state <> 'sent'")
    assert len(rows) == 50
    assert {(r["push_state"], r["last_error"]) for r in rows} == {("pending", "QuotaPause")}
    assert all(r["not_before"] >= NOON_CHICAGO + dt.timedelta(seconds=590) for r in rows)
    # Never sent: no attempt used up, no delivery logged.
    held = [r["id"] for r in await conn.fetch("select id from notifications where push_state = 'pending'")]
    assert await conn.fetchval("select array_agg(distinct attempts) from notifications where id = any($1)", held) == [0]
    logged = await conn.fetchval("select count(*) from notification_deliveries where notification_id = any($1)", held)
    assert logged == 0


async def test_unavailable_after_the_sdk_retries_is_ours_to_retry(client, conn, staff, graduate, fcm, sender):
    """firebase-admin itself retries HTTP 503 four times (about 7 s) before it reports
    UNAVAILABLE; then our backoff takes over."""
    await _device(client, graduate, "flaky-token")
    fcm.fail("flaky-token", "UNAVAILABLE", times=5)
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["last_error"]) == ("pending", "UnavailableError")
    assert fcm.attempts["flaky-token"] == 5
    await dispatch_once(conn, sender, row["not_before"])
    assert (await _row(conn, notification_id))["push_state"] == "sent"
    assert len(fcm.delivered_to("flaky-token")) == 1


async def test_a_retry_skips_the_devices_that_already_have_it(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "ok-token")
    await _device(client, await helpers.second_device(client, staff, graduate), "busy-token")
    fcm.fail("busy-token", "QUOTA_EXCEEDED", times=1)
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    row = await _row(conn, notification_id)
    _pause_over(sender)
    await dispatch_once(conn, sender, row["not_before"])
    assert (len(fcm.delivered_to("ok-token")), len(fcm.delivered_to("busy-token"))) == (1, 1)
    assert (await _row(conn, notification_id))["push_state"] == "sent"


async def test_retries_stop_at_the_limit_and_say_why(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "busy-token")
    fcm.fail_always("busy-token", "QUOTA_EXCEEDED")
    notification_id = await _message(client, staff, graduate)
    policy = Policy(max_attempts=3)
    at = NOON_CHICAGO
    for _ in range(3):
        await dispatch_once(conn, sender, at, policy)
        _pause_over(sender)
        at = (await _row(conn, notification_id))["not_before"] + dt.timedelta(seconds=1)
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["attempts"], row["last_error"]) == ("failed", 3, "QuotaExceededError")
    assert (await dispatch_once(conn, sender, at + dt.timedelta(days=1), policy)).claimed == 0
    assert fcm.attempts["busy-token"] == 3


async def test_quiet_hours_defer_and_urgent_comes_through(client, conn, staff, fcm, sender):
    who = await helpers.graduate(client, staff, timezone="America/Chicago")
    await _device(client, who, "night-token")
    routine = await _message(client, staff, who)
    urgent = await _message(client, staff, who, urgent=True)
    # 23:30 in Chicago (CST, UTC-6) on a January night.
    night = dt.datetime(2027, 1, 14, 5, 30, tzinfo=dt.UTC)

    report = await dispatch_once(conn, sender, night)

    assert report.deferred == 1
    assert (await _row(conn, urgent))["push_state"] == "sent"
    deferred = await _row(conn, routine)
    assert (deferred["push_state"], deferred["attempts"]) == ("pending", 0)
    assert deferred["not_before"] == dt.datetime(2027, 1, 14, 14, 0, tzinfo=dt.UTC)  # 08:00 CST
    assert [m["data"]["notification_id"] for m in fcm.delivered] == [str(urgent)]
    await dispatch_once(conn, sender, deferred["not_before"])
    assert (await _row(conn, routine))["push_state"] == "sent"


async def test_quiet_hours_follow_the_persons_settings(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    response = await client.put("/v1/me/notification-preferences", json={"quiet_hours": None}, headers=graduate.headers)
    assert response.status_code == 200, response.text
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, dt.datetime(2027, 1, 14, 5, 30, tzinfo=dt.UTC))  # 23:30 Chicago
    assert (await _row(conn, notification_id))["push_state"] == "sent"


async def test_an_opted_out_kind_stays_in_the_inbox_unpushed(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    response = await client.put(
        "/v1/me/notification-preferences", json={"kinds": {"staff_message": False}}, headers=graduate.headers
    )
    assert response.status_code == 200, response.text
    notification_id = await _message(client, staff, graduate)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    assert (await _row(conn, notification_id))["push_state"] == "opted_out"
    assert fcm.delivered == []
    inbox = (await client.get("/v1/me/notifications", headers=graduate.headers)).json()
    assert [(i["id"], i["title"]) for i in inbox["items"]] == [(notification_id, "About Thursday")]


async def test_an_expired_reminder_is_not_pushed(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    await conn.execute("update notifications set expires_at = $1 where id = $2", NOON_CHICAGO, notification_id)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    assert (await _row(conn, notification_id))["push_state"] == "expired"
    assert fcm.delivered == []


async def test_one_workers_lanes_share_a_backlog_exactly_once(client, conn, staff, fcm, sender, database_url):
    """A worker's two claims at once (AFTERCARE_PUSH_LANES) through one sender: each takes
    its own rows, and every push goes out once."""
    _, ids = await _graduates_with_backlog(client, conn, staff, 2, 30)
    other = await asyncpg.connect(database_url)
    try:
        report = await dispatch_lanes([conn, other], sender, NOON_CHICAGO, Policy(batch_size=25, lanes=2))
        assert (report.claimed, report.states["sent"]) == (50, 50)  # two claims of 25
        report = await dispatch_lanes([conn, other], sender, NOON_CHICAGO, Policy(batch_size=25, lanes=2))
        assert report.claimed == 10
    finally:
        await other.close()
    assert sorted(int(m["data"]["notification_id"]) for m in fcm.delivered) == sorted(ids)
    # Claimed once each: no lane took a row the other held.
    assert await conn.fetchval("select array_agg(distinct attempts) from notifications") == [1]


async def test_a_lane_that_fails_lets_the_other_finish_and_is_named(client, conn, staff, fcm, sender, database_url):
    """One lane's connection is gone: the other lane still sends and records its claim, and
    the error the worker logs is the database's own (not a group of errors it cannot name)."""
    _, ids = await _graduates_with_backlog(client, conn, staff, 2, 30)
    gone = await asyncpg.connect(database_url)
    await gone.close()
    with pytest.raises(asyncpg.InterfaceError):
        await dispatch_lanes([conn, gone], sender, NOON_CHICAGO, Policy(batch_size=25, lanes=2))
    states = dict(await conn.fetch("select push_state, count(*) from notifications group by 1"))
    assert states == {"sent": 25, "pending": 35}
    assert len(fcm.delivered) == 25


@pytest.mark.parametrize("transport", sorted(PUSH_TRANSPORTS))
async def test_two_workers_send_a_backlog_exactly_once(
    client, conn, staff, fcm, service_account, database_url, transport
):
    people = []
    for i in range(3):
        who = await helpers.graduate(client, staff)
        await _device(client, who, f"token-{i}")
        people.append(who.id)
    ids = await helpers.outbox_backlog(conn, people, 100, due=NOON_CHICAGO - dt.timedelta(minutes=5))

    async def worker() -> int:
        sender = PUSH_TRANSPORTS[transport](str(service_account))
        connection = await asyncpg.connect(database_url)
        claimed = 0
        try:
            while (report := await dispatch_once(connection, sender, NOON_CHICAGO, Policy(batch_size=20))).claimed:
                claimed += report.claimed
        finally:
            await connection.close()
            await sender.close()
        return claimed

    first, second = await asyncio.gather(worker(), worker())

    assert first + second == len(ids) == 300
    assert first > 0 and second > 0  # both took part
    sent_ids = [int(m["data"]["notification_id"]) for m in fcm.delivered]
    assert sorted(sent_ids) == sorted(ids)  # every one, none twice
    assert await conn.fetchval("select count(*) from notifications where push_state = 'sent'") == 300
    assert await conn.fetchval("select count(*) from notification_deliveries") == 300


async def test_a_worker_killed_between_claim_and_send_loses_nothing(
    client, conn, staff, graduate, fcm, sender, database_url
):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    policy = Policy(lease_s=60)
    doomed = await asyncpg.connect(database_url)
    old_claim = uuid.uuid4()
    async with doomed.transaction():
        claimed = await notifications_db.claim(doomed, NOON_CHICAGO, 10, policy.lease_s, old_claim)
    assert [r["id"] for r in claimed] == [notification_id]
    doomed.terminate()  # killed: it never sends, never finishes

    # While its lease runs, nobody else takes the row (the dead worker might yet send it)...
    assert (await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(seconds=30), policy)).claimed == 0
    # ...after it, the next worker does.
    report = await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(seconds=61), policy)
    assert dict(report.states) == {"sent": 1}
    assert len(fcm.delivered) == 1
    # A zombie finishing its old claim late changes nothing.
    stale = notifications_db.Finish(notification_id, "failed", None, True, [], "late")
    assert await notifications_db.finish(conn, old_claim, NOON_CHICAGO, [stale]) == 0
    assert (await _row(conn, notification_id))["push_state"] == "sent"


async def test_a_deactivated_person_gets_no_push(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    response = await client.post(f"/v1/staff/participants/{graduate.id}/deactivate", headers=staff.headers)
    assert response.status_code == 200, response.text
    await dispatch_once(conn, sender, NOON_CHICAGO)
    assert (await _row(conn, notification_id))["push_state"] == "expired"
    assert fcm.delivered == []


async def test_the_log_sender_logs_ids_never_text(client, conn, staff, graduate, caplog):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    with caplog.at_level("INFO", logger="aftercare.push"):
        await dispatch_once(conn, LogSender(), NOON_CHICAGO)
    assert str(notification_id) in caplog.text
    assert "Thursday" not in caplog.text and "New message" not in caplog.text and "token" not in caplog.text.lower()
    assert await conn.fetchval("select outcome from notification_deliveries") == "logged"


async def test_a_cancellation_held_past_the_start_by_quiet_hours_comes_through(
    client, conn, staff, graduate, fcm, sender
):
    await _device(client, graduate, "token")
    routine = await _message(client, staff, graduate)
    night = dt.datetime(2027, 1, 14, 5, 0, tzinfo=dt.UTC)  # 23:00 in Chicago
    # Cancelled at 23:00 for a 07:00 session: at 08:00 the news would be worthless.
    early = dt.datetime(2027, 1, 14, 13, 0, tzinfo=dt.UTC)
    later = dt.datetime(2027, 1, 14, 20, 0, tzinfo=dt.UTC)  # 14:00: the morning is soon enough
    ids = []
    for starts_at in (early, later):
        [row] = await notifications_db.insert_many(
            conn,
            [
                notifications_db.NewNotification(
                    uuid.UUID(graduate.id),
                    "session_changed",
                    f"cancelled:{starts_at}",
                    "t",
                    "b",
                    "A session was cancelled",
                    "b",
                    "{}",
                    False,
                    night,
                    starts_at,
                )
            ],
        )
        ids.append(row["id"])
    await dispatch_once(conn, sender, night)
    assert [(await _row(conn, i))["push_state"] for i in ids] == ["sent", "pending"]
    assert (await _row(conn, routine))["push_state"] == "pending"


def _pause_over(sender) -> None:
    """The worker-wide pause after a 429 runs on the sender's own clock, not the dispatcher's
    `now` these tests move: end it as the time passing would."""
    sender.pause = QuotaPause()


class SideEffectSender:
    """The real sender, with something happening in the world while a slice is in flight."""

    name = "firebase+side-effect"

    def __init__(self, real, side_effect) -> None:
        self.real, self.side_effect, self.calls = real, side_effect, 0
        self.slice_size = 100  # whatever the transport's own: the tests count slices of 100

    def paused_s(self) -> float:
        return self.real.paused_s()

    async def send(self, pushes):
        self.calls += 1
        await self.side_effect(self.calls, pushes)
        return await self.real.send(pushes)

    async def close(self) -> None:
        await self.real.close()


async def _graduates_with_backlog(client, conn, staff, people: int, per_person: int) -> tuple[list, list[int]]:
    actors = []
    for i in range(people):
        who = await helpers.graduate(client, staff, alias=f"P{i}")
        await _device(client, who, f"token-{i}")
        actors.append(who)
    return actors, await helpers.outbox_backlog(
        conn, [a.id for a in actors], per_person, due=NOON_CHICAGO - dt.timedelta(minutes=5)
    )


async def test_an_account_deleted_mid_send_costs_the_others_nothing(client, conn, staff, fcm, sender):
    (leaving, staying), _ = await _graduates_with_backlog(client, conn, staff, 2, 1)

    async def delete_account(call, pushes):
        response = await client.delete("/v1/me", headers=leaving.headers)
        assert response.status_code == 200, response.text

    report = await dispatch_once(conn, SideEffectSender(sender, delete_account), NOON_CHICAGO)
    assert report.claimed == 2
    rows = await conn.fetch("select person_id, push_state from notifications")
    assert [(str(r["person_id"]), r["push_state"]) for r in rows] == [(staying.id, "sent")]
    assert await conn.fetchval("select count(*) from notification_deliveries") == 1
    assert (await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(hours=1))).claimed == 0  # nothing resent


async def test_a_slice_that_fails_whole_resends_only_itself(client, conn, staff, fcm, sender):
    """150 pushes go out as slices of 100 and 50; the second slice's failure (say, the OAuth
    token refresh failed) must not mark the first, delivered one for a retry."""
    _, ids = await _graduates_with_backlog(client, conn, staff, 3, 50)

    async def fail_second(call, pushes):
        if call == 2:
            raise ConnectionError("token refresh failed")

    await dispatch_once(conn, SideEffectSender(sender, fail_second), NOON_CHICAGO)
    states = await conn.fetch("select push_state, count(*)::int as n from notifications group by 1 order by 1")
    assert [(r["push_state"], r["n"]) for r in states] == [("pending", 50), ("sent", 100)]
    assert len(fcm.delivered) == 100
    await dispatch_once(conn, sender, NOON_CHICAGO + dt.timedelta(hours=2))
    assert sorted(int(m["data"]["notification_id"]) for m in fcm.delivered) == sorted(ids)  # none twice


async def test_rows_taken_over_mid_batch_are_left_to_their_new_worker(client, conn, staff, fcm, sender):
    """If the lease ran out during a slow first slice and another worker claimed the rest,
    this worker must not push those too."""
    _, ids = await _graduates_with_backlog(client, conn, staff, 3, 50)
    other_claim = uuid.uuid4()

    async def taken_over(call, pushes):
        if call == 1:
            sent_now = {p.notification_id for p in pushes}
            await conn.execute(
                "update notifications set claim_id = $1 where not (id = any($2::bigint[]))", other_claim, list(sent_now)
            )

    await dispatch_once(conn, SideEffectSender(sender, taken_over), NOON_CHICAGO)
    assert len(fcm.delivered) == 100
    left = await conn.fetch("select push_state, claim_id from notifications where claim_id is not null")
    assert len(left) == 50 and {(r["push_state"], r["claim_id"]) for r in left} == {("sending", other_claim)}


async def test_a_batch_that_keeps_killing_its_worker_is_failed_in_the_end(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    policy = Policy(max_attempts=3, lease_s=60)
    at = NOON_CHICAGO
    for _ in range(3):  # three workers die holding it
        async with conn.transaction():
            await notifications_db.claim(conn, at, 10, policy.lease_s, uuid.uuid4())
        at += dt.timedelta(seconds=61)
    report = await dispatch_once(conn, sender, at, policy)
    assert report.claimed == 0
    row = await _row(conn, notification_id)
    assert (row["push_state"], row["last_error"]) == ("failed", "abandoned by its workers")
    assert fcm.delivered == []


async def test_a_reminder_carries_its_expiry_to_fcm_and_apns(client, conn, staff, graduate, fcm, sender):
    await _device(client, graduate, "token")
    notification_id = await _message(client, staff, graduate)
    expires = NOON_CHICAGO + dt.timedelta(hours=3)
    await conn.execute("update notifications set expires_at = $1 where id = $2", expires, notification_id)
    await dispatch_once(conn, sender, NOON_CHICAGO)
    [message] = fcm.delivered
    ttl = float(message["android"]["ttl"].rstrip("s"))  # from the real clock: FCM counts from receipt
    assert abs(ttl - (expires - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert message["apns"]["headers"]["apns-expiration"] == str(int(expires.timestamp()))


async def test_a_configuration_fault_retries_and_tells_operators_once(client, conn, staff, fcm, sender, caplog):
    people, ids = await _graduates_with_backlog(client, conn, staff, 2, 1)
    for i in range(2):
        fcm.fail_always(f"token-{i}", "PERMISSION_DENIED")
    with caplog.at_level("ERROR", logger="aftercare.dispatch"):
        await dispatch_once(conn, sender, NOON_CHICAGO)
    assert {(await _row(conn, i))["push_state"] for i in ids} == {"pending"}
    assert await conn.fetchval("select count(*) from devices") == 2  # not the tokens' fault
    assert caplog.text.count("configuration problem") == 1


def test_a_merged_report_says_paused_only_when_no_lane_claimed():
    paused, busy = Report(paused_s=40.0), Report(claimed=3, pushes=3)
    busy.states["sent"] = 3
    assert Report.merged([paused, Report()]).line().startswith("paused for FCM's quota")
    both = Report.merged([busy, paused])
    assert (both.claimed, both.paused_s, both.line()[:9]) == (3, 40.0, "3 claimed")
