"""Who is calling, and what they may do.

Authentication is Litestar's JWT auth: a short-lived access token whose subject is the
person and whose `sid` is their device session. Every request looks both up again, so a
deactivated person or a revoked session is refused at once, whatever tokens they hold.

Authorization has two layers, used the same way by every route:
- role guards (`require_roles`), on a router or a handler: the wrong role is a 403;
- object-level checks in the query itself (scoped to the caller), with `api.problems.found`
  turning "no row" into a 404, so a foreign id looks exactly like an unknown one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from api.deps import request_connection, takes_conn
from api.problems import problem
from api.settings import Settings
from db import auth as auth_db
from db.pool import ACQUIRE_TIMEOUT_S

PARTICIPANT = "participant"
FACILITATOR = "facilitator"
STAFF = "staff"
ADMIN = "admin"
ROLES = (PARTICIPANT, FACILITATOR, STAFF, ADMIN)


class Principal(msgspec.Struct, frozen=True):
    """The signed-in person, as loaded for this request."""

    id: UUID
    roles: frozenset[str]
    session_id: UUID
    timezone: str
    # Their role must use two-factor sign-in and they have not set it up (mfa_enrolment_gate).
    must_enrol_mfa: bool = False

    def has_any(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


# The request of a route behind sign-in: `request.user` is the Principal.
SignedInRequest = Request[Principal, Token, State]


def must_enrol_mfa(required: frozenset[str], roles: Iterable[str], mfa_on: bool) -> bool:
    """Whether someone holding `roles` must set up two-factor sign-in before anything else."""
    return not mfa_on and not required.isdisjoint(roles)


async def principal_of_session(
    conn: asyncpg.Connection, settings: Settings, person_id: UUID, session_id: UUID
) -> Principal | None:
    """The person of a live session, or None once it is revoked or they are deactivated."""
    row = await auth_db.get_principal(conn, person_id, session_id)
    if row is None:
        return None
    return Principal(
        id=row["id"],
        roles=frozenset(row["roles"]),
        session_id=session_id,
        timezone=row["timezone"],
        must_enrol_mfa=must_enrol_mfa(settings.require_mfa, row["roles"], row["mfa_on"]),
    )


def session_of_token(jwt_auth: JWTAuth[Principal, Token], encoded: str) -> tuple[UUID, UUID] | None:
    """(person, session) of a valid access token, checked as the auth middleware checks it;
    None for anything else. For the live socket, which authenticates in its handler."""
    try:
        token = jwt_auth.token_cls.decode(
            encoded_token=encoded, secret=jwt_auth.token_secret, algorithm=jwt_auth.algorithm, issuer=["aftercare"]
        )
        return UUID(token.sub), UUID(str(token.extras["sid"]))
    except (NotAuthorizedException, KeyError, ValueError):
        return None


def build_jwt_auth(settings: Settings) -> JWTAuth[Principal, Token]:
    async def load_principal(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        try:
            person_id, session_id = UUID(token.sub), UUID(str(token.extras["sid"]))
        except (KeyError, ValueError):
            return None
        pool, principal = connection.app.state.pool, None
        if takes_conn(connection.scope):  # the handler's connection, taken here: one checkout a request
            held = request_connection(connection.scope, pool)
            try:
                principal = await principal_of_session(await held.get(), settings, person_id, session_id)
            finally:
                # Refused, the request ends in the auth middleware, outside the one that
                # gives the connection back: it goes back here.
                if principal is None:
                    await held.release()
        else:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                principal = await principal_of_session(conn, settings, person_id, session_id)
        if principal is None:
            raise NotAuthorizedException("This session has ended. Sign in again.")
        return principal

    return JWTAuth[Principal, Token](
        token_secret=settings.secret_key,
        retrieve_user_handler=load_principal,
        default_token_expiration=timedelta(seconds=settings.access_token_ttl_s),
        accepted_issuers=["aftercare"],
        exclude=["^/schema"],
        exclude_opt_key="public",
        description="Access token from /v1/auth/activate, /login, /mfa, /setup, /refresh or /firebase.",
    )


def issue_access_token(jwt_auth: JWTAuth[Principal, Token], person_id: UUID, session_id: UUID) -> str:
    return jwt_auth.create_token(
        identifier=str(person_id),
        token_issuer="aftercare",
        token_unique_jwt_id=uuid4().hex,
        token_extras={"sid": str(session_id)},
    )


SIGN_IN_FIRST = "Sign in first, and send the access token as `Authorization: Bearer <token>`."


def _allow_answer(handler: BaseRouteHandler) -> bool:
    """Litestar's own OPTIONS handler, added to every path: it answers the `Allow` header
    and nothing else, and the auth middleware skips OPTIONS (a browser's preflight carries
    no token), so there is nobody to check and nothing to protect."""
    # Only an HTTP handler has methods (a guarded socket is not an OPTIONS answer either).
    return (
        isinstance(handler, HTTPRouteHandler)
        and handler.http_methods == {HttpMethod.OPTIONS}
        and handler.handler_name == "options_handler"
    )


# A guard as Litestar calls it: before the handler, raising to refuse.
Guard = Callable[[ASGIConnection[Any, Principal, Any, Any], BaseRouteHandler], Awaitable[None]]


def require_roles(*roles: str) -> Guard:
    """A guard admitting callers who hold any of `roles`."""
    needed = ", ".join(roles)

    # async: Litestar would run a plain function in its thread pool, a thread hop per request.
    async def guard(connection: ASGIConnection[Any, Principal, Any, Any], handler: BaseRouteHandler) -> None:
        # Read from the scope: `connection.user` raises where the auth middleware did not run.
        user: Principal | None = connection.scope.get("user")
        if user is None:
            if _allow_answer(handler):
                return
            # Fail closed whatever the reason nobody was authenticated.
            raise problem(401, "not_authenticated", SIGN_IN_FIRST)
        if not user.has_any(*roles):
            raise problem(403, "forbidden", f"This needs one of these roles: {needed}.")

    guard.__name__ = f"require_{'_or_'.join(roles)}"
    return guard


# What a handler declares (`opt={DURING_MFA_ENROLMENT: True}`) to stay open to a session
# whose role must use two-factor sign-in before it is set up: the enrolment routes, and
# changing one's password. Everything else is closed to such a session.
DURING_MFA_ENROLMENT = "during_mfa_enrolment"


async def mfa_enrolment_gate(connection: ASGIConnection[Any, Principal, Any, Any], handler: BaseRouteHandler) -> None:
    """An app-wide guard: a session that must set up two-factor sign-in first reaches only
    the routes that let it (DURING_MFA_ENROLMENT). A stolen password of such an account
    opens nothing but the enrolment, which the owner notices when it is theirs to do."""
    user: Principal | None = connection.scope.get("user")
    if user is not None and user.must_enrol_mfa and not handler.opt.get(DURING_MFA_ENROLMENT):
        raise problem(
            403,
            "mfa_enrolment_required",
            "Your role must use two-factor sign-in: set it up first (POST /v1/me/mfa/totp, then confirm a code).",
        )


staff_only = require_roles(STAFF, ADMIN)
admin_only = require_roles(ADMIN)
participants_only = require_roles(PARTICIPANT)
