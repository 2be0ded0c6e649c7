"""Firebase ID-token sign-in, verified by firebase-admin's real code against a local fake
of Google's certificate endpoint and tokens signed by a key made by the test."""

import pytest
from firebase_admin import _token_gen
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests import helpers
from tests.config import make_settings
from tests.fake_google import FakeCertificateServer, SigningKey
from tests.helpers import assert_problem

PROJECT = "aftercare-test"


@pytest.fixture(scope="module")
def google_key():
    return SigningKey("test-key-1")


@pytest.fixture
def cert_server(google_key, monkeypatch):
    with FakeCertificateServer([google_key]) as server:
        # The SDK reads this when it builds its auth service: before the app is created.
        monkeypatch.setattr(_token_gen, "ID_TOKEN_CERT_URI", server.url)
        yield server


@pytest.fixture
async def fb_client(database_url, conn, cert_server):
    app = create_app(make_settings(database_url, firebase_project_id=PROJECT))
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_link_at_activation_then_sign_in(fb_client, conn, hasher, google_key, cert_server):
    staff = await helpers.account(fb_client, conn, hasher, ["staff"])
    enrolled = await helpers.enroll(fb_client, staff)
    token = google_key.id_token(PROJECT, "firebase-uid-1")
    response = await fb_client.post(
        "/v1/auth/activate", json={"code": enrolled["activation_code"], "firebase_id_token": token}
    )
    assert response.status_code == 201, response.text

    response = await fb_client.post(
        "/v1/auth/firebase", json={"id_token": google_key.id_token(PROJECT, "firebase-uid-1")}
    )
    assert response.status_code == 201, response.text
    me = await fb_client.get("/v1/me", headers=helpers.bearer(response.json()))
    assert me.json()["id"] == enrolled["id"]
    assert cert_server.requests >= 1


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda key: key.id_token(PROJECT, "uid", expires_in=-600), id="expired"),
        pytest.param(lambda key: key.id_token("another-project", "uid"), id="wrong-audience"),
        pytest.param(lambda key: key.id_token(PROJECT, "uid", iss="https://evil.example/x"), id="wrong-issuer"),
        pytest.param(lambda key: SigningKey(key.kid).id_token(PROJECT, "uid"), id="signed-by-someone-else"),
        pytest.param(lambda key: SigningKey("unknown-kid").id_token(PROJECT, "uid"), id="unknown-key"),
        pytest.param(lambda key: "not.a.jwt", id="garbage"),
    ],
)
async def test_invalid_id_tokens_are_refused(fb_client, google_key, make_token):
    response = await fb_client.post("/v1/auth/firebase", json={"id_token": make_token(google_key)})
    assert_problem(response, 401, "invalid_id_token")


async def test_unlinked_firebase_user(fb_client, google_key):
    response = await fb_client.post("/v1/auth/firebase", json={"id_token": google_key.id_token(PROJECT, "stranger")})
    assert_problem(response, 401, "firebase_not_linked")


async def test_certificate_outage_is_a_503_not_the_users_fault(fb_client, google_key, cert_server):
    cert_server.fail = True
    response = await fb_client.post("/v1/auth/firebase", json={"id_token": google_key.id_token(PROJECT, "uid")})
    assert_problem(response, 503, "firebase_unavailable")


async def test_invalid_token_at_activation_does_not_use_the_code(fb_client, conn, hasher, google_key):
    staff = await helpers.account(fb_client, conn, hasher, ["staff"])
    enrolled = await helpers.enroll(fb_client, staff)
    bad = google_key.id_token(PROJECT, "uid", expires_in=-600)
    response = await fb_client.post(
        "/v1/auth/activate", json={"code": enrolled["activation_code"], "firebase_id_token": bad}
    )
    assert_problem(response, 401, "invalid_id_token")
    await helpers.activate(fb_client, enrolled["activation_code"])


async def test_deactivation_unlinks_firebase(fb_client, conn, hasher, google_key):
    staff = await helpers.account(fb_client, conn, hasher, ["staff"])
    enrolled = await helpers.enroll(fb_client, staff)
    token = google_key.id_token(PROJECT, "uid-2")
    await fb_client.post("/v1/auth/activate", json={"code": enrolled["activation_code"], "firebase_id_token": token})
    url = f"/v1/staff/participants/{enrolled['id']}"
    await fb_client.post(f"{url}/deactivate", headers=staff.headers)
    await fb_client.post(f"{url}/reactivate", headers=staff.headers)
    # Coming back takes a new code from staff; the old Firebase link does not open the door.
    response = await fb_client.post("/v1/auth/firebase", json={"id_token": google_key.id_token(PROJECT, "uid-2")})
    assert_problem(response, 401, "firebase_not_linked")


async def test_firebase_sign_in_off_without_a_project_is_a_404_not_a_server_error(client, staff):
    response = await client.post("/v1/auth/firebase", json={"id_token": "x"})
    body = assert_problem(response, 404, "firebase_sign_in_off")
    assert "activation code" in body["detail"]
    # Activating with a Firebase token there names the field, and leaves the code unused.
    enrolled = await helpers.enroll(client, staff)
    response = await client.post(
        "/v1/auth/activate", json={"code": enrolled["activation_code"], "firebase_id_token": "x"}
    )
    body = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["firebase_id_token"]
    response = await client.post("/v1/auth/activate", json={"code": enrolled["activation_code"]})
    assert response.status_code == 201, response.text
