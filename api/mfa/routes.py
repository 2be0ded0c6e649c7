"""`/v1/me/mfa`: set up, check and turn off one's own two-factor sign-in."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import JSONBody

from api.deps import RuntimeDep, TransactionsDep
from api.mfa import enrolment
from api.mfa.schemas import RecoveryCodes, TotpConfirm, TotpEnrolment, TwoFactorRemoval, TwoFactorStatus
from api.openapi import may_answer
from api.security import DURING_MFA_ENROLMENT, SignedInRequest


class TwoFactorController(Controller):
    """For everyone who signs in with a password. Open to a session that must set up
    two-factor before anything else (AFTERCARE_REQUIRE_MFA)."""

    path = "/v1/me/mfa"
    tags = ["me"]
    opt = {DURING_MFA_ENROLMENT: True}

    @get("/", summary="Is my two-factor sign-in on?")
    async def read(
        self, request: SignedInRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TwoFactorStatus:
        return await enrolment.status(request, transactions, runtime)

    @post("/totp", status_code=201, responses=may_answer(403, 409), summary="Start setting up an authenticator app")
    async def start(
        self, request: SignedInRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TotpEnrolment:
        """Answers a new secret and its `otpauth://` URI (show it as a QR code to scan). Nothing
        changes at sign-in until a code from the app confirms it (/v1/me/mfa/totp/confirm).
        Starting again replaces a secret never confirmed. Already on: 409 `mfa_already_on`.
        Accounts without a password (graduates): 403 `no_password`."""
        return await enrolment.start(request, transactions, runtime)

    @post(
        "/totp/confirm",
        status_code=200,
        responses=may_answer(400, 409),
        summary="Turn two-factor on with the first code from the app",
    )
    async def confirm(
        self, data: JSONBody[TotpConfirm], request: SignedInRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> RecoveryCodes:
        """A right code turns it on: from now on sign-in asks for a code after the password,
        every other session of yours ends, and the answer holds 10 recovery codes, each good
        once, shown only now. A wrong code: 400 `wrong_code`, try the next one."""
        return await enrolment.confirm(request, transactions, runtime, data.code)

    @delete("/", status_code=204, responses=may_answer(403, 409, 423), summary="Turn two-factor sign-in off")
    async def remove(
        self,
        data: JSONBody[TwoFactorRemoval],
        request: SignedInRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> None:
        """Needs your password and a code from the app (or a recovery code): 403
        `wrong_password` or `wrong_code` otherwise, each counted toward the sign-in lock as a wrong
        password is (423 `account_locked` once it locks the account from your address). Where your role must use two-factor, your
        sessions then reach only the set-up routes until you set it up again."""
        await enrolment.remove(request, transactions, runtime, data)
