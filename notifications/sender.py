"""Senders: how a push leaves the building. Two transports reach FCM: `LeanSender`
(notifications/fcm_lean.py, the default: FCM's send over aiohttp) and `FirebaseSender` here
(firebase-admin's own `send_each_async`; `AFTERCARE_PUSH_TRANSPORT=firebase-admin`). Both
build the message and read FCM's errors with firebase-admin. `LogSender` (no credentials
configured: development) only logs that it would have sent.

A sender gets one message per device and answers one `Result` per message, in order; it
sorts failures into what the dispatcher does next (retry later, drop the token, give up).
FCM's "slow down" (HTTP 429 with `Retry-After`) holds the whole sender (`QuotaPause`): the
dispatcher claims nothing while it lasts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from firebase_admin import messaging  # for annotations: the code imports it where it uses it

log = logging.getLogger("aftercare.push")

# FCM's limit for one send_each call.
MAX_BATCH = 500
# Per request: firebase-admin's default is 120 s, which a slow FCM could stretch past the
# dispatcher's lease (see notifications/dispatch.Policy).
HTTP_TIMEOUT_S = 10

SENT = "sent"
RETRY = "retry"  # transient: try again later
DEAD_TOKEN = "dead_token"  # the app was uninstalled or the token is not valid: delete it
FAILED = "failed"  # our message or our configuration is wrong: retrying will not help
LOGGED = "logged"  # LogSender

# Within a slice, a pause up to this long is waited out; a longer one sends the slice's
# remaining pushes back to the outbox, due when the pause ends (a claim's lease is 120 s).
MAX_PAUSE_WAIT_S = 30.0
QUOTA_PAUSE = "QuotaPause"  # error code of a push held back, never sent, while paused


@dataclass(frozen=True)
class Push:
    """One message to one device."""

    notification_id: int
    device_id: int
    token: str
    platform: str
    kind: str
    title: str
    body: str
    data: dict[str, str]
    urgent: bool
    expires_at: dt.datetime | None = None  # past it, FCM and APNs drop the push undelivered


@dataclass(frozen=True)
class Result:
    outcome: str
    error_code: str | None = None
    message_id: str | None = None
    retry_after_s: float | None = None  # FCM said when to try again (a 429's Retry-After)


class Sender(Protocol):
    name: str
    slice_size: int  # pushes the dispatcher hands over at once (and renews its lease between)

    def paused_s(self) -> float:
        """Seconds FCM still wants us to wait before sending anything (0: send)."""
        ...

    async def send(self, pushes: list[Push]) -> list[Result]: ...

    async def close(self) -> None: ...


class LogSender:
    """For development without Firebase credentials: logs ids and kinds, never the text."""

    name = "log-only"
    slice_size = 500

    def paused_s(self) -> float:
        return 0.0

    async def send(self, pushes: list[Push]) -> list[Result]:
        for push in pushes:
            log.info(
                "push not sent (no FCM credentials): notification %s, kind %s, device %s",
                push.notification_id,
                push.kind,
                push.device_id,
            )
        return [Result(LOGGED) for _ in pushes]

    async def close(self) -> None:
        return None


class QuotaPause:
    """FCM's "slow down" for a whole worker: after a 429, nothing is sent until its
    `Retry-After` has passed (FCM counts quota per project, so every push of ours adds to it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self._until = clock, 0.0

    def hold(self, seconds: float) -> None:
        self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def note(self, results: list[Result]) -> None:
        """Hold for the longest wait FCM asked for in `results`."""
        waits = [r.retry_after_s for r in results if r.retry_after_s]
        if waits:
            self.hold(max(waits))
            log.warning("FCM asked us to slow down: no pushes for %.0f s", max(waits))

    def held_back(self, count: int) -> list[Result] | None:
        """What a slice of `count` pushes answers without sending while a long pause lasts."""
        wait = self.remaining()
        if wait <= MAX_PAUSE_WAIT_S:
            return None
        return [Result(RETRY, QUOTA_PAUSE, retry_after_s=wait) for _ in range(count)]


class FcmSenderBase:
    """What both FCM transports share: a private firebase-admin app (a unique name, so several
    senders can live in one process: tests), the worker-wide quota pause, and the clock the
    messages' expiry is counted from."""

    def __init__(self, credentials_file: str, project_id: str | None, options: dict[str, object] | None = None) -> None:
        import firebase_admin
        from firebase_admin import credentials

        options = (options or {}) | ({"projectId": project_id} if project_id else {})
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(credentials_file), options, name=f"aftercare-push-{uuid.uuid4().hex}"
        )
        self.pause = QuotaPause()
        self.clock = utcnow  # tests pin it, to compare the requests of both transports

    def paused_s(self) -> float:
        return self.pause.remaining()

    async def _delete_app(self) -> None:
        import firebase_admin

        app, self._app = self._app, None
        # delete_app closes the SDK's httpx client with asyncio.run, a new loop, which cannot
        # start inside this one: in a thread.
        await asyncio.to_thread(firebase_admin.delete_app, app)


class FirebaseSender(FcmSenderBase):
    """FCM through firebase-admin's `send_each_async`, on the caller's event loop.

    The SDK keeps an httpx client per app, tied to the loop it first ran on: make one sender
    per worker loop, and `close()` it on that same loop."""

    name = "fcm/firebase-admin"
    # The SDK's httpx speaks HTTP/2 to FCM: one connection, at most 100 streams at a time
    # (httpcore's cap, and Google's); more only queue in httpcore's pool, whose bookkeeping
    # per request grows with the queue (2.3 ms of CPU per message in slices of 100 against
    # 2.8 ms in one call of 500: bench/dispatch.py).
    slice_size = 100

    def __init__(
        self, credentials_file: str, project_id: str | None = None, http_timeout_s: float = HTTP_TIMEOUT_S
    ) -> None:
        # `http_timeout_s` applies to each HTTP request (each of the SDK's own retries too);
        # tests shorten it to meet a hanging fake quickly.
        super().__init__(credentials_file, project_id, {"httpTimeout": http_timeout_s})

    async def send(self, pushes: list[Push]) -> list[Result]:
        from firebase_admin import messaging

        results: list[Result] = []
        for start in range(0, len(pushes), MAX_BATCH):
            part = pushes[start : start + MAX_BATCH]
            if (held := self.pause.held_back(len(part))) is not None:
                results += held
                continue
            await asyncio.sleep(self.pause.remaining())  # a short pause: wait it out
            now = self.clock()
            batch = await messaging.send_each_async([fcm_message(p, now) for p in part], app=self._app)
            answers = [
                Result(SENT, message_id=r.message_id) if r.success else classify(r.exception) for r in batch.responses
            ]
            self.pause.note(answers)
            results += answers
        return results

    async def close(self) -> None:
        from firebase_admin import messaging

        if self._app is None:
            return
        # The SDK's httpx client is tied to this loop: close it here, before the app goes.
        await messaging._get_messaging_service(self._app)._async_client.aclose()
        await self._delete_app()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def fcm_message(push: Push, now: dt.datetime) -> messaging.Message:
    """firebase-admin's `Message` for one push, as both transports send it."""

    # Lock screens show only the discreet text; Android hides even that until unlocked. A
    # phone offline past the expiry never shows a stale reminder.
    ttl = max(push.expires_at - now, dt.timedelta(0)) if push.expires_at else None
    apns_headers = {"apns-collapse-id": push.kind, "apns-priority": "10" if push.urgent else "5"}
    if push.expires_at:
        apns_headers["apns-expiration"] = str(int(push.expires_at.timestamp()))
    with warnings.catch_warnings():  # `token=` is deprecated in 7.5+ in favour of `fid=`, still served
        warnings.simplefilter("ignore", DeprecationWarning)
        return _message(push, ttl, apns_headers)


def _message(push: Push, ttl: dt.timedelta | None, apns_headers: dict[str, str]) -> messaging.Message:
    from firebase_admin import messaging

    return messaging.Message(
        token=push.token,
        notification=messaging.Notification(title=push.title, body=push.body),
        data={**push.data, "notification_id": str(push.notification_id)},
        android=messaging.AndroidConfig(
            collapse_key=push.kind,
            priority="high" if push.urgent else "normal",
            ttl=ttl,
            notification=messaging.AndroidNotification(visibility="private", tag=push.kind),
        ),
        apns=messaging.APNSConfig(
            headers=apns_headers,
            payload=messaging.APNSPayload(aps=messaging.Aps(thread_id=push.kind)),
        ),
    )


def classify(error: Exception | None) -> Result:
    """What to do about one failed message (see the FCM v1 error codes)."""
    from firebase_admin import exceptions, messaging

    code = type(error).__name__  # e.g. UnregisteredError, QuotaExceededError: specific, and no text
    if isinstance(error, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return Result(DEAD_TOKEN, code)
    if isinstance(error, exceptions.InvalidArgumentError):
        # Only a bad token is the token's fault; anything else is a message we built wrong.
        return Result(DEAD_TOKEN if _token_violation(error) else FAILED, code)
    if isinstance(
        error,
        exceptions.ResourceExhaustedError  # QuotaExceededError, and a 429 without FCM's detail
        | exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError,  # connection failures and timeouts end up here
    ):
        return Result(RETRY, code, retry_after_s=_retry_after(error))
    if isinstance(
        error,
        messaging.ThirdPartyAuthError
        | exceptions.UnauthenticatedError
        | exceptions.PermissionDeniedError
        | exceptions.NotFoundError,
    ):
        # Our credentials, project or APNs key are wrong, not the message: operators must fix
        # it (the dispatcher logs it once a batch); retry meanwhile rather than fail them all.
        return Result(RETRY, code)
    return Result(FAILED, code)


def _retry_after(error: Exception) -> float | None:
    """How long FCM asked us to wait: a 429's `Retry-After` (seconds or an HTTP date, read as
    firebase-admin reads it), at most an hour. None when it did not say (or for any other
    error): FCM also answers 429 for one device sent too much, which must not stop everyone;
    that push takes the dispatcher's own backoff."""
    from firebase_admin import _retry, exceptions

    if not isinstance(error, exceptions.ResourceExhaustedError):  # QUOTA_EXCEEDED, or a bare 429
        return None
    response = getattr(error, "http_response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = _retry.HttpxRetry()._parse_retry_after(header) if header else None
    except Exception:  # a header we cannot read: as if it said nothing
        return None
    return None if seconds is None else min(float(seconds), 3600.0)


def _token_violation(error: Exception) -> bool:
    response = getattr(error, "http_response", None)
    try:
        details = response.json()["error"].get("details", []) if response is not None else []
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    for detail in details:
        for violation in detail.get("fieldViolations", []) or []:
            if violation.get("field") in ("message.token", "message.fid"):
                return True
    return False
