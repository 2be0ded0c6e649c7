"""HTTP headers every answer carries (security), and who may call from a browser (CORS).

The security headers are added in a `before_send` hook: Litestar calls it on the outermost
`send`, so it sees every answer (those of the exception handlers, unknown routes, a body
over the limit, the CORS middleware and the API docs included), where `response_headers`
would reach only what route handlers return."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import HttpMethod
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from api.docs import DOCS_CSP

HSTS = "max-age=63072000; includeSubDomains"  # two years

# Nothing an API answer holds is a page to frame, to sniff into HTML or script, or to name
# in a Referer; and participant data must stay in no browser or proxy cache.
_EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'"


def security_headers(docs_path: str) -> BeforeMessageSendHookHandler:
    """A `before_send` hook. A header a route sets itself (a feed's own Cache-Control, say)
    is kept: it was chosen on purpose for that answer."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        message["headers"] = list(message.get("headers", ()))  # editable, whoever made it
        headers = MutableScopeHeaders.from_message(message)
        for name, value in _EVERY_ANSWER.items():
            _set_default(headers, name, value)
        _set_default(headers, "Content-Security-Policy", DOCS_CSP if _is_docs(scope, docs_path) else _API_CSP)
        # Only over TLS: a browser ignores HSTS on plain HTTP, and a development server on
        # http://localhost must not teach it to demand HTTPS there. The scheme is https when
        # uvicorn trusts the proxy's X-Forwarded-Proto (FORWARDED_ALLOW_IPS).
        if scope.get("scheme") == "https":
            _set_default(headers, "Strict-Transport-Security", HSTS)

    return add_headers


def _set_default(headers: MutableScopeHeaders, name: str, value: str) -> None:
    if name not in headers:
        headers.add(name, value)


def _is_docs(scope: Scope, docs_path: str) -> bool:
    path = scope.get("path", "")
    return path == docs_path or path.startswith(docs_path.rstrip("/") + "/")


def cors_config(origins: tuple[str, ...]) -> CORSConfig | None:
    """Closed unless origins are configured: without a CORS config no answer carries
    Access-Control-Allow-Origin, so browsers keep other sites' pages from reading it (the
    phone apps and the dashboard are not browsers and need none)."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
        # Bearer tokens, not cookies: a browser never needs to send credentials.
        allow_credentials=False,
        expose_headers=["Retry-After"],
        max_age=600,
    )


def correct_allow_headers(app: Litestar) -> None:
    """Make Litestar's own OPTIONS answer list every method of its path. It builds that
    answer when a path's first handler is registered and keeps the methods known then: on
    `/v1/checkins`, GET and POST, it said `Allow: GET, OPTIONS`. Once every route is in
    place, each OPTIONS handler is matched to its route's full list, and a `before_send`
    hook writes that into the header."""
    allowed: dict[int, str] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.http_methods == {HttpMethod.OPTIONS} and handler.handler_name == "options_handler":
                allowed[id(handler)] = ", ".join(sorted(route.methods))

    async def fix_allow(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        methods = allowed.get(id(scope.get("route_handler")))
        if methods is None:
            return
        message["headers"] = list(message.get("headers", ()))
        headers = MutableScopeHeaders.from_message(message)
        if "Allow" in headers:
            headers["Allow"] = methods

    app.before_send.append(fix_allow)
