"""Who is on the other end of a request, for the sign-in rate limits and the audit log.

Usually the connection's own address (uvicorn puts a trusted proxy's X-Forwarded-For there:
FORWARDED_ALLOW_IPS). The staff dashboard is different: it calls the API from its own
server for every staff member, so by that address alone all staff would share one sign-in
budget (an attacker's wrong guesses would lock everyone out) and every audit row would name
the dashboard. So the dashboard says whose browser it is calling for, in
`X-Aftercare-Client-IP`, and proves it is the dashboard with the shared secret
`AFTERCARE_DASHBOARD_SECRET` in `X-Aftercare-Dashboard`. Without that secret the header is
ignored: anyone else could claim a fresh address per request and escape the limit, or
spend someone else's.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

DASHBOARD_HEADER = "x-aftercare-dashboard"
CLIENT_IP_HEADER = "x-aftercare-client-ip"


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The address to limit and record: the browser's when the dashboard vouches for it,
    else the connection's; None when the server does not know it."""
    own = connection.client.host if connection.client else None
    vouched = connection.headers.get(CLIENT_IP_HEADER)
    if vouched is None:
        return own
    secret = connection.app.state.runtime.settings.dashboard_secret
    presented = connection.headers.get(DASHBOARD_HEADER, "")
    # Constant time, so the secret cannot be guessed a character at a time from timings.
    if not secret or not hmac.compare_digest(presented.encode(), secret.encode()):
        return own
    try:
        return str(ipaddress.ip_address(vouched.strip()))
    except ValueError:
        return own


def rate_limit_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The sign-in rate limit's bucket: one per client address."""
    return client_address(connection) or "unknown"
