"""Reading a request's JSON body, the one kind of body this API takes.

Litestar decodes it with msgspec and turns a malformed document into a 400, but two
failures of the decoder are not msgspec errors and would end as 500s: bytes that are not
UTF-8 (UnicodeDecodeError) and nesting deeper than Python's recursion limit
(RecursionError; 1,000 `[` are enough). Both are the client's mistake, so both are 400s.

A body must also say that it is JSON. A browser sends a text/plain, form or untyped body to
any site without asking first (no CORS preflight), so taking those as JSON would let any
web page make its visitors' browsers guess passwords here and lock staff accounts out,
spread over many addresses and past the rate limit.

And a body must arrive in time: uvicorn waits for the bytes a Content-Length announced
for as long as the client keeps the connection open, so one that announces 1,000 bytes and
sends 10 would hold its request (and a connection) forever."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.exceptions import SerializationException

from api.deps import AnyRequest
from api.problems import problem


def json_body_request(body_timeout_s: float) -> type[AnyRequest]:
    """The app's request class (`request_class`), giving a body `body_timeout_s` to arrive."""
    return type("JsonBodyRequest", (JsonBodyRequest,), {"body_timeout_s": body_timeout_s})


class JsonBodyRequest(AnyRequest):
    """Only reading the body differs from Litestar's Request."""

    body_timeout_s: float = 30.0

    async def body(self) -> bytes:
        try:
            async with asyncio.timeout(self.body_timeout_s):
                return await super().body()
        except TimeoutError:
            # Not left to propagate: a bare TimeoutError means "database unavailable" (api/errors.py).
            raise problem(
                408,
                "body_timeout",
                f"The request body did not arrive within {self.body_timeout_s:g} seconds.",
            ) from None

    async def json(self) -> Any:
        # Called only for a handler that takes a body, and only when one was sent.
        if not is_json(self.content_type[0]):
            raise problem(
                415,
                "unsupported_media_type",
                "Send the body as JSON, with the header `Content-Type: application/json`.",
            )
        try:
            value = await super().json()
        # Litestar answers a SerializationException with a 400 (api/errors.py words it).
        except UnicodeDecodeError:
            raise SerializationException("the body is not valid UTF-8") from None
        except RecursionError:
            raise SerializationException("the JSON is nested too deeply") from None
        # Kept for a 400: msgspec names only the first bad field, api/errors.py finds them all.
        self.scope[_SENT] = value  # type: ignore[literal-required]
        return value


_SENT = "aftercare.json_body"


def sent_json(request: AnyRequest) -> Any:
    """The decoded JSON body of this request, if it was read (else None)."""
    return request.scope.get(_SENT)


def is_json(media_type: str) -> bool:
    """application/json, or a JSON-based type such as application/merge-patch+json."""
    kind, _, subtype = media_type.lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
