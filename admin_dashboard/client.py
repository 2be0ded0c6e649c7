"""The dashboard's only way to the data: the Aftercare API over HTTP (never the database).

One `ApiClient` per signed-in browser session holds the tokens; a 401 refreshes the access
token once and retries, and a refresh that fails means the session is over. Sign-in may take
two steps (a password, then a code from an authenticator app), and a session whose role must
use two-factor sign-in reaches only its set-up until it is on."""

from __future__ import annotations

import os
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url() -> str:
    return os.environ.get("AFTERCARE_API_URL", DEFAULT_API_URL).rstrip("/")


def dashboard_secret() -> str | None:
    """Shared with the API (AFTERCARE_DASHBOARD_SECRET; `aftercare up` makes one): with it,
    the API believes the browser address we pass along (api/client_address.py)."""
    return os.environ.get("AFTERCARE_DASHBOARD_SECRET") or None


class ApiError(Exception):
    """The API said no (a 4xx): `detail` is its own human sentence, `errors` the fields,
    `extra` the whole answer (a problem may carry more, such as a sign-in's challenge)."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.errors = status, detail, code, errors or []
        self.extra = extra or {}


class ApiUnavailable(Exception):
    """The API cannot be reached or is failing (connection refused, timeout, 5xx)."""


class SessionExpired(Exception):
    """Signed out, deactivated, or the refresh token no longer works: sign in again."""


class SecondStepNeeded(Exception):
    """The password was right and the account signs in with two-factor: send `challenge`
    with a code from the authenticator app (`ApiClient.verify`) within `expires_in` seconds."""

    def __init__(self, challenge: str, expires_in: int) -> None:
        super().__init__("Two-factor sign-in: enter the code from your authenticator app.")
        self.challenge, self.expires_in = challenge, expires_in


class EnrolmentRequired(Exception):
    """This account's role must use two-factor sign-in and it has not set it up: the API
    answers nothing but the set-up (and a password change) until it does. Not an `ApiError`,
    so that a page's form does not show it as a refusal of what was typed."""


class ApiClient:
    def __init__(self, base_url: str | None = None, *, timeout: float = 15.0) -> None:
        self.base_url = base_url or api_url()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.tokens: dict[str, Any] | None = None
        self.me: dict[str, Any] | None = None
        # Set up two-factor sign-in before anything else (the sign-in's TokenPair said so, or
        # a call was refused for it); cleared once it is on (`enrolment_done`).
        self.must_enrol_mfa = False
        # The staff member's browser, as the dashboard's server saw it (state.client sets it):
        # the API limits sign-ins and writes the audit trail by it, not by our own address.
        self.browser_address: str | None = None

    # --- sign-in -----------------------------------------------------------------------------

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Raises `SecondStepNeeded` for an account with two-factor sign-in on."""
        try:
            return self._sign_in("/v1/auth/login", {"email": email, "password": password})
        except ApiError as exc:
            if exc.code != "mfa_required" or not exc.extra.get("challenge"):
                raise
            raise SecondStepNeeded(exc.extra["challenge"], int(exc.extra.get("challenge_expires_in") or 300)) from None

    def verify(self, challenge: str, code: str) -> dict[str, Any]:
        """The second step: the challenge from `login` and the authenticator app's code (or a
        recovery code)."""
        return self._sign_in("/v1/auth/mfa", {"challenge": challenge, "code": code})

    def set_up(self, code: str, password: str) -> dict[str, Any]:
        """A first sign-in (or one after a reset): the set-up code from an admin, and the
        password its owner chooses."""
        return self._sign_in("/v1/auth/setup", {"code": code, "password": password})

    def _sign_in(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        """Signed in only once both the tokens and the profile are here: half a sign-in
        (the profile call failed) leaves the client signed out."""
        tokens = self._call("POST", path, json=body, auth=False)
        self.tokens = tokens
        self.must_enrol_mfa = bool(tokens.get("mfa_enrolment_required"))
        if self.must_enrol_mfa:
            # The profile is closed to such a session: what the tokens say is all there is.
            self.me = {"id": tokens["person_id"], "roles": tokens["roles"], "alias": None}
            return self.me
        try:
            self.me = self.get("/v1/me")
        except BaseException:
            self.tokens = self.me = None
            raise
        return self.me

    def enrolment_done(self) -> None:
        """Two-factor is on now: the same session reaches everything its roles allow."""
        self.must_enrol_mfa = False
        self.me = self.get("/v1/me")

    def logout(self) -> None:
        if self.tokens:
            try:
                self._call("POST", "/v1/auth/logout", json={"refresh_token": self.tokens["refresh_token"]}, auth=False)
            except (ApiError, ApiUnavailable, SessionExpired):
                pass  # signing out locally is what matters
        self.tokens = self.me = None
        self.must_enrol_mfa = False

    @property
    def roles(self) -> set[str]:
        return set(self.me["roles"]) if self.me else set()

    # --- calls ---------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None) -> Any:
        return self._call("POST", path, json=json)

    def patch(self, path: str, json: Any) -> Any:
        return self._call("PATCH", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self._call("PUT", path, json=json)

    def delete(self, path: str, json: Any = None) -> Any:
        return self._call("DELETE", path, json=json)

    def get_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list (following `next_cursor`)."""
        items, cursor = [], None
        while True:
            page = self.get(path, **params, cursor=cursor)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def _call(self, method: str, path: str, *, auth: bool = True, retried: bool = False, **kwargs: Any) -> Any:
        headers = self._on_behalf_of()
        if auth:
            if not self.tokens:
                raise SessionExpired("Please sign in.")
            headers["Authorization"] = f"Bearer {self.tokens['access_token']}"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(
                f"The Aftercare API at {self.base_url} cannot be reached ({type(exc).__name__})."
            ) from None
        if response.status_code == 401 and auth:
            if not retried and self._refresh():
                return self._call(method, path, auth=auth, retried=True, **kwargs)
            self.tokens = self.me = None
            raise SessionExpired("Your session has ended. Please sign in again.")
        if response.status_code >= 500:
            raise ApiUnavailable(f"The Aftercare API had a problem (HTTP {response.status_code}). Try again shortly.")
        if response.status_code >= 400:
            body = _json(response)
            if response.status_code == 403 and body.get("code") == "mfa_enrolment_required":
                self.must_enrol_mfa = True
                raise EnrolmentRequired(body.get("detail") or "Set up two-factor sign-in first.")
            raise ApiError(
                response.status_code,
                body.get("detail") or response.reason_phrase,
                body.get("code"),
                body.get("errors"),
                extra=body,
            )
        return _json(response) if response.content else None

    def _on_behalf_of(self) -> dict[str, str]:
        """Whose browser this call is for, vouched for with the shared secret; nothing when
        either is unknown (then the API counts the call against our own address)."""
        secret = dashboard_secret()
        if not secret or not self.browser_address:
            return {}
        return {"X-Aftercare-Dashboard": secret, "X-Aftercare-Client-IP": self.browser_address}

    def _refresh(self) -> bool:
        assert self.tokens is not None  # only after a 401 to a call `_call` made with the tokens
        try:
            response = self._http.post(
                "/v1/auth/refresh", json={"refresh_token": self.tokens["refresh_token"]}, headers=self._on_behalf_of()
            )
        except httpx.HTTPError:
            return False
        if response.status_code != 201 and response.status_code != 200:
            return False
        self.tokens = response.json()
        return True


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}
