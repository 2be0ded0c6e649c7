"""What every answer carries: the security headers (on every kind of answer, errors and the
API docs included), HSTS only when the request came over TLS, and CORS: closed unless
configured, then exact origins only."""

from __future__ import annotations

import uuid

import httpx
import pytest
from litestar.testing import AsyncTestClient

from api.app import DOCS_PATH, create_app
from api.headers import HSTS, security_headers
from api.settings import ConfigError, Settings
from tests.attack.authorization_world import fill_path, foreign_ids
from tests.config import TEST_SECRET, make_settings
from tests.helpers import ENROL, LOGIN, PASSWORD, login_body
from tests.live_server import LiveServer

# --- Headers on every answer ---------------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _assert_security_headers(answer, docs: bool = False) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name, answer.headers)
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    # The docs page runs only its own scripts, from this server (api/docs.py): no host named.
    assert ("script-src 'self'" in policy) is docs and "http" not in policy
    assert "strict-transport-security" not in answer.headers  # plain HTTP here


async def test_security_headers_on_every_kind_of_answer(client, admin, monkeypatch):
    from db import people

    async def explode(*args, **kwargs):
        raise RuntimeError("boom")

    answers = {
        "200": await client.get("/health/live"),
        "201": await client.post(LOGIN, json=login_body(admin.email, PASSWORD)),
        "400": await client.post(ENROL, json={"alias": 1}, headers=admin.headers),
        "401": await client.get("/v1/me"),
        "404 route": await client.get("/v1/nothing"),
        "404 object": await client.get(f"{ENROL}/{uuid.uuid4()}", headers=admin.headers),
        "405": await client.put("/health/live"),
        "413": await client.post(ENROL, json={"alias": "x" * 2_000_000}, headers=admin.headers),
        "415": await client.post(LOGIN, content=b"{}", headers={"Content-Type": "text/plain"}),
        "OPTIONS": await client.options(LOGIN, headers={"Origin": "https://elsewhere.example"}),
        "schema": await client.get(f"{DOCS_PATH}/openapi.json"),
    }
    monkeypatch.setattr(people, "list_participants", explode)
    answers["500"] = await client.get(ENROL, headers=admin.headers)
    for label, answer in answers.items():
        assert str(answer.status_code).startswith(label[:3]) or label in ("OPTIONS", "schema"), (label, answer)
        _assert_security_headers(answer, docs=label == "schema")
    docs = await client.get(DOCS_PATH)
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    _assert_security_headers(docs, docs=True)
    # Swagger UI's files, from this server, may stay a day in the browser's cache.
    script = await client.get(f"{DOCS_PATH}/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and script.headers["cache-control"] == "max-age=86400, public"
    assert "script-src 'self'" in script.headers["content-security-policy"]
    # Only the files the page uses: not the package's OAuth redirect page, editor or maps.
    for other in ("oauth2-redirect.html", "swagger-editor-bundle.js", "swagger-ui.js.map", "..%2F__init__.py"):
        assert (await client.get(f"{DOCS_PATH}/assets/{other}")).status_code == 404, other


async def test_a_header_a_route_sets_itself_is_kept():
    # A feed may choose to be cached (Cache-Control: public...): the hook only fills gaps.
    message = {"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"public, max-age=300")]}
    await security_headers(DOCS_PATH)(message, {"type": "http", "path": "/v1/public/feed", "scheme": "http"})
    headers = dict(message["headers"])
    assert headers[b"cache-control"] == b"public, max-age=300"
    assert headers[b"x-content-type-options"] == b"nosniff"


async def test_options_lists_every_method_of_its_path(client):
    """Litestar's own OPTIONS answer names the methods its path has: all of them, where a
    path has several handlers (it kept only the first one's, `GET, OPTIONS`, on the check-ins'
    GET and POST). Every path of the app, its ids filled with ids of nothing."""
    ids = foreign_ids()
    wrong, checked = {}, 0
    for route in client.app.routes:
        if not hasattr(route, "route_handler_map") or route.path.startswith("/schema"):
            continue
        answer = await client.options(fill_path(route.path, ids))
        checked += 1
        said = {m.strip() for m in answer.headers.get("allow", "").split(",") if m.strip()}
        if answer.status_code != 204 or said != set(route.methods):
            wrong[route.path] = (answer.status_code, sorted(said), sorted(route.methods))
    assert wrong == {}
    assert checked > 50
    answer = await client.options("/v1/checkins")
    assert answer.headers["allow"] == "GET, OPTIONS, POST"


async def test_hsts_only_when_the_request_came_over_tls(database_url, conn):
    app = create_app(make_settings(database_url))
    async with AsyncTestClient(app=app, base_url="https://api.example.org") as client:
        assert (await client.get("/v1/nothing")).headers["strict-transport-security"] == HSTS
    async with AsyncTestClient(app=app, base_url="http://api.example.org") as client:
        assert "strict-transport-security" not in (await client.get("/health/live")).headers


def test_hsts_from_a_trusted_proxys_forwarded_proto(database_url, conn):
    # uvicorn trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS (127.0.0.1 by default).
    with LiveServer(make_settings(database_url)) as server, httpx.Client(base_url=server.url) as http:
        behind_tls = http.get("/health/live", headers={"X-Forwarded-Proto": "https"})
        plain = http.get("/health/live")
    assert behind_tls.headers["strict-transport-security"] == HSTS
    assert "strict-transport-security" not in plain.headers


# --- CORS: closed unless configured, exact origins only ------------------------------------

APP_ORIGIN = "https://app.example.org"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


async def test_cors_is_closed_by_default(client, admin):
    for origin in (APP_ORIGIN, "https://evil.example", "null"):
        preflight = await client.options(LOGIN, headers=PREFLIGHT | {"Origin": origin})
        simple = await client.get("/v1/me", headers=admin.headers | {"Origin": origin})
        for answer in (preflight, simple):
            assert not any(name.startswith("access-control-allow") for name in answer.headers), answer.headers


async def test_cors_admits_only_the_configured_origins(database_url, conn):
    app = create_app(make_settings(database_url, cors_origins=(APP_ORIGIN,)))
    async with AsyncTestClient(app=app) as client:
        preflight = await client.options(LOGIN, headers=PREFLIGHT | {"Origin": APP_ORIGIN})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers
        simple = await client.get("/health/live", headers={"Origin": APP_ORIGIN})
        assert simple.headers["access-control-allow-origin"] == APP_ORIGIN and "Origin" in simple.headers["vary"]
        for origin in (
            "https://app.example.org.evil.example",
            "http://app.example.org",
            "null",
            "https://evil.example",
        ):
            for answer in (
                await client.options(LOGIN, headers=PREFLIGHT | {"Origin": origin}),
                await client.get("/health/live", headers={"Origin": origin}),
            ):
                assert "access-control-allow-origin" not in answer.headers, (origin, answer.headers)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        ("https://app.example.org", ("https://app.example.org",)),
        (" https://A.example.org , http://localhost:5173 ", ("https://a.example.org", "http://localhost:5173")),
    ],
)
def test_cors_origins_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("AFTERCARE_CORS_ORIGINS", raw)
    assert Settings.from_env(database_url="postgresql://x", secret_key=TEST_SECRET).cors_origins == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("*", "wildcard"),
        ("https://*.example.org", "wildcard"),
        ("https://app.example.org/", "not an origin"),
        ("https://app.example.org/path", "not an origin"),
        ("app.example.org", "not an origin"),
        ("ftp://app.example.org", "not an origin"),
        ("https://user@app.example.org", "not an origin"),
        ("https://app.example.org:port", "not an origin"),
        ("null", "not an origin"),
    ],
)
def test_cors_origins_that_are_refused(monkeypatch, raw, says):
    monkeypatch.setenv("AFTERCARE_CORS_ORIGINS", raw)
    with pytest.raises(ConfigError, match=says) as refused:
        Settings.from_env(database_url="postgresql://x", secret_key=TEST_SECRET)
    assert "AFTERCARE_CORS_ORIGINS" in str(refused.value)
