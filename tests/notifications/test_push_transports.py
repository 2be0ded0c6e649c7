"""Issue 21: the lean push transport (notifications/fcm_lean.py) means exactly what
firebase-admin's own does. Both run against the same fake FCM, side by side:

- every kind of notification: the same request (method, path, the headers that matter,
  byte for byte the same JSON body);
- every way FCM answers: the same outcome for the dispatcher (sent, token dead, retry,
  failed; the error's name; how long FCM asked us to wait) after the same number of
  requests (the SDK's own retries of a 500/503 and its token refresh on a 401 included).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

import pytest

from api.worker import PUSH_TRANSPORTS
from notifications import kinds
from notifications.sender import DEAD_TOKEN, FAILED, RETRY, SENT, Push, Result
from tests.fake_fcm import FakeFcm
from tests.notifications.renderings import every_rendering

# A pinned clock for both, so a reminder's TTL (counted from the send) is the same text.
NOW = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
HEADERS_THAT_MATTER = (
    "authorization",
    "content-type",
    "x-goog-api-format-version",
    "x-firebase-client",
    "x-goog-api-client",
)
REQUEST_TIMEOUT_S = 1.0  # the fake holds a "HANG" for 2 s


@pytest.fixture
async def senders(fcm: FakeFcm, service_account):
    made = {name: cls(str(service_account), http_timeout_s=REQUEST_TIMEOUT_S) for name, cls in PUSH_TRANSPORTS.items()}
    for sender in made.values():
        sender.clock = lambda: NOW
    yield made
    for sender in made.values():
        await sender.close()


def _push(content, token: str, number: int) -> Push:
    return Push(
        notification_id=number,
        device_id=number,
        token=token,
        platform="ios" if number % 2 else "android",
        kind=content.kind,
        title=content.push_title,
        body=content.push_body,
        data=content.data,
        urgent=content.kind in kinds.ALWAYS_ON,
        expires_at=NOW + dt.timedelta(hours=3, milliseconds=250) if number % 3 == 0 else None,
    )


def _token(recorded) -> str:
    return json.loads(recorded.body)["message"]["token"]


async def test_every_kind_of_notification_is_the_same_request_on_both_transports(fcm, senders):
    contents = every_rendering()
    assert {c.kind for c in contents} >= set(kinds.KINDS)
    for name, sender in senders.items():
        results = await sender.send([_push(c, f"{name}:{i}", i) for i, c in enumerate(contents)])
        assert [r.outcome for r in results] == [SENT] * len(contents)

    with fcm.lock:
        requests = {_token(r): r for r in fcm.requests}
    assert len(requests) == 2 * len(contents)
    for i, content in enumerate(contents):
        sdk, lean = requests[f"firebase-admin:{i}"], requests[f"aiohttp:{i}"]
        assert (
            (lean.method, lean.path) == (sdk.method, sdk.path) == ("POST", "/v1/projects/aftercare-test/messages:send")
        )
        assert {h: lean.headers.get(h) for h in HEADERS_THAT_MATTER} == {
            h: sdk.headers.get(h) for h in HEADERS_THAT_MATTER
        }, content.kind
        assert lean.headers["authorization"] == "Bearer fake-access-token"
        # Byte for byte, but for the token each was sent to.
        assert lean.body.replace(b"aiohttp:", b"T:") == sdk.body.replace(b"firebase-admin:", b"T:"), content.kind


# What FCM answers (the fake's script for the token, and how many times), and what the
# dispatcher must be told: outcome, error name, and the requests it takes to learn it.
ANSWERS = {
    "UNREGISTERED": ("UNREGISTERED", 1, Result(DEAD_TOKEN, "UnregisteredError"), 1),
    "SENDER_ID_MISMATCH": ("SENDER_ID_MISMATCH", 1, Result(DEAD_TOKEN, "SenderIdMismatchError"), 1),
    "INVALID_ARGUMENT, the token": ("INVALID_TOKEN", 1, Result(DEAD_TOKEN, "InvalidArgumentError"), 1),
    "INVALID_ARGUMENT, the message": ("INVALID_PAYLOAD", 1, Result(FAILED, "InvalidArgumentError"), 1),
    "QUOTA_EXCEEDED with retry-after": (
        "QUOTA_EXCEEDED",
        1,
        Result(RETRY, "QuotaExceededError", retry_after_s=7.0),
        1,
    ),
    "429 without FCM's detail": (
        "RESOURCE_EXHAUSTED",
        1,
        Result(RETRY, "ResourceExhaustedError", retry_after_s=7.0),
        1,
    ),
    "UNAVAILABLE once": ("UNAVAILABLE", 1, Result(SENT), 2),
    "UNAVAILABLE through every retry": ("UNAVAILABLE", 99, Result(RETRY, "UnavailableError"), 5),
    "INTERNAL once": ("INTERNAL", 1, Result(SENT), 2),
    "THIRD_PARTY_AUTH_ERROR": ("THIRD_PARTY_AUTH_ERROR", 99, Result(RETRY, "ThirdPartyAuthError"), 3),
    "HTTP 401 once": ("UNAUTHENTICATED", 1, Result(SENT), 2),
    "HTTP 401 always": ("UNAUTHENTICATED", 99, Result(RETRY, "UnauthenticatedError"), 3),
    "HTTP 403": ("PERMISSION_DENIED", 99, Result(RETRY, "PermissionDeniedError"), 1),
    "HTTP 404": ("NOT_FOUND", 99, Result(RETRY, "NotFoundError"), 1),
    "timeout": ("HANG", 1, Result(RETRY, "DeadlineExceededError"), 1),
    "connection reset": ("RESET", 1, Result(RETRY, "UnknownError"), 1),
}


@pytest.mark.parametrize("answer", ANSWERS)
async def test_every_answer_from_fcm_means_the_same_on_both_transports(fcm, senders, answer):
    script, times, expected, requests = ANSWERS[answer]
    content = next(c for c in every_rendering() if c.kind == kinds.STAFF_MESSAGE)
    for name in senders:
        fcm.fail(f"{name}:1", script, times=times)

    async def send(name: str) -> Result:
        [result] = await senders[name].send([_push(content, f"{name}:1", 1)])
        return result

    # At once: "UNAVAILABLE through every retry" waits out the SDK's backoff (0 + 1 + 2 + 4 s).
    outcomes = dict(zip(senders, await asyncio.gather(*map(send, senders)), strict=True))

    for name, result in outcomes.items():
        assert (result.outcome, result.error_code, result.retry_after_s) == (
            expected.outcome,
            expected.error_code,
            expected.retry_after_s,
        ), name
        assert bool(result.message_id) == (expected.outcome == SENT), name
        assert fcm.attempts[f"{name}:1"] == requests, name
        # FCM's "slow down" holds the whole worker, on either transport.
        assert (senders[name].paused_s() > 6) == (expected.retry_after_s is not None), name


async def test_a_429_that_says_no_retry_after_pauses_nobody(fcm, senders):
    """FCM also answers 429 for one device sent too much: without a Retry-After it is that
    push's to wait (the dispatcher's backoff), not everyone's."""
    fcm.retry_after = None
    content = next(c for c in every_rendering() if c.kind == kinds.STAFF_MESSAGE)
    for name, sender in senders.items():
        fcm.fail(f"{name}:1", "QUOTA_EXCEEDED")
        [result] = await sender.send([_push(content, f"{name}:1", 1)])
        assert (result.outcome, result.error_code, result.retry_after_s) == (RETRY, "QuotaExceededError", None)
        assert sender.paused_s() == 0, name


async def test_answers_come_compressed_and_are_read_unpacked(fcm, senders):
    """Google's front ends gzip JSON for a client that accepts it (the SDK does; the lean
    transport asks for none, its answers being tiny), errors too: an answer compressed all
    the same is read as the SDK reads it (a dead token still found dead)."""
    fcm.gzip = "always"
    content = next(c for c in every_rendering() if c.kind == kinds.STAFF_MESSAGE)
    for name, sender in senders.items():
        fcm.fail(f"{name}:dead", "UNREGISTERED")
        results = await sender.send([_push(content, f"{name}:live", 1), _push(content, f"{name}:dead", 2)])
        assert [(r.outcome, r.error_code) for r in results] == [(SENT, None), (DEAD_TOKEN, "UnregisteredError")]
        assert results[0].message_id.startswith("projects/aftercare-test/messages/")
    with fcm.lock:
        asked = {_token(r).split(":")[0]: r.headers.get("accept-encoding") for r in fcm.requests}
    assert "gzip" in asked["firebase-admin"] and asked["aiohttp"] == "identity"


async def test_a_push_that_cannot_be_built_fails_alone(fcm, senders):
    """The lean transport builds each message on its own: one firebase-admin refuses (data
    must be strings) fails, the rest of the slice goes out."""
    content = next(c for c in every_rendering() if c.kind == kinds.STAFF_MESSAGE)
    broken = dataclasses.replace(_push(content, "aiohttp:2", 2), data={"count": 3})
    results = await senders["aiohttp"].send([_push(content, "aiohttp:1", 1), broken, _push(content, "aiohttp:3", 3)])
    assert [(r.outcome, r.error_code) for r in results] == [(SENT, None), (FAILED, "ValueError"), (SENT, None)]
    assert sorted(m["token"] for m in fcm.delivered) == ["aiohttp:1", "aiohttp:3"]
