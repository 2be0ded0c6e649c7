"""The lean push transport (the default): FCM's v1 send over aiohttp, and firebase-admin for
everything else.

firebase-admin stays in charge of what it is for: the service account and its access tokens
(google-auth), the project and the send URL, the request's headers, the `Message` model and
its JSON, and what FCM's errors mean (its own exception types, built by its own code from
the status and body). Only the HTTP request itself leaves the SDK: its httpx/h2 stack spends
about 2 ms of CPU on each message, which held one worker near 320 messages a second;
aiohttp's C-accelerated HTTP/1.1 client spends about a tenth of that (measured against
httpx over HTTP/1.1 and HTTP/2 and niquests: README, "Choosing the push transport").

The SDK's behaviour around a request is kept too, so both transports mean the same thing
to the dispatcher (tests/notifications/test_push_transports.py compares them request by request):
- HTTP 500 and 503 are retried four times, after 0, 1, 2 and 4 s (its default retry);
- HTTP 401 refreshes the access token and resends, at most twice (its auth flow);
- timeouts, refused connections and resets become its `DeadlineExceededError`,
  `UnavailableError` and `UnknownError`.
One thing is ours, on both transports: a 429 holds every send of this worker for its
`Retry-After` (sender.QuotaPause).

HTTP/1.1 has one request per connection at a time, so `in_flight` connections are kept
open: at 50 ms from FCM, 2,000 messages a second need 100 in flight, and 500 leave room.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from typing import cast

import aiohttp

from notifications.sender import (
    FAILED,
    HTTP_TIMEOUT_S,
    MAX_PAUSE_WAIT_S,
    QUOTA_PAUSE,
    RETRY,
    SENT,
    FcmSenderBase,
    Push,
    Result,
    classify,
    fcm_message,
)

log = logging.getLogger("aftercare.push")

IN_FLIGHT = 500
# firebase-admin's DEFAULT_HTTPX_RETRY_CONFIG: 4 retries of a 500 or 503, backoff factor 0.5.
RETRIED_STATUSES = (500, 503)
RETRIES = 4
# GoogleAuthCredentialFlow: a 401 refreshes the token and resends, at most twice.
AUTH_REFRESHES = 2
# A slice's pushes start no request, wait or retry past this: the dispatcher's lease (120 s,
# renewed between slices) must outlast the slice, and a request begun just before the end
# may take HTTP_TIMEOUT_S more. What is cut short is retried from the outbox.
SLICE_BUDGET_S = 90.0
# What a compressed answer says of its body: aiohttp has already unpacked it.
_BODY_ENCODING = ("content-encoding", "content-length", "transfer-encoding")


def backoff_s(retry: int) -> float:
    """The SDK's wait before its n-th retry (urllib3's formula): 0, 1, 2, 4 s."""
    return 0.0 if retry <= 1 else 0.5 * 2 ** (retry - 1)


class LeanSender(FcmSenderBase):
    """One per worker loop: the aiohttp session is made on the loop of the first send and
    must be closed on it."""

    name = "fcm/aiohttp"

    def __init__(
        self,
        credentials_file: str,
        project_id: str | None = None,
        http_timeout_s: float = HTTP_TIMEOUT_S,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        from firebase_admin import messaging
        from google.auth.transport import requests as google_requests

        super().__init__(credentials_file, project_id)
        # The SDK's own messaging service, for its URL, headers and credential; its HTTP
        # clients are built but never used.
        service = messaging._get_messaging_service(self._app)
        self._url = service._fcm_url
        self._credential = service._credential
        self._base_headers = {
            **service._async_client._headers,  # x-goog-api-client, as the SDK's client sends it
            **service._fcm_headers,
            "Content-Type": "application/json",  # what httpx sets for the SDK's `json=`
            # FCM's answers are a few dozen bytes: unpacking gzip cost more CPU (about 50 µs a
            # message) than it saves. A compressed answer is still read right.
            "Accept-Encoding": "identity",
        }
        self._token_request = google_requests.Request()
        self._refreshing = asyncio.Lock()
        self._timeout = aiohttp.ClientTimeout(total=http_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(in_flight)
        self.in_flight = in_flight
        # The dispatcher renews its lease between slices: a slice is what can be in flight.
        self.slice_size = in_flight

    async def send(self, pushes: list[Push]) -> list[Result]:
        if (held := self.pause.held_back(len(pushes))) is not None:
            return held
        if self._session is None:
            import httpx

            # Trusted roots exactly as the SDK's httpx takes them: SSL_CERT_FILE, SSL_CERT_DIR,
            # else certifi's.
            connector = aiohttp.TCPConnector(limit=self.in_flight, ttl_dns_cache=300, ssl=httpx.create_ssl_context())
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        headers = await self._headers()
        now, deadline = self.clock(), time.monotonic() + SLICE_BUDGET_S
        return await asyncio.gather(*(self._send_safely(p, now, headers, deadline) for p in pushes))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._app is not None:
            await self._delete_app()  # its httpx client was never used

    # --- one message ----------------------------------------------------------------------

    @staticmethod
    def _body(push: Push, now: dt.datetime) -> bytes:
        from firebase_admin import messaging

        # As firebase-admin's send_each_async builds it, and as httpx encodes its `json=`.
        data = {"message": messaging._MessagingService.encode_message(fcm_message(push, now))}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()

    async def _send_safely(self, push: Push, now: dt.datetime, headers: dict[str, str], deadline: float) -> Result:
        """One push's result, whatever happens: a failure here must not sink its slice."""
        try:
            body = self._body(push, now)
        except Exception as exc:  # a message firebase-admin will not build: ours to fix, not to retry
            return Result(FAILED, type(exc).__name__)
        try:
            return await self._send_one(body, headers, deadline)
        except Exception as exc:  # a token refresh that failed, an answer nobody foresaw
            log.warning("push failed outside FCM's answers: %s", type(exc).__name__)
            return Result(RETRY, type(exc).__name__)

    async def _send_one(self, body: bytes, headers: dict[str, str], deadline: float) -> Result:
        retries = refreshes = 0
        while True:
            wait = self.pause.remaining()
            if wait and (wait > MAX_PAUSE_WAIT_S or time.monotonic() + wait > deadline):
                return Result(RETRY, QUOTA_PAUSE, retry_after_s=wait)  # never sent: back to the outbox
            await asyncio.sleep(wait)
            try:
                status, answer_headers, answer = await self._post(body, headers)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return classify(_transport_error(exc))
            if 200 <= status < 300:
                return Result(SENT, message_id=_message_id(answer))
            if status == 401 and refreshes < AUTH_REFRESHES:
                refreshes, retries = refreshes + 1, 0
                headers = await self._headers(stale=headers)
                continue
            if (
                status in RETRIED_STATUSES
                and retries < RETRIES
                and time.monotonic() + backoff_s(retries + 1) < deadline
            ):
                retries += 1
                await asyncio.sleep(backoff_s(retries))
                continue
            result = classify(self._status_error(status, answer_headers, answer))
            self.pause.note([result])
            return result

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        # No redirects: FCM sends none, and aiohttp would follow one as a GET (httpx, the
        # SDK's, follows none).
        async with (
            self._slots,
            # send() opened the session before any request; close() comes after the last.
            cast(aiohttp.ClientSession, self._session).post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response,
        ):
            answer = await response.read()
            kept = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_ENCODING}
            return response.status, kept, answer

    def _status_error(self, status: int, headers: dict[str, str], body: bytes) -> Exception:
        """firebase-admin's exception for this answer, built by its own code from an httpx
        response carrying the same status, headers and body."""
        import httpx
        from firebase_admin import _utils, messaging

        response = httpx.Response(status, headers=headers, content=body, request=httpx.Request("POST", self._url))
        error = httpx.HTTPStatusError(f"HTTP {status}", request=response.request, response=response)
        return cast(
            Exception,
            _utils.handle_platform_error_from_httpx(error, messaging._MessagingService._build_fcm_error_httpx),
        )

    # --- access tokens ----------------------------------------------------------------------

    async def _headers(self, stale: dict[str, str] | None = None) -> dict[str, str]:
        """The request headers with a valid access token; with `stale`, FCM refused the
        token in it: fetch a new one unless another request already has."""
        credential = self._credential
        async with self._refreshing:
            used = (stale or {}).get("authorization")
            if not credential.valid or (stale is not None and used == f"Bearer {credential.token}"):
                # google-auth fetches tokens with a blocking call: not on the loop.
                await asyncio.to_thread(credential.refresh, self._token_request)
        headers = dict(self._base_headers)
        # As the SDK's auth flow does: adds the token and google-auth's metrics header.
        credential.before_request(self._token_request, "POST", self._url, headers)
        return headers


def _message_id(body: bytes) -> str | None:
    try:
        return cast(str | None, json.loads(body).get("name"))
    except (ValueError, AttributeError):
        return None


def _transport_error(exc: BaseException) -> Exception:
    """firebase-admin's exception for a request that got no answer, from the httpx error
    it would have seen (its own mapping: timeout, no connection, anything else)."""
    import httpx
    from firebase_admin import _utils

    text = type(exc).__name__  # no message: it may hold the URL and nothing more useful
    if isinstance(exc, TimeoutError):
        httpx_error: httpx.HTTPError = httpx.TimeoutException(text)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        httpx_error = httpx.ConnectError(text)
    else:  # reset, closed mid-answer, a broken answer
        httpx_error = httpx.ReadError(text)
    return cast(Exception, _utils.handle_httpx_error(httpx_error))
