"""Two-factor sign-in: a signed-in person sets up an authenticator app (sign-in then asks for
its code after the password), sees whether it is on, and turns it off. Roles that must use it
(the API's AFTERCARE_REQUIRE_MFA: admins and staff unless set otherwise) are sent here first.

The QR code is drawn on this server (segno): the secret inside it is never sent to a QR
service, and no staff browser fetches anything from outside to show it."""

import io

import segno
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import MUST_ENROL, plural, refused, run_page
from admin_dashboard.typed import download_text, plain
from admin_dashboard.zones import reader_zone, when

ENROLMENT = "mfa_enrolment"  # the key being set up ({secret, otpauth_uri}), until confirmed
RECOVERY_CODES = "mfa_recovery_codes"  # shown on the run after confirming, then forgotten
DONE = "mfa_done"
FEW_RECOVERY_CODES = 3


def render(api) -> None:
    st.title("Two-factor sign-in")
    status = api.get("/v1/me/mfa")
    follow(api, status)
    if done := st.session_state.pop(DONE, None):
        st.success(done, icon=":material/check_circle:")
    if codes := st.session_state.pop(RECOVERY_CODES, None):
        show_recovery_codes(codes)
    if status["enabled"]:
        show_on(api, status)
        turn_off(api, status)
    else:
        set_up(api, status)


def follow(api, status: dict) -> None:
    """The navigation follows what the API says now: turned off while the role needs it
    (only this page and My password), or turned on in another session (every page)."""
    must = status["required"] and not status["enabled"]
    if must == api.must_enrol_mfa:
        return
    if must:
        api.must_enrol_mfa = True
    else:
        api.enrolment_done()
    st.rerun()


def qr_png(uri: str) -> bytes:
    # make_qr, not make: a short text could come out as a Micro QR, which phones do not scan.
    buffer = io.BytesIO()
    segno.make_qr(uri).save(buffer, kind="png", scale=5)
    return buffer.getvalue()


def grouped(secret: str) -> str:
    """The key in groups of four, as authenticator apps accept it typed (spaces ignored)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def set_up(api, status: dict) -> None:
    if status["required"]:
        st.warning(MUST_ENROL, icon=":material/phonelink_lock:")
    st.markdown(
        "Two-factor sign-in is off. Once it is on, signing in asks for your password and then for the "
        "6-digit code an authenticator app on your phone shows (Google Authenticator, Microsoft Authenticator, "
        "1Password, Authy and others): a password someone has guessed or seen is not enough to read "
        "graduates' check-ins."
    )
    started = st.session_state.get(ENROLMENT)
    if started is None:
        if st.button("Set up", type="primary", icon=":material/qr_code_2:", key="mfa_start"):
            st.session_state[ENROLMENT] = api.post("/v1/me/mfa/totp")
            st.rerun()
        return
    st.subheader("1. Scan this code with your authenticator app")
    picture, by_hand = st.columns([1, 2])
    # PNG as drawn: Streamlit would re-encode it as JPEG, whose blur at the modules' edges
    # is what a phone's camera has to read through.
    picture.image(qr_png(started["otpauth_uri"]), caption="Add an account in the app, then scan.", output_format="PNG")
    by_hand.caption("Cannot scan? Add the account by hand in the app (time-based) with this key:")
    by_hand.code(grouped(started["secret"]), language=None)
    by_hand.caption("Keep the key to yourself: whoever has it can make your codes.")
    st.subheader("2. Type the code the app shows")
    with st.form("mfa_confirm", clear_on_submit=True):
        code = st.text_input("Code from your authenticator app", key="mfa_confirm_code", placeholder="123456")
        confirming = st.form_submit_button(
            "Turn on two-factor sign-in", type="primary", icon=":material/verified_user:", key="mfa_confirm_submit"
        )
    if st.button("Start again with a new key", key="mfa_start_again", help="For a phone other than the one scanned."):
        st.session_state[ENROLMENT] = api.post("/v1/me/mfa/totp")
        st.rerun()
    if confirming:
        confirm(api, code.strip())


def confirm(api, code: str) -> None:
    if not code:
        st.error("Type the 6-digit code your authenticator app shows now.")
        return
    try:
        answer = api.post("/v1/me/mfa/totp/confirm", {"code": code})
    except ApiError as exc:
        if exc.code in ("no_enrolment_started", "mfa_already_on"):  # changed in another session
            st.session_state.pop(ENROLMENT, None)
        refused(exc)
        return
    st.session_state.pop(ENROLMENT, None)
    st.session_state[RECOVERY_CODES] = answer["recovery_codes"]
    st.session_state[DONE] = "Two-factor sign-in is on: from now on, signing in asks for a code from your app."
    if api.must_enrol_mfa:
        api.enrolment_done()  # the same session now reaches every page of its roles
    st.rerun()


def show_recovery_codes(codes: list[str]) -> None:
    """The recovery codes this once (the API keeps only their hashes)."""
    st.warning(
        f"Your {plural(len(codes), 'recovery code')}, shown this once: each works once in place of a code from "
        "your app, if your phone is lost or broken. Keep them somewhere safe and away from your phone (printed "
        "and locked away, or in a password manager); do not email them.",
        icon=":material/key:",
    )
    text = "\n".join(codes)
    st.code(text, language=None)
    download_text(text + "\n", "aftercare-recovery-codes.txt", key="mfa_codes_download", label="Download as text")


def show_on(api, status: dict) -> None:
    since = when(status["enabled_at"], reader_zone(api))
    left = status["recovery_codes_left"]
    st.success(
        f"Two-factor sign-in is on (since {plain(since)}). {plural(left, 'recovery code')} left.",
        icon=":material/verified_user:",
    )
    if left <= FEW_RECOVERY_CODES:
        st.warning("Few recovery codes left: turn two-factor sign-in off and on again for a new set of ten.")


def turn_off(api, status: dict) -> None:
    st.subheader("Turn it off")
    if status["required"]:
        st.caption(
            "Your role must use two-factor sign-in: once it is off, you set it up again before you can use anything "
            "else. Do this to move to a new phone."
        )
    else:
        st.caption("Signing in then asks for your password only.")
    with st.form("mfa_off", clear_on_submit=True):
        password = st.text_input(
            "Your password", type="password", key="mfa_off_password", autocomplete="current-password"
        )
        code = st.text_input("Code from your authenticator app, or a recovery code", key="mfa_off_code")
        turning_off = st.form_submit_button(
            "Turn off two-factor sign-in", icon=":material/no_encryption:", key="mfa_off_submit"
        )
    if not turning_off:
        return
    if not password or not code.strip():
        st.error("Enter your password and a code from your app.")
        return
    try:
        api.delete("/v1/me/mfa", {"password": password, "code": code.strip()})
    except ApiError as exc:
        refused(exc)
        return
    st.session_state[DONE] = "Two-factor sign-in is off."
    st.rerun()


run_page(render)
