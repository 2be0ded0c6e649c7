"""Faults (issue 8, item 3), the push side's: what the system promises when the worker or
FCM misbehaves (the database's faults are in tests/attack/test_faults_database.py).

b) The worker is killed (SIGKILL) mid-dispatch: a new worker delivers everything; what the
   dead one had pushed but not recorded goes out again, under the same collapse key.
c) FCM answers 503 to about 30% of requests and hangs on some: everything is delivered
   within the retry limit, and no push is tried more often than the policy allows.

Each test prints what it measured (run with -s to see it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.worker import PUSH_TRANSPORTS
from notifications.dispatch import Policy, dispatch_once
from tests import helpers
from tests.fake_fcm import FakeFcm, Faults, push_key
from tests.summary import report

# --- shared by b) and c): graduates with a device each, and a backlog for them --------------


async def _graduates_with_devices(client, staff, count: int) -> list[tuple[str, str]]:
    """(person id, device token) of `count` graduates, each signed in on one phone."""
    people = []
    for i in range(count):
        who = await helpers.graduate(client, staff, alias=f"P{i}")
        token = f"phone-{i}"
        response = await client.post(
            "/v1/me/devices", json={"token": token, "platform": "android"}, headers=who.headers
        )
        assert response.status_code == 201, response.text
        people.append((who.id, token))
    return people


@pytest.fixture
def own_fcm() -> Iterator[FakeFcm]:
    """A fake FCM of this test's own, so its faults and counters touch no other test."""
    fake = FakeFcm().start()
    try:
        yield fake
    finally:
        fake.stop()


# --- b) a worker killed with SIGKILL mid-dispatch -----------------------------------------

# `aftercare worker` exactly as deployed, but for two test seams no setting reaches:
# firebase-admin's send URL (a class attribute; see ../shared/notes/firebase-admin-offline.md)
# and the dispatcher's lease (120 s in production; seconds here, so a row the dead worker held
# comes due again within the test).
WORKER = """
import functools, os
from firebase_admin import messaging
import api.worker
from notifications.dispatch import Policy
messaging._MessagingService.FCM_URL = os.environ["FAULT_FCM_URL"]
api.worker.Policy = functools.partial(Policy, lease_s=float(os.environ["FAULT_PUSH_LEASE_S"]))
from api.cli import main
main(["worker"], prog_name="aftercare")
"""
LEASE_S = 3.0
BATCH = 25  # rows a worker claims at once: the kill lands inside one claim
KILL_AFTER = 110  # deliveries: the 5th claim (rows 101-125) is in flight then


def _start_worker(database_url: str, fake: FakeFcm, credentials: Path, log: Path, transport: str) -> subprocess.Popen:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "AFTERCARE_FCM_CREDENTIALS": str(credentials),
        "AFTERCARE_PUSH_TRANSPORT": transport,
        "AFTERCARE_PUSH_BATCH_SIZE": str(BATCH),
        "AFTERCARE_DISPATCH_INTERVAL_S": "1",  # the poll that finds rows whose lease ran out
        "FAULT_FCM_URL": fake.fcm_url,
        "FAULT_PUSH_LEASE_S": str(LEASE_S),
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER], env=env, stdout=out, stderr=out, cwd=Path(__file__).parents[2]
        )


async def _wait_for(check, within_s: float, what: str) -> float:
    """Poll `check` (async, truthy when done); seconds it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within_s, f"{what}: not within {within_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


class KillAtDelivery:
    """SIGKILL a worker at exactly the n-th delivery of our notifications, from the fake's
    own thread as it accepts the message: no polling delay, so the kill lands inside a claim
    whose rows are partly accepted by FCM and not yet recorded."""

    def __init__(self, ours: set[str], nth: int) -> None:
        self.ours, self.nth, self.count = ours, nth, 0
        self.process: subprocess.Popen | None = None

    def __call__(self, message: dict) -> None:
        if message["data"].get("notification_id") not in self.ours:
            return  # a reminder the worker wrote itself, say
        self.count += 1
        if self.count == self.nth and self.process is not None:
            self.process.send_signal(signal.SIGKILL)


async def _all_sent(conn, ids: list[int]) -> bool:
    sent = await conn.fetchval("select count(*) from notifications where id = any($1) and push_state = 'sent'", ids)
    return sent == len(ids)


def _ours(fake: FakeFcm, ours: set[str]) -> list[dict]:
    with fake.lock:
        return [m for m in fake.delivered if m.get("data", {}).get("notification_id") in ours]


async def _expected_pushes(conn, ids: list[int]) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        "select n.id, d.token from notifications n join devices d using (person_id) where n.id = any($1)", ids
    )
    return [(r["id"], r["token"]) for r in rows]


def _collapse_keys(delivered: list[dict], repeated: set[str]) -> bool:
    """Whether every repeat carries exactly the collapse identity of the first copy, so a
    phone replaces the notification rather than showing it twice."""

    def identity(message: dict) -> tuple:
        return (
            message["android"].get("collapse_key"),
            message["android"]["notification"].get("tag"),
            message["apns"]["headers"].get("apns-collapse-id"),
            message["data"].get("notification_id"),
        )

    copies: dict[str, set] = {}
    for message in delivered:
        if push_key(message) in repeated:
            copies.setdefault(push_key(message), set()).add(identity(message))
    return all(len(ids) == 1 for ids in copies.values())


@pytest.mark.parametrize("transport", sorted(PUSH_TRANSPORTS))
async def test_a_worker_killed_mid_dispatch_loses_nothing(
    client, conn, staff, database_url, own_fcm, tmp_path, transport
):
    fake = own_fcm
    fake.faults = Faults(seed=8, latency_s=(0.02, 0.05))  # slow enough to be caught mid-claim
    people = await _graduates_with_devices(client, staff, 10)
    # Urgent, so quiet hours (whatever the hour the test runs) hold none of them back.
    ids = await helpers.outbox_backlog(
        conn, [p for p, _ in people], 30, due=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), urgent=True
    )
    ours = {str(i) for i in ids}
    credentials = fake.service_account(tmp_path)
    log = tmp_path / "worker.log"

    kill = KillAtDelivery(ours, KILL_AFTER)
    fake.on_delivered = kill
    kill.process = first = _start_worker(database_url, fake, credentials, log, transport)
    try:
        await asyncio.to_thread(first.wait, 60)
    finally:
        fake.on_delivered = None
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL, log.read_text()
    states = dict(await conn.fetch("select push_state, count(*) from notifications where id = any($1) group by 1", ids))
    await asyncio.sleep(0.2)  # the dead worker's last requests finish at the fake (FCM accepted them)
    accepted_by_then = len(_ours(fake, ours))

    restarted = time.monotonic()
    second = _start_worker(database_url, fake, credentials, log, transport)
    try:
        await _wait_for(lambda: _all_sent(conn, ids), within_s=30, what="every notification sent after the restart")
        full_delivery_s = time.monotonic() - restarted
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 20)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, log.read_text()
    assert log.read_text().count(f"worker started (sender: {PUSH_TRANSPORTS[transport].name})") == 2

    delivered = _ours(fake, ours)
    per_push = Counter(push_key(m) for m in delivered)
    expected = {f"{token}:{i}" for i, token in await _expected_pushes(conn, ids)}
    lost = expected - set(per_push)
    resent = {key: n - 1 for key, n in per_push.items() if n > 1}
    collapse = _collapse_keys(delivered, set(resent))
    report(
        f"[fault b, {transport}] rows {len(ids)}; SIGKILL at delivery {KILL_AFTER} ({accepted_by_then} accepted by FCM from "
        f"the dead worker in all; rows then: {dict(states)}); delivered {len(set(per_push))} of {len(expected)} pushes, lost {len(lost)}, "
        f"resent {sum(resent.values())} (to {len(resent)} pushes; each repeat under the same collapse key, tag and "
        f"apns-collapse-id: {collapse}); full delivery {full_delivery_s:.2f} s after the new worker started "
        f"(lease {LEASE_S:.0f} s)"
    )
    assert not lost
    assert set(per_push) == expected
    assert await _all_sent(conn, ids)
    # Only what the dead worker had in flight can go twice: one claim per lane at most.
    assert sum(resent.values()) <= BATCH * Policy().lanes
    assert collapse


# --- c) FCM failing 30% of requests with 503 and hanging on some ---------------------------

NOON_CHICAGO = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1), dt.time(18, 0), tzinfo=dt.UTC)
SDK_RETRIES = 4  # firebase-admin's own retries of a 500/503 (backoff 0, 1, 2, 4 s), the lean transport's too
REQUEST_TIMEOUT_S = 1.0


@pytest.mark.parametrize("transport", sorted(PUSH_TRANSPORTS))
async def test_a_flaky_fcm_delivers_everything_within_the_retry_limit(
    client, conn, staff, own_fcm, monkeypatch, tmp_path, transport
):
    from firebase_admin import messaging

    fake = own_fcm
    fake.faults = Faults(seed=3, unavailable=0.30, hang=0.08, hang_s=2.5, latency_s=(0.0, 0.01))
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fake.fcm_url)
    people = await _graduates_with_devices(client, staff, 10)
    ids = await helpers.outbox_backlog(
        conn, [p for p, _ in people], 20, due=NOON_CHICAGO - dt.timedelta(minutes=5), urgent=False
    )
    policy = Policy(max_attempts=5)
    sender = PUSH_TRANSPORTS[transport](str(fake.service_account(tmp_path)), http_timeout_s=REQUEST_TIMEOUT_S)
    started = time.monotonic()
    try:
        rounds = await _dispatch_until_settled(conn, sender, policy, NOON_CHICAGO)
    finally:
        await sender.close()
    elapsed = time.monotonic() - started

    attempts = {r["id"]: r["attempts"] for r in await conn.fetch("select id, attempts from notifications")}
    states = Counter(r["push_state"] for r in await conn.fetch("select push_state from notifications"))
    with fake.lock:
        sends, per_push, faults = dict(fake.sends), Counter(map(push_key, fake.delivered)), Counter(fake.faults_seen)
    over_limit = _over_limit(sends, attempts, policy)
    report(
        f"[fault c, {transport}] notifications {len(ids)}; requests seen by the fake {sum(sends.values())}; "
        f"503s {faults['UNAVAILABLE']}, timeouts {faults['hang']} (held {fake.faults.hang_s} s, the sender gives up "
        f"after {REQUEST_TIMEOUT_S} s); dispatch rounds {rounds}; max attempts for one notification "
        f"{max(attempts.values())} (limit {policy.max_attempts}); max requests for one push {max(sends.values())} "
        f"(limit {policy.max_attempts * (1 + SDK_RETRIES)}); delivered {states['sent']}, "
        f"lost {len(ids) - states['sent']}, over-limit {len(over_limit)}, "
        f"delivered twice {sum(n > 1 for n in per_push.values())}; {elapsed:.1f} s"
    )
    assert faults["UNAVAILABLE"] and faults["hang"], "the faults did not happen"
    assert states == {"sent": len(ids)}
    assert set(per_push) == {f"{token}:{i}" for i, token in await _expected_pushes(conn, ids)}
    # Exactly once: a 503 or a hang delivers nothing here, so a retry never repeats a push.
    assert all(n == 1 for n in per_push.values())
    assert not over_limit


async def _dispatch_until_settled(conn, sender, policy: Policy, at: dt.datetime) -> int:
    """Dispatch rounds until nothing is pending; the clock is ours, and each round runs when
    the earliest retry falls due (backoff jitter spreads them: more rounds than attempts)."""
    for rounds in range(1, 101):
        await dispatch_once(conn, sender, at, policy)
        due = await conn.fetchval("select min(not_before) from notifications where push_state = 'pending'")
        if due is None:
            return rounds
        at = max(at, due)
    raise AssertionError("still pending after 100 rounds")


def _over_limit(sends: dict[str, int], attempts: dict[int, int], policy: Policy) -> list[str]:
    """Pushes tried more often than the policy allows: more than `max_attempts` claims of
    the notification, or more requests than its claims x (1 + the SDK's own retries)."""
    over = []
    for key, requests in sends.items():
        claims = attempts[int(key.rsplit(":", 1)[1])]
        if claims > policy.max_attempts or requests > claims * (1 + SDK_RETRIES):
            over.append(key)
    return over
