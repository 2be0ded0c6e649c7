"""Dispatch: claim due notifications, apply each person's preferences, push, record.

At least once, never twice for a claim: rows are claimed with `FOR UPDATE SKIP LOCKED` and
a lease, so two workers never hold the same row, and a worker that dies mid-batch leaves
its rows to come due again when the lease ends (the phone folds a repeat by collapse key).
The lease is renewed before each slice of pushes, and a slice goes out only for rows the
claim still holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast
from uuid import UUID

import asyncpg

from db import notifications as notifications_db
from db.job_health import Skip
from db.zones import python_zone
from notifications import kinds
from notifications import sender as push
from notifications.quiet import quiet_until

log = logging.getLogger("aftercare.dispatch")


# FCM refusing us, not the message: the key, the project or the APNs setup is wrong.
OPERATOR_ERRORS = {"ThirdPartyAuthError", "UnauthenticatedError", "PermissionDeniedError", "NotFoundError"}


@dataclass(frozen=True)
class Policy:
    batch_size: int = 500  # notifications claimed at once (each may go to several devices)
    lanes: int = 2  # claims sent at once by one worker (dispatch_lanes), one connection each
    # Longer than one slice can take. firebase-admin: 10 s per request (push.HTTP_TIMEOUT_S)
    # through its own four retries of a 500/503 is under a minute, after a quota pause of at
    # most 30 s (push.MAX_PAUSE_WAIT_S). The lean transport starts nothing new after
    # fcm_lean.SLICE_BUDGET_S (90 s), and its last requests end 10 s later at most.
    lease_s: float = 120.0
    max_attempts: int = 5  # claims that pushed (or died) before a notification is failed
    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0


def retry_delay(attempt: int, policy: Policy, rand: float | None = None) -> dt.timedelta:
    """Exponential backoff with jitter: after attempt n, between half and all of
    base * 2^(n-1), capped; the jitter spreads a burst of failures apart."""
    ceiling = min(policy.retry_cap_s, policy.retry_base_s * 2 ** max(attempt - 1, 0))
    share = random.random() if rand is None else rand
    return dt.timedelta(seconds=ceiling * (0.5 + share / 2))


@dataclass
class Report:
    claimed: int = 0
    pushes: int = 0
    states: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deferred: int = 0
    dead_tokens: int = 0
    paused_s: float = 0.0  # FCM asked us to slow down: nothing claimed
    # Recipients whose quiet hours cannot be worked out (their time zone cannot be loaded):
    # their pushes that are not urgent are held back (the inbox has them), the rest go on.
    skipped: list[Skip] = field(default_factory=list)

    @classmethod
    def merged(cls, reports: list[Report]) -> Report:
        total = cls(paused_s=max(r.paused_s for r in reports))
        for r in reports:
            total.claimed += r.claimed
            total.pushes += r.pushes
            total.deferred += r.deferred
            total.dead_tokens += r.dead_tokens
            total.skipped += r.skipped
            for state, n in r.states.items():
                total.states[state] += n
        return total

    def line(self) -> str:
        if self.paused_s and not self.claimed:  # a lane may have claimed before the pause
            return f"paused for FCM's quota: nothing claimed, {self.paused_s:.0f} s to go"
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        return (
            f"{self.claimed} claimed, {self.pushes} pushes ({states or 'none'}), {self.deferred} deferred "
            f"for quiet hours, {self.dead_tokens} dead tokens removed"
            + (f", {len(self.skipped)} held back (time zone unusable)" if self.skipped else "")
        )


async def dispatch_lanes(
    connections: list[asyncpg.Connection], sender: push.Sender, now: dt.datetime, policy: Policy = Policy()
) -> Report:
    """One claim per connection, at the same time, through one sender: while a claim waits
    (on the database, or on FCM's slowest answer), the other's pushes use the CPU. Claims are
    taken as two workers take them (SKIP LOCKED), so they never share a row."""
    if len(connections) == 1:
        return await dispatch_once(connections[0], sender, now, policy)
    # Each lane finishes and records what it sent even when the other fails (cancelling it
    # mid-slice would send its pushes again after the lease); then the first failure is
    # raised as itself, for the worker to name it.
    reports = await asyncio.gather(
        *(dispatch_once(c, sender, now, policy) for c in connections), return_exceptions=True
    )
    for report in reports:
        if isinstance(report, BaseException):
            raise report
    return Report.merged(cast(list[Report], reports))  # the loop above raised any exception


async def dispatch_once(
    conn: asyncpg.Connection, sender: push.Sender, now: dt.datetime, policy: Policy = Policy()
) -> Report:
    """One batch: claim, decide, push, record. Returns what happened (counts only)."""
    if paused := sender.paused_s():
        return Report(paused_s=paused)  # claiming now would only send the rows back
    claim_id = uuid.uuid4()
    started = time.monotonic()
    async with conn.transaction():
        await notifications_db.fail_abandoned(conn, now, policy.max_attempts)
        claimed = await notifications_db.claim(conn, now, policy.batch_size, policy.lease_s, claim_id)
    report = Report(claimed=len(claimed))
    if not claimed:
        return report

    finished: list[notifications_db.Finish] = []
    to_send: list[asyncpg.Record] = []
    for row in claimed:
        decision = _decide(row, now)
        if decision is None:
            to_send.append(row)
        else:
            report.deferred += decision.state == "pending"
            if decision.error == UNUSABLE_ZONE:
                report.skipped.append(Skip(row["person_id"], None, f"time zone {row['timezone']!r} cannot be loaded"))
            finished.append(decision)

    pushes = await _pushes(conn, to_send)
    report.pushes = len(pushes)
    results: dict[int, push.Result] = {}  # by index in `pushes`
    lost: set[int] = set()  # notifications this claim no longer holds
    indexed = list(enumerate(pushes))
    for start in range(0, len(pushes), sender.slice_size):
        chunk = indexed[start : start + sender.slice_size]
        if start:
            until = now + dt.timedelta(seconds=time.monotonic() - started + policy.lease_s)
            held = await notifications_db.extend_lease(conn, claim_id, until, {p.notification_id for _, p in chunk})
            lost |= {p.notification_id for _, p in chunk if p.notification_id not in held}
            chunk = [(i, p) for i, p in chunk if p.notification_id in held]
        for (i, _), result in zip(chunk, await _send(sender, [p for _, p in chunk]), strict=True):
            results[i] = result

    by_notification: defaultdict[int, list[tuple[push.Push, push.Result]]] = defaultdict(list)
    for i, result in results.items():
        by_notification[pushes[i].notification_id].append((pushes[i], result))
    deliveries: list[notifications_db.Delivery] = []
    dead: list[int] = []
    for row in to_send:
        if row["id"] in lost:
            continue  # another worker has it now, and records it
        outcomes = by_notification[row["id"]]
        deliveries += [
            notifications_db.Delivery(row["id"], m.device_id, row["attempts"], r.outcome, r.error_code, r.message_id)
            for m, r in outcomes
            if r.error_code != push.QUOTA_PAUSE  # held back by a pause: nothing was sent
        ]
        dead += [m.device_id for m, r in outcomes if r.outcome == push.DEAD_TOKEN]
        finished.append(_after_push(row, outcomes, now, policy))
    if any(r.error_code in OPERATOR_ERRORS for r in results.values()):
        log.error("FCM refused pushes for a configuration problem: check the service account, project and APNs key")

    async with conn.transaction():
        await notifications_db.finish(conn, claim_id, now, finished)
        report.dead_tokens = await notifications_db.delete_devices(conn, dead)
    await notifications_db.log_deliveries(conn, now, deliveries)
    for finish in finished:
        report.states[finish.state] += 1
    return report


UNUSABLE_ZONE = "unusable_time_zone"


def _decide(row: asyncpg.Record, now: dt.datetime) -> notifications_db.Finish | None:
    """How a claimed notification ends without a push, or None: push it."""
    delivered = list(row["delivered_devices"])
    if not row["is_active"] or (row["expires_at"] is not None and row["expires_at"] <= now):
        return notifications_db.Finish(row["id"], "expired", None, False, delivered, None)
    if not kinds.wanted(row["kind"], row["disabled_kinds"], row["enabled_kinds"]):
        return notifications_db.Finish(row["id"], "opted_out", None, False, delivered, None)  # inbox only
    if not row["urgent"] and python_zone(row["timezone"]) is None:
        return notifications_db.Finish(row["id"], "failed", None, False, delivered, UNUSABLE_ZONE)  # inbox only
    if not row["urgent"]:
        until = quiet_until(now, row["timezone"], row["quiet_start"], row["quiet_end"])
        if until and not kinds.too_late_after_quiet_hours(row["kind"], until, row["expires_at"]):
            return notifications_db.Finish(row["id"], "pending", until, False, delivered, None)
    return None


async def _pushes(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[push.Push]:
    """One push per device of each recipient, but not to devices that already have it."""
    devices: defaultdict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for device in await notifications_db.devices_of(conn, list({r["person_id"] for r in rows})):
        devices[device["person_id"]].append(device)
    pushes: list[push.Push] = []
    for row in rows:
        data = {k: str(v) for k, v in json.loads(row["data_json"]).items()}
        for device in devices[row["person_id"]]:
            if device["id"] not in row["delivered_devices"]:
                pushes.append(
                    push.Push(
                        notification_id=row["id"],
                        device_id=device["id"],
                        token=device["token"],
                        platform=device["platform"],
                        kind=row["kind"],
                        title=row["push_title"],
                        body=row["push_body"],
                        data=data,
                        urgent=row["urgent"],
                        expires_at=row["expires_at"],
                    )
                )
    return pushes


def _after_push(
    row: asyncpg.Record, outcomes: list[tuple[push.Push, push.Result]], now: dt.datetime, policy: Policy
) -> notifications_db.Finish:
    attempt = row["attempts"]  # this claim's, counted when it was claimed
    delivered = list(row["delivered_devices"]) + [
        m.device_id for m, r in outcomes if r.outcome in (push.SENT, push.LOGGED)
    ]
    errors = [r.error_code for _, r in outcomes if r.outcome in (push.RETRY, push.FAILED)]
    if any(r.outcome == push.RETRY for _, r in outcomes):
        # Pushes a quota pause held back never left: the claim is no attempt of theirs.
        tried = any(r.error_code != push.QUOTA_PAUSE for _, r in outcomes)
        if tried and attempt >= policy.max_attempts:
            return notifications_db.Finish(row["id"], "failed", None, True, delivered, errors[0])
        # FCM's Retry-After, when it gave one, is the least we wait.
        asked = max((r.retry_after_s or 0.0 for _, r in outcomes), default=0.0)
        backoff = retry_delay(attempt, policy) if tried else dt.timedelta(0)
        later = now + max(backoff, dt.timedelta(seconds=asked))
        return notifications_db.Finish(row["id"], "pending", later, tried, delivered, errors[0])
    if delivered:
        return notifications_db.Finish(row["id"], "sent", None, bool(outcomes), delivered, None)
    if errors:
        return notifications_db.Finish(row["id"], "failed", None, True, delivered, errors[0])
    # No device registered, or every token was dead.
    return notifications_db.Finish(row["id"], "no_device", None, bool(outcomes), delivered, None)


async def _send(sender: push.Sender, pushes: list[push.Push]) -> list[push.Result]:
    if not pushes:
        return []
    try:
        return await sender.send(pushes)
    except Exception as exc:  # this slice failed as a whole (network down, token refresh failed): retry it
        log.warning("push slice of %d failed as a whole: %s", len(pushes), type(exc).__name__)
        return [push.Result(push.RETRY, f"slice:{type(exc).__name__}") for _ in pushes]
