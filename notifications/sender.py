"""Senders: how a push leaves the building. `FirebaseSender` goes through firebase-admin to
FCM; `LogSender` (no credentials configured: development) only logs that it would have.

A sender gets one message per device and answers one `Result` per message, in order; it
sorts failures into what the dispatcher does next (retry later, drop the token, give up).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
import warnings
from dataclasses import dataclass
from typing import Protocol

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


class Sender(Protocol):
    name: str

    async def send(self, pushes: list[Push]) -> list[Result]: ...

    async def close(self) -> None: ...


class LogSender:
    """For development without Firebase credentials: logs ids and kinds, never the text."""

    name = "log-only"

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


class FirebaseSender:
    """FCM through firebase-admin's `send_each_async`, on the caller's event loop.

    The SDK keeps an httpx client per app, tied to the loop it first ran on: make one sender
    per worker loop, and `close()` it on that same loop."""

    name = "firebase"

    def __init__(
        self, credentials_file: str, project_id: str | None = None, http_timeout_s: float = HTTP_TIMEOUT_S
    ) -> None:
        import firebase_admin
        from firebase_admin import credentials

        self._closed = False
        # `http_timeout_s` applies to each HTTP request (each of the SDK's own retries too);
        # tests shorten it to meet a hanging fake quickly.
        options: dict = {"httpTimeout": http_timeout_s} | ({"projectId": project_id} if project_id else {})
        # A private app (unique name), so several senders can live in one process (tests).
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(credentials_file), options, name=f"aftercare-push-{uuid.uuid4().hex}"
        )

    async def send(self, pushes: list[Push]) -> list[Result]:
        from firebase_admin import messaging

        results: list[Result] = []
        for start in range(0, len(pushes), MAX_BATCH):
            with warnings.catch_warnings():  # `token=` is deprecated in 7.5+ in favour of `fid=`, still served
                warnings.simplefilter("ignore", DeprecationWarning)
                messages = [_message(p) for p in pushes[start : start + MAX_BATCH]]
            batch = await messaging.send_each_async(messages, app=self._app)
            for response in batch.responses:
                if response.success:
                    results.append(Result(SENT, message_id=response.message_id))
                else:
                    results.append(classify(response.exception))
        return results

    async def close(self) -> None:
        import firebase_admin
        from firebase_admin import messaging

        if self._closed:
            return
        self._closed = True
        # Close the SDK's httpx client on this loop; delete_app's own close would start a new
        # loop (asyncio.run), which cannot happen inside this one: do that part in a thread.
        service = messaging._get_messaging_service(self._app)
        await service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self._app)


def _message(push: Push):
    from firebase_admin import messaging

    # Lock screens show only the discreet text; Android hides even that until unlocked. A
    # phone offline past the expiry never shows a stale reminder.
    ttl = max(push.expires_at - dt.datetime.now(dt.UTC), dt.timedelta(0)) if push.expires_at else None
    apns_headers = {"apns-collapse-id": push.kind, "apns-priority": "10" if push.urgent else "5"}
    if push.expires_at:
        apns_headers["apns-expiration"] = str(int(push.expires_at.timestamp()))
    return messaging.Message(  # the caller silences the DeprecationWarning of `token=`
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
        messaging.QuotaExceededError
        | exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError,  # connection failures and timeouts end up here
    ):
        return Result(RETRY, code)
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
