"""A local stand-in for Google's OAuth token endpoint and the FCM v1 send endpoint, so that
firebase-admin's real messaging code runs with no internet.

It runs in its own thread (firebase-admin fetches OAuth tokens with a blocking call, even on
its async path). It answers the real FCM v1 shapes: 200 `{"name": ...}`, and errors as
`{"error": {code, message, status, details: [FcmError{errorCode}, ...]}}`, per token as the
test scripts them. Used by the tests and by bench/dispatch.py."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT = "aftercare-test"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# (HTTP status, google.rpc status, FCM errorCode, field violation or None)
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED", None),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", None),
    "INVALID_TOKEN": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.token"),
    "INVALID_PAYLOAD": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.android.ttl"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", None),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE", None),
    "INTERNAL": (500, "INTERNAL", "INTERNAL", None),
    # Not the token's fault nor the message's: our project or key (no FcmError detail).
    "PERMISSION_DENIED": (403, "PERMISSION_DENIED", None, None),
}
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


class FakeFcm:
    """Start it, point firebase-admin at it (`fcm_url`, and `service_account()` for the token
    URI), script answers per token with `fail(token, "UNREGISTERED", times=1)`, read what
    arrived in `delivered`."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.delivered: list[dict] = []  # message bodies that got a 200
        self.attempts: dict[str, int] = defaultdict(int)  # per token
        self.token_requests = 0
        self._scripts: dict[str, list[str]] = defaultdict(list)
        self._always: dict[str, str] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path == "/stats":  # for a fake in another process (bench/dispatch.py)
                    with fake.lock:
                        self._answer(200, {"delivered": len(fake.delivered), "attempts": sum(fake.attempts.values())})
                else:
                    self._answer(404, {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    with fake.lock:
                        fake.token_requests += 1
                    self._answer(200, {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"})
                    return
                match = _SEND_PATH.match(self.path)
                if not match or self.headers.get("Authorization") != "Bearer fake-access-token":
                    self._answer(404 if not match else 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                    return
                if fake.latency_s:
                    time.sleep(fake.latency_s)
                message = json.loads(body)["message"]
                status, answer = fake._answer_for(message)
                self._answer(status, answer)

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # a batch opens up to hundreds of connections at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-fcm", daemon=True)

    @property
    def fcm_url(self) -> str:
        """A value for firebase_admin.messaging._MessagingService.FCM_URL."""
        return f"http://127.0.0.1:{self.port}/v1/projects/{{0}}/messages:send"

    def start(self) -> FakeFcm:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, token: str, error: str, times: int = 1) -> None:
        """The next `times` sends to `token` answer `error` (a key of ERRORS)."""
        with self.lock:
            self._scripts[token].extend([error] * times)

    def fail_always(self, token: str, error: str) -> None:
        with self.lock:
            self._always[token] = error

    def _answer_for(self, message: dict) -> tuple[int, dict]:
        token = message.get("token", "")
        with self.lock:
            self.attempts[token] += 1
            error = self._scripts[token].pop(0) if self._scripts[token] else self._always.get(token)
            if error is None:
                self.delivered.append(message)
                return 200, {"name": f"projects/{PROJECT}/messages/{len(self.delivered)}"}
        status, rpc_status, code, field = ERRORS[error]
        details: list[dict] = [{"@type": _FCM_ERROR, "errorCode": code}] if code else []
        if field:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": "Invalid value"}],
                }
            )
        return status, {"error": {"code": status, "message": f"fake {code}", "status": rpc_status, "details": details}}

    def delivered_to(self, token: str) -> list[dict]:
        with self.lock:
            return [m for m in self.delivered if m.get("token") == token]

    def service_account(self, folder: Path) -> Path:
        """A service-account JSON with a throwaway key whose token URI is this fake."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "fake-key-1",
                    "private_key": pem,
                    "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"http://127.0.0.1:{self.port}/token",
                }
            )
        )
        return path


def serve_in_process(ports, latency_s: float = 0.0) -> None:
    """Run a fake in this process until killed, telling its port through `ports` (a queue)."""
    fake = FakeFcm(latency_s)
    ports.put(fake.port)
    fake.server.serve_forever()
