"""Two-factor sign-in on the dashboard: the code step at sign-in (right, wrong, recovery code,
ran out, locked), a role that must use it (only the set-up until it is on, in the same
session), the set-up page (QR code, the recovery codes once) and turning it off. Streamlit's
AppTest against the real API on a free port.

The clock stands still near real time and moves 30-second steps by hand (tests/clock.py
`totp_steps`): a code from the app is good once per step."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from tests import helpers
from tests.clock import totp_steps
from tests.dashboard.apptest import capture_downloads, open_page, sign_in, texts
from tests.helpers import PASSWORD, totp_code

CODE_LABEL = "Code from your authenticator app"
MUST_ENROL = "Your role must use two-factor sign-in: set it up to continue."
DURING_ENROLMENT = ["Two-factor sign-in", "My password"]
# The API's settings for a test that needs them (conftest's `settings`, behind api_url).
REQUIRED = {"require_mfa": frozenset({"admin", "staff"})}
LOCKS_AT_ONCE = {"login_max_failures": 2}  # the password's try and one wrong code
CHOSEN = "violet tram umbrella quietly"


@pytest.fixture
def clock():
    with totp_steps() as steps:
        yield steps


def qr_modules(png: bytes, scale: int = 5, border: int = 4) -> tuple[tuple[int, ...], ...]:
    """The dark (1) and light (0) modules of a QR code drawn as a PNG, read from the pixels:
    what a phone's camera would see."""
    picture = Image.open(io.BytesIO(png)).convert("L")
    size = picture.width // scale - 2 * border

    def dark(x: int, y: int) -> int:  # the pixel at the middle of the module
        return int(picture.getpixel(((x + border) * scale + scale // 2, (y + border) * scale + scale // 2)) < 128)

    return tuple(tuple(dark(x, y) for x in range(size)) for y in range(size))


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def on_second_step(at) -> bool:
    return [t.label for t in at.text_input] == [CODE_LABEL]


def on_password_form(at) -> bool:
    return bool(at.text_input) and at.text_input[0].label == "Email" and "signin_challenge" not in at.session_state


def verify(at, code: str):
    at.text_input(key="mfa_code").input(code)
    at.button(key="mfa_verify").click().run()
    assert not at.exception, at.exception
    return at


def sidebar_links(at) -> list[str]:
    """The pages the sidebar offers as links (a session that must set up two-factor first)."""
    return [link.label for link in at.sidebar.get("page_link")]


def signed_in_to_watchlist(at) -> bool:
    sidebar = " ".join(str(c.value) for c in at.sidebar.caption)
    return "Watchlist" in titles(at) and "Signed in as" in sidebar


async def enrolled_staff(client, conn, hasher, clock):
    """A staff account with two-factor on: (the actor, its secret, its recovery codes); the
    clock a step past the enrolment's code."""
    person = await helpers.account(client, conn, hasher, ["staff"])
    secret, codes = await helpers.enrol_totp(client, person)
    clock.step()
    return person, secret, codes


# --- signing in --------------------------------------------------------------------------------


async def test_a_right_password_then_the_apps_code_signs_in(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = sign_in(dashboard(), counselor)
    assert on_second_step(at) and at.session_state["api"].tokens is None  # not signed in on a password alone
    assert "recovery codes instead" in texts(at)  # a lost phone is not a dead end
    verify(at, totp_code(secret))
    assert signed_in_to_watchlist(at)
    assert "signin_challenge" not in at.session_state


async def test_a_wrong_code_says_so_and_the_next_right_one_signs_in(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = sign_in(dashboard(), counselor)
    challenge = at.session_state["signin_challenge"]
    verify(at, totp_code(secret, 5))  # a code from another time: wrong now
    assert "That code is not right" in at.error[0].value
    assert on_second_step(at) and at.session_state["signin_challenge"] == challenge  # no new password asked
    verify(at, totp_code(secret))
    assert signed_in_to_watchlist(at)


async def test_a_recovery_code_signs_in_once(dashboard, client, conn, hasher, clock):
    counselor, _, codes = await enrolled_staff(client, conn, hasher, clock)
    at = verify(sign_in(dashboard(), counselor), codes[3].lower())  # as typed from paper
    assert signed_in_to_watchlist(at)
    again = verify(sign_in(dashboard(), counselor), codes[3])
    assert on_second_step(again) and "That code is not right" in again.error[0].value


async def test_start_again_and_a_challenge_that_ran_out_go_back_to_the_password(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = sign_in(dashboard(), counselor)
    at.button(key="mfa_restart").click().run()
    assert on_password_form(at)

    at.text_input[0].input(counselor.email)
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert on_second_step(at)
    clock.step(11)  # 5 and a half minutes on the code step
    verify(at, totp_code(secret))
    assert on_password_form(at)
    assert "sign in again with your password" in texts(at)


@pytest.mark.parametrize("settings", [LOCKS_AT_ONCE], indirect=True)
async def test_a_lock_from_wrong_codes_goes_back_to_the_password_and_says_why(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = verify(sign_in(dashboard(), counselor), totp_code(secret, 5))
    assert on_password_form(at)
    assert "Too many wrong codes: this account is locked here for 15 minutes." in texts(at)


# --- a role that must use two-factor -----------------------------------------------------------


@pytest.mark.parametrize("settings", [REQUIRED], indirect=True)
async def test_a_role_that_must_use_two_factor_sees_only_its_set_up_until_it_is_on(
    dashboard, client, conn, hasher, clock
):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = sign_in(dashboard(), counselor)  # the default page asked for: the watchlist
    assert titles(at) == ["Two-factor sign-in"]
    assert sidebar_links(at) == DURING_ENROLMENT
    assert MUST_ENROL in texts(at)
    assert "Signed in (staff)" in [c.value for c in at.sidebar.caption]
    assert titles(open_page(at, "views/overview.py")) == ["Two-factor sign-in"]  # a bookmark, say
    assert titles(open_page(at, "views/password.py")) == ["My password"]
    assert not at.error

    at = open_page(at, "views/two_factor.py")
    at.button(key="mfa_start").click().run()
    secret = at.session_state["mfa_enrolment"]["secret"]
    clock.step()
    at.text_input(key="mfa_confirm_code").input(totp_code(secret))
    at.button(key="mfa_confirm_submit").click().run()
    assert not at.exception, at.exception
    # Every page now, in the same session: no signing out and in again.
    assert sidebar_links(at) == [] and MUST_ENROL not in texts(at)
    assert len(at.code[0].value.splitlines()) == 10  # the recovery codes
    assert "Overview" in titles(open_page(at, "views/overview.py"))
    assert "Signed in as" in " ".join(str(c.value) for c in at.sidebar.caption)


@pytest.mark.parametrize("settings", [{"require_mfa": frozenset({"staff"})}], indirect=True)
async def test_a_set_up_code_signs_in_to_the_two_factor_set_up_when_the_role_must_use_it(
    dashboard, client, conn, hasher
):
    admin = await helpers.account(client, conn, hasher, ["admin"])  # not bound to two-factor here
    body = {"email": "robin.hale@example.org", "name": "Robin Hale", "roles": ["staff"]}
    code = (await client.post("/v1/staff/accounts", json=body, headers=admin.headers)).json()["setup_code"]
    at = dashboard()
    at.run()
    at.text_input(key="setup_code").input(code)
    at.text_input(key="setup_password").input(CHOSEN)
    at.text_input(key="setup_again").input(CHOSEN)
    at.button(key="setup_submit").click().run()
    assert not at.exception, at.exception
    assert titles(at) == ["Two-factor sign-in"] and MUST_ENROL in texts(at)
    assert sidebar_links(at) == DURING_ENROLMENT


@pytest.mark.parametrize("settings", [REQUIRED], indirect=True)
async def test_a_session_refused_for_want_of_two_factor_is_sent_to_its_set_up(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = verify(sign_in(dashboard(), counselor), totp_code(secret))
    assert signed_in_to_watchlist(at)
    # Turned off in another session: this one's next call is refused (403 mfa_enrolment_required).
    clock.step()
    off = await client.request(
        "DELETE", "/v1/me/mfa", json={"password": PASSWORD, "code": totp_code(secret)}, headers=counselor.headers
    )
    assert off.status_code == 204, off.text
    at = open_page(at, "views/overview.py")
    assert titles(at) == ["Two-factor sign-in"] and not at.error
    assert sidebar_links(at) == DURING_ENROLMENT


# --- the two-factor page -----------------------------------------------------------------------


async def test_setting_up_shows_a_qr_code_and_the_recovery_codes_once(dashboard, client, staff, clock, monkeypatch):
    offered = capture_downloads(monkeypatch)
    at = open_page(sign_in(dashboard(), staff), "views/two_factor.py")
    assert "Two-factor sign-in is off" in texts(at)
    at.button(key="mfa_start").click().run()
    assert not at.exception, at.exception
    enrolment = at.session_state["mfa_enrolment"]
    [picture] = at.image
    expected = segno.make_qr(enrolment["otpauth_uri"]).matrix  # the API's URI, and nothing fetched
    assert qr_modules(offered[picture.value[0]][1]) == tuple(tuple(row) for row in expected)
    assert at.code[0].value.replace(" ", "") == enrolment["secret"]  # to type by hand

    at.text_input(key="mfa_confirm_code").input(totp_code(enrolment["secret"], 5))
    at.button(key="mfa_confirm_submit").click().run()
    assert "That code is not right" in at.error[0].value and "mfa_enrolment" in at.session_state
    clock.step()
    at.text_input(key="mfa_confirm_code").input(totp_code(enrolment["secret"]))
    at.button(key="mfa_confirm_submit").click().run()
    assert not at.exception, at.exception

    codes = at.code[0].value.splitlines()
    assert len(codes) == 10 and all(len(code) == 19 for code in codes)
    [download] = at.get("download_button")
    assert download.proto.label == "Download as text"
    assert offered[download.proto.url] == ("aftercare-recovery-codes.txt", ("\n".join(codes) + "\n").encode())
    assert "shown this once" in texts(at) and "Two-factor sign-in is on (since" in at.success[1].value
    assert "mfa_enrolment" not in at.session_state  # the key is forgotten once it is on

    at.run()
    assert not at.code and codes[0] not in texts(at)  # gone on the next run
    assert "10 recovery codes left" in texts(at)
    # On at the API, for this session (every other one of the account's ended).
    status = (await client.get("/v1/me/mfa", headers=helpers.bearer(at.session_state["api"].tokens))).json()
    assert status["enabled"] and status["recovery_codes_left"] == 10


async def test_turning_off_needs_the_password_and_a_code(dashboard, client, conn, hasher, clock):
    counselor, secret, _ = await enrolled_staff(client, conn, hasher, clock)
    at = open_page(verify(sign_in(dashboard(), counselor), totp_code(secret)), "views/two_factor.py")
    assert "Two-factor sign-in is on" in texts(at)
    clock.step()
    at.text_input(key="mfa_off_password").input(PASSWORD)
    at.text_input(key="mfa_off_code").input(totp_code(secret, 5))
    at.button(key="mfa_off_submit").click().run()
    assert at.error and "Two-factor sign-in is on" in texts(at)
    at.text_input(key="mfa_off_password").input(PASSWORD)
    at.text_input(key="mfa_off_code").input(totp_code(secret))
    at.button(key="mfa_off_submit").click().run()
    assert not at.exception, at.exception
    assert "Two-factor sign-in is off." in texts(at) and at.button(key="mfa_start")
    assert not (await client.get("/v1/me/mfa", headers=counselor.headers)).json()["enabled"]


# --- accounts --------------------------------------------------------------------------------


async def test_admins_see_who_uses_two_factor_and_that_a_reset_turns_it_off(
    dashboard, client, conn, hasher, admin, clock
):
    counselor, _, _ = await enrolled_staff(client, conn, hasher, clock)
    at = open_page(sign_in(dashboard(), admin), "views/accounts.py")
    frame = at.dataframe[0].value
    assert dict(zip(frame["email"], frame["mfa_enabled"], strict=True)) == {admin.email: False, counselor.email: True}
    at.selectbox(key="acct_chosen").select(counselor.id).run()
    assert "two-factor sign-in is turned off" in at.checkbox(key="acct_reset_confirm").label
    at.checkbox(key="acct_reset_confirm").check().run()
    at.button(key="acct_reset").click().run()
    assert "sign-in is off until they set it up again" in texts(at)
    accounts = (await client.get("/v1/staff/accounts", headers=admin.headers)).json()["items"]
    assert [a["mfa_enabled"] for a in accounts if a["id"] == counselor.id] == [False]
