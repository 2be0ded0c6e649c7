"""Optional sign-in with a Firebase ID token, for apps that already use Firebase Auth."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import firebase_admin
import google.auth.credentials
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials


class FirebaseTokenError(Exception):
    """The ID token is not valid (bad signature, expired, wrong project...)."""


# firebase-admin ships no types: its Base is Any to the checker.
class _Anonymous(credentials.Base):  # type: ignore[misc]
    """Verifying ID tokens needs public certificates only. Without this, firebase-admin
    would look for Application Default Credentials (and probe a cloud metadata server)."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        # google-auth leaves Credentials.__init__ unannotated, in a package marked typed.
        return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]


class FirebaseUnavailable(Exception):
    """Google's public certificates could not be fetched: not the caller's fault."""


class FirebaseVerifier:
    """Verifies ID tokens with firebase-admin (signature, expiry, issuer and audience
    against Google's public certificates). Needs only the project id, no credentials."""

    def __init__(self, project_id: str) -> None:
        self._app = firebase_admin.initialize_app(
            _Anonymous(), options={"projectId": project_id}, name=f"aftercare-auth-{uuid.uuid4().hex}"
        )

    async def uid_of(self, id_token: str) -> str:
        # verify_id_token is blocking (it may fetch certificates): keep it off the event loop.
        try:
            claims: dict[str, Any] = await anyio.to_thread.run_sync(firebase_auth.verify_id_token, id_token, self._app)
        except firebase_auth.CertificateFetchError as exc:
            raise FirebaseUnavailable(type(exc).__name__) from exc
        except (ValueError, firebase_auth.InvalidIdTokenError) as exc:
            raise FirebaseTokenError(type(exc).__name__) from exc
        uid: str = claims["uid"]  # verify_id_token checked it: the token's non-empty `sub`
        return uid

    def close(self) -> None:
        firebase_admin.delete_app(self._app)
