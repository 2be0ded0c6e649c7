"""What the tests run the app with: its settings (the test secret, the cheapest password
hashing), the app built from them but never started, and databases of their own on the
test server, made and dropped."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from api.app import create_app
from api.settings import Settings

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        secret_key=TEST_SECRET,
        password_profile="cheapest",
        auth_rate_limit_per_minute=10_000,
        # No worker runs beside most tests: jobs would all be "late". Tests of job health set it.
        worker_expected=False,
        # Most tests sign staff in with a password alone; tests/auth/test_two_factor.py requires
        # the second factor as a deployment does by default.
        require_mfa=frozenset(),
    )
    values.update(overrides)
    return Settings(**values)


def offline_app():
    """The app as configured for the tests, never started (its route table and schema only)."""
    return create_app(make_settings("postgresql://unused@127.0.0.1/unused"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(server_url: str) -> str:
    name = f"aftercare_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return _with_database(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'drop database if exists "{urlsplit(url).path[1:]}" with (force)')
    finally:
        await admin.close()
