"""Configuration, read once from the environment (see README, "Configuration")."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


def _int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _clock(name: str, default: dt.time) -> dt.time:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a time of day like 18:00, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name) or default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _origin(name: str, raw: str) -> str:
    """One exact web origin, `scheme://host[:port]`, lowercased as browsers send it."""
    if "*" in raw:
        # Litestar reads "*" anywhere in an origin as a wildcard. Nothing we ship needs one
        # (the phone apps and the dashboard are not web pages, so CORS does not apply to
        # them), and it would let any site use the API from its visitors' browsers, e.g. to
        # spread sign-in guesses over many addresses. Bearer tokens do not change that.
        raise ConfigError(
            f"{name} must list exact origins, not {raw!r}: a wildcard lets any web site call the API "
            "from its visitors' browsers. List each web app that needs it, e.g. https://app.example.org"
        )
    origin = raw.lower()
    if not _is_origin(origin):
        raise ConfigError(
            f"{name}: {raw!r} is not an origin; write scheme://host[:port] with no path or trailing slash, "
            "e.g. https://app.example.org"
        )
    return origin


def _is_origin(text: str) -> bool:
    # A path or a trailing slash never equals a browser's Origin header: it would allow nothing.
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and text == f"{parts.scheme}://{parts.netloc}"
    )


def _origins(name: str) -> tuple[str, ...]:
    """Web origins allowed to call the API from a browser (comma-separated); none if unset."""
    raw = os.environ.get(name) or ""
    return tuple(_origin(name, part.strip()) for part in raw.split(",") if part.strip())


# Roles whose accounts sign in with a password, and so can be made to use two-factor.
PASSWORD_ROLES = ("admin", "staff", "facilitator")


def _roles_requiring_mfa(name: str, default: frozenset[str]) -> frozenset[str]:
    """`admin,staff` (the default), any of admin, staff, facilitator, or `none`."""
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw == "none":
        return frozenset()
    roles = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if unknown := sorted(roles - set(PASSWORD_ROLES)):
        raise ConfigError(
            f"{name} lists {', '.join(unknown)}: give roles that sign in with a password "
            f"({', '.join(PASSWORD_ROLES)}), comma-separated, or `none` (graduates sign in with codes)"
        )
    return roles


def check_database_url(url: str) -> str:
    """DATABASE_URL as asyncpg will read it, or a ConfigError saying what is wrong with it
    (asyncpg's own words for a bad one are a traceback)."""
    example = "e.g. postgresql://user:password@host:5432/aftercare"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ or ]
        raise ConfigError(f"DATABASE_URL cannot be read as a URL: percent-encode [ and ] in it ({example})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL must start with postgresql:// ({example})")
    if "," not in parts.netloc:  # several hosts (host1:5432,host2:5432) are asyncpg's to read
        try:
            parts.port  # noqa: B018 - reading it checks it
        except ValueError:
            raise ConfigError(f"DATABASE_URL has a port that is not a number from 1 to 65535 ({example})") from None
    return url


def _tracing() -> str:
    mode = _choice("AFTERCARE_TRACING", "off", ("off", "otlp"))
    if mode == "otlp" and importlib.util.find_spec("opentelemetry.sdk") is None:
        raise ConfigError(
            "AFTERCARE_TRACING=otlp needs the tracing extra: pip install 'aftercare[tracing]' (with -c requirements.lock)"
        )
    return mode


def _shared_secret(name: str, hint: str = "") -> str | None:
    """An optional secret shared with another program: unset, or at least 32 characters."""
    secret = os.environ.get(name) or None
    if secret is not None and len(secret) < 32:
        raise ConfigError(
            f"{name} must be at least 32 random characters{hint}, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return secret


def _credentials_file() -> str | None:
    path = os.environ.get("AFTERCARE_FCM_CREDENTIALS")
    if not path:
        return None
    if not Path(path).is_file():
        raise ConfigError(
            f"AFTERCARE_FCM_CREDENTIALS points at {path!r}, which is not a file: give the path of the "
            "service-account JSON from the Firebase console (Project settings > Service accounts)"
        )
    return path


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_days: int = 60
    # Seconds after a refresh in which presenting the replaced refresh token again (a retry,
    # two parts of an app at once) returns the same successor instead of ending the session.
    refresh_reuse_grace_s: int = 30
    # Hours a password session (staff, admins, facilitators) may go without a refresh before
    # its refresh token is refused: a forgotten dashboard sign-in does not stay open for weeks.
    staff_refresh_idle_hours: int = 12
    # Roles that must sign in with a second factor (an authenticator app): until they enrol,
    # their sessions reach only the enrolment routes. They read every graduate's check-ins.
    require_mfa: frozenset[str] = frozenset({"admin", "staff"})
    # How long the step between a right password and the second factor may take.
    mfa_challenge_ttl_s: int = 300
    activation_code_ttl_days: int = 7
    # How long a staff account's set-up code (a new account, or an admin's reset) can be
    # redeemed: long enough to hand over across a weekend, short enough to go stale.
    setup_code_ttl_hours: int = 72
    # Wrong verifiers tried against one activation code before it is locked for good.
    activation_max_attempts: int = 5
    # Wrong passwords from one client address within `login_lock_minutes` before the account
    # is locked for `login_lock_minutes` from that address (only: an attacker who knows a
    # counselor's email must not lock the counselor out from everywhere).
    login_max_failures: int = 10
    login_lock_minutes: int = 15
    # Wrong passwords from all addresses together within `login_lock_minutes` before the
    # account is locked everywhere for `login_lock_minutes`, and shows as locked to admins: a
    # backstop against guessing spread over many addresses. Ten addresses' worth, so that
    # locking someone out everywhere takes ten addresses at once (each also held to the
    # per-address rate limit), while a guesser gets at most 100 guesses per 15 minutes.
    login_account_max_failures: int = 100
    # Sign-in and code redemption requests per client address per minute.
    auth_rate_limit_per_minute: int = 10
    # How long one Redis connect or reply may take before sign-in answers 503: redis-py
    # waits 5 s by default, and a Redis that accepts but never answers would hold every
    # sign-in that long.
    redis_timeout_ms: int = 500
    # Shared with the staff dashboard, which proves with it that the browser address it
    # passes along is its own to give (api/client_address.py); None: no one can.
    dashboard_secret: str | None = None
    # Web origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    # The bearer token Prometheus sends to GET /metrics (api/metrics.py); None: no /metrics.
    metrics_token: str | None = None
    # "otlp": OpenTelemetry spans of requests and their SQL to a collector (api/tracing.py).
    tracing: str = "off"
    # Where spans go instead of OTLP (the tests keep them in memory). Not read from the env.
    span_exporter: object | None = None
    statement_timeout_ms: int = 5000
    # On SIGTERM an API process says it is not ready, and goes on answering for this long
    # before it stops (api/shutdown.py): the time a load balancer takes to notice.
    shutdown_drain_s: int = 5
    db_pool_max: int = 10
    max_body_bytes: int = 1024 * 1024
    # How long a request body may take to arrive (a stalled upload would otherwise hold its
    # request forever). Not read from the env: the proxy in front usually has its own.
    body_timeout_s: float = 30.0
    firebase_project_id: str | None = None
    # Push (the worker). Without a service-account file, pushes are only logged.
    fcm_credentials_file: str | None = None
    # How pushes reach FCM: "aiohttp" (the lean transport, notifications/fcm_lean.py) or
    # "firebase-admin" (the SDK's own send_each_async, about 6 times the CPU per message).
    push_transport: str = "aiohttp"
    checkin_reminder_at: dt.time = dt.time(18, 0)
    session_reminder_minutes: int = 60
    session_reminder_audience: Literal["rsvp", "members"] = "rsvp"
    push_batch_size: int = 500
    # Claims a worker sends at once (notifications/dispatch.dispatch_lanes), each on its own
    # connection: while one waits on the database or on FCM, the other sends.
    push_lanes: int = 2
    push_max_attempts: int = 5
    # How often the worker runs each job, in seconds. Dispatch also wakes on every new
    # notification (LISTEN/NOTIFY); its interval is the fallback and the retry clock.
    dispatch_interval_s: int = 5
    reminder_interval_s: int = 60
    sweep_interval_s: int = 600
    # Deleted graduates' records kept for open alerts go 30 days after acknowledgement.
    purge_interval_s: int = 3600
    # Calls for help nobody answered within 15 minutes are looked for this often.
    help_now_interval_s: int = 30
    # Whether a worker should be running: if so, a job that has not succeeded within three
    # of its intervals is reported late (GET /v1/staff/system-status, the dashboard's banner).
    worker_expected: bool = True
    # "default" (argon2-cffi's RFC 9106 low-memory profile) in production; the tests use
    # "cheapest" so that hashing does not dominate their run time. Not read from the env.
    password_profile: str = field(default="default")
    # argon2 checks (sign-in, activation codes, new passwords) run at most this many at
    # once, about one per core, and at most `hash_queue` more wait; beyond that a request
    # answers 503 with Retry-After at once. No database connection is held meanwhile.
    hash_concurrency: int = 2
    hash_queue: int = 16
    # Peer discussions: posts (and replies) one person may send per hour, across groups;
    # the same text again within `post_duplicate_window_s` is refused as a duplicate.
    post_rate_per_hour: int = 20
    post_duplicate_window_s: int = 600
    # A live socket checks again, this often, that its session and its seat in the group
    # still hold (leaving and deactivation close it at once; this catches everything else).
    live_recheck_s: float = 30.0
    live_ticket_ttl_s: int = 30

    @classmethod
    def from_env(
        cls, *, database_url: str | None = None, secret_key: str | None = None, need_secret: bool = True
    ) -> Settings:
        database_url = database_url or os.environ.get("DATABASE_URL")
        secret_key = secret_key or os.environ.get("AFTERCARE_SECRET_KEY")
        if not database_url:
            raise ConfigError("DATABASE_URL is not set (or use `aftercare up` for an embedded database)")
        if database_url != "embedded":  # `serve` checks the others before it starts one
            check_database_url(database_url)
        if need_secret and (not secret_key or len(secret_key) < 32):
            raise ConfigError(
                "AFTERCARE_SECRET_KEY must be set to at least 32 random characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return cls(
            database_url=database_url,
            secret_key=secret_key or "",
            redis_url=os.environ.get("REDIS_URL") or None,
            access_token_ttl_s=_int("AFTERCARE_ACCESS_TOKEN_TTL_S", cls.access_token_ttl_s),
            refresh_token_ttl_days=_int("AFTERCARE_REFRESH_TOKEN_TTL_DAYS", cls.refresh_token_ttl_days),
            refresh_reuse_grace_s=_int("AFTERCARE_REFRESH_REUSE_GRACE_S", cls.refresh_reuse_grace_s, 0),
            # At most 12: timely log-off, a security officer's bound on a session left unused.
            staff_refresh_idle_hours=_int("AFTERCARE_STAFF_REFRESH_IDLE_HOURS", cls.staff_refresh_idle_hours, 1, 12),
            require_mfa=_roles_requiring_mfa("AFTERCARE_REQUIRE_MFA", cls.require_mfa),
            auth_rate_limit_per_minute=_int("AFTERCARE_AUTH_RATE_LIMIT", cls.auth_rate_limit_per_minute),
            redis_timeout_ms=_int("AFTERCARE_REDIS_TIMEOUT_MS", cls.redis_timeout_ms, 1),
            cors_origins=_origins("AFTERCARE_CORS_ORIGINS"),
            # Whoever guesses it can pass any address as a browser's and so escape the sign-in limit.
            dashboard_secret=_shared_secret("AFTERCARE_DASHBOARD_SECRET", " (`aftercare up` makes one)"),
            # Metrics name no one, but they tell how busy the program is, and when.
            metrics_token=_shared_secret("AFTERCARE_METRICS_TOKEN"),
            tracing=_tracing(),
            statement_timeout_ms=_int("AFTERCARE_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms),
            shutdown_drain_s=_int("AFTERCARE_SHUTDOWN_DRAIN_S", cls.shutdown_drain_s, 0, 60),
            db_pool_max=_int("AFTERCARE_DB_POOL_MAX", cls.db_pool_max),
            hash_concurrency=_int("AFTERCARE_HASH_CONCURRENCY", cls.hash_concurrency, 1),
            hash_queue=_int("AFTERCARE_HASH_QUEUE", cls.hash_queue, 0),
            post_rate_per_hour=_int("AFTERCARE_POST_RATE_PER_HOUR", cls.post_rate_per_hour, 1),
            firebase_project_id=os.environ.get("FIREBASE_PROJECT_ID") or None,
            fcm_credentials_file=_credentials_file(),
            push_transport=_choice("AFTERCARE_PUSH_TRANSPORT", cls.push_transport, ("aiohttp", "firebase-admin")),
            checkin_reminder_at=_clock("AFTERCARE_CHECKIN_REMINDER_AT", cls.checkin_reminder_at),
            session_reminder_minutes=_int("AFTERCARE_SESSION_REMINDER_MINUTES", cls.session_reminder_minutes, 1),
            session_reminder_audience=cast(
                'Literal["rsvp", "members"]',
                _choice("AFTERCARE_SESSION_REMINDER_AUDIENCE", cls.session_reminder_audience, ("rsvp", "members")),
            ),
            push_batch_size=min(_int("AFTERCARE_PUSH_BATCH_SIZE", cls.push_batch_size, 1), 2000),
            push_lanes=_int("AFTERCARE_PUSH_LANES", cls.push_lanes, 1, 4),
            push_max_attempts=_int("AFTERCARE_PUSH_MAX_ATTEMPTS", cls.push_max_attempts, 1),
            dispatch_interval_s=_int("AFTERCARE_DISPATCH_INTERVAL_S", cls.dispatch_interval_s, 1),
            reminder_interval_s=_int("AFTERCARE_REMINDER_INTERVAL_S", cls.reminder_interval_s, 1),
            sweep_interval_s=_int("AFTERCARE_SWEEP_INTERVAL_S", cls.sweep_interval_s, 1),
            purge_interval_s=_int("AFTERCARE_PURGE_INTERVAL_S", cls.purge_interval_s, 1),
            help_now_interval_s=_int("AFTERCARE_HELP_NOW_INTERVAL_S", cls.help_now_interval_s, 1),
            worker_expected=_bool("AFTERCARE_WORKER_EXPECTED", cls.worker_expected),
        )

    def job_intervals(self) -> dict[str, int]:
        """Each background job and how often the worker runs it, in seconds: one list for the
        worker (which runs them) and the API (which says when one is late)."""
        return {
            "reminders": self.reminder_interval_s,
            "sweep": self.sweep_interval_s,
            "help_now": self.help_now_interval_s,
            "dispatch": self.dispatch_interval_s,
            "purge": self.purge_interval_s,
        }


def data_dir() -> Path:
    """Where `aftercare up` keeps the embedded database and its generated secret."""
    return Path(os.environ.get("AFTERCARE_DATA_DIR", ".aftercare")).resolve()
