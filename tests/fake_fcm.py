"""A local stand-in for Google's OAuth token endpoint and the FCM v1 send endpoint, so that
firebase-admin's real messaging code runs with no internet.

It answers the real FCM v1 shapes: 200 `{"name": ...}`, and errors as
`{"error": {code, message, status, details: [FcmError{errorCode}, ...]}}`, per token as the
test scripts them (`fail`, `fail_always`): a key of ERRORS (among them 429 QUOTA_EXCEEDED,
sent with `Retry-After: retry_after`, 401 THIRD_PARTY_AUTH_ERROR and UNAUTHENTICATED, 404
NOT_FOUND), or one of two that are no answer at all:

- "HANG": the request is held for `hang_s`, then answered 503 UNAVAILABLE, as by a stalled
  front end: a client whose timeout is shorter has given up by then;
- "RESET": no answer. On HTTP/1.1 the connection is closed with a TCP RST (the client reads
  ECONNRESET); on HTTP/2 only that stream is reset (RST_STREAM INTERNAL_ERROR; httpx raises
  RemoteProtocolError), so other sends multiplexed on the connection go on, as they would
  when Google's front end drops one request. Counted in `attempts`, never delivered.

Answers are gzip-compressed JSON when the client accepts it (`gzip`), as Google's front ends
send them. Every send request (not /token nor /stats) is recorded in `requests` (`Recorded`: protocol,
method, path, lower-case headers, raw body), whatever its answer; `reset()` forgets all of
that between tests. Used by the tests and by bench/dispatch.py.

It is an asyncio server on its own event loop: in its own thread (`start()`: firebase-admin
fetches OAuth tokens with a blocking call, even on its async path, so the fake must not
share the caller's loop), or as a whole process (`serve_in_process`, for the bench). It
listens twice:

- `port`: plain HTTP/1.1 (`fcm_url`, and the token URI of `service_account()`);
- `tls_port`: TLS with ALPN `h2` and `http/1.1` (`fcm_tls_url`), as Google serves FCM. httpx
  (firebase-admin's async path) speaks HTTP/2 only over TLS, so this is the port on which
  the SDK behaves as it does against the real FCM: one connection, up to 100 streams at once
  (`max_streams`, the limit Google's front ends and httpcore both apply). The client must
  trust `ca_file` (the fake's self-signed certificate): httpx reads `SSL_CERT_FILE` when the
  SDK builds its client.

Simulated latency (`latency_s`) is an `asyncio.sleep` per send, so it costs the fake no
thread and no CPU however many requests wait at once. `faults` (a `Faults`) adds seeded
503s, hangs and jittered latency for fault tests; `on_delivered` is called with each
message the fake accepts (a test can kill a worker at an exact point)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import http
import ipaddress
import json
import random
import re
import socket
import ssl
import struct
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PROJECT = "aftercare-test"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# (HTTP status, google.rpc status, FCM errorCode, field violation or None)
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED", None),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", None),
    "INVALID_TOKEN": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.token"),
    "INVALID_PAYLOAD": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.android.ttl"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", None),  # with Retry-After
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE", None),
    "INTERNAL": (500, "INTERNAL", "INTERNAL", None),
    # Not the token's fault nor the message's: our project or key (no FcmError detail).
    "PERMISSION_DENIED": (403, "PERMISSION_DENIED", None, None),
    # A 429 without FCM's own detail (as a front end in the way may answer).
    "RESOURCE_EXHAUSTED": (429, "RESOURCE_EXHAUSTED", None, None),
    # The APNs certificate or web-push key uploaded to the Firebase project was refused.
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", None),
    # Our access token was refused (what the fake answers a wrong bearer token, too).
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED", None, None),
    # No such project (what the fake answers a path that is not a send, too).
    "NOT_FOUND": (404, "NOT_FOUND", None, None),
}
# Scripted answers that are not an error body: see the module docstring.
HANG = "HANG"
RESET = "RESET"
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TOKEN = {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"}
_CONTENT_TYPE = "application/json; charset=UTF-8"
_RETRY_AFTER = "7"  # FakeFcm.retry_after's default
_HANG_S = 2.0  # FakeFcm.hang_s's default


@dataclass(frozen=True)
class Faults:
    """Seeded trouble on every send. Each request's fate is drawn from (seed, token,
    notification id, how many times that pair was sent before), not from one shared random
    stream, so a run meets the same faults whatever order concurrent requests arrive in."""

    seed: int = 0
    unavailable: float = 0.0  # share of sends answered 503 UNAVAILABLE
    # Share of sends held for `hang_s` and then answered 503 (never delivered): a client
    # whose timeout is shorter has given up by then, as against a stalled front end.
    hang: float = 0.0
    hang_s: float = 2.0
    latency_s: tuple[float, float] = (0.0, 0.0)  # each other send takes between these

    def draw(self, key: str, nth: int) -> tuple[str | None, float]:
        """(what goes wrong: "hang", "UNAVAILABLE" or None, and how long the answer takes)."""
        rng = random.Random(f"{self.seed}:{key}:{nth}")
        roll, latency = rng.random(), rng.uniform(*self.latency_s)
        if roll < self.hang:
            return "hang", self.hang_s
        if roll < self.hang + self.unavailable:
            return "UNAVAILABLE", latency
        return None, latency


@dataclass(frozen=True)
class Recorded:
    """One request to the send path, as it arrived."""

    protocol: str  # "http/1.1" or "h2"
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; no HTTP/2 pseudo-headers
    body: bytes


class _Reset(Exception):
    """Raised by `_handle` for a scripted RESET: the protocol handler drops the request."""


def push_key(message: dict) -> str:
    """One push: a notification to one device token."""
    return f"{message.get('token', '')}:{message.get('data', {}).get('notification_id', '')}"


class FakeFcm:
    """Start it, point firebase-admin at it (`fcm_url`, and `service_account()` for the token
    URI), script answers per token with `fail(token, "UNREGISTERED", times=1)`, read what
    arrived in `delivered` (and every request as sent in `requests`); `reset()` between tests."""

    def __init__(self, latency_s: float = 0.0, max_streams: int = 100) -> None:
        self.latency_s = latency_s
        self.max_streams = max_streams
        self.lock = threading.Lock()
        self.delivered: list[dict] = []  # message bodies that got a 200
        self.attempts: dict[str, int] = defaultdict(int)  # per token
        self.token_requests = 0
        self.protocols: dict[str, int] = defaultdict(int)  # sends by protocol: "http/1.1", "h2"
        self._scripts: dict[str, list[str]] = defaultdict(list)
        self._always: dict[str, str] = {}
        self.faults: Faults | None = None
        self.sends: dict[str, int] = defaultdict(int)  # per push_key(), every request
        self.faults_seen: Counter[str] = Counter()  # "hang", "UNAVAILABLE"
        self.on_delivered: Callable[[dict], None] | None = None  # on the fake's thread
        self.requests: list[Recorded] = []  # every request to the send path, in arrival order
        self.retry_after: str | None = _RETRY_AFTER  # the Retry-After header of every 429 (None: none)
        self.hang_s = _HANG_S  # how long a scripted HANG holds the request before its 503
        # Answer gzip-compressed JSON to a client that accepts it, as Google does ("always":
        # whatever the client said, as a proxy in the way might).
        self.gzip: bool | str = True
        # Bound and listening now, so the ports are known and connections queue until the
        # loop accepts them.
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._tls_socket = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self._socket.getsockname()[1]
        self.tls_port = self._tls_socket.getsockname()[1]
        self._folder = tempfile.TemporaryDirectory(prefix="fake-fcm-")
        self.ca_file = Path(self._folder.name) / "fake-fcm-ca.pem"
        self._tls = _tls_context(self.ca_file)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[asyncio.Task] = set()
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, name="fake-fcm", daemon=True)

    @property
    def fcm_url(self) -> str:
        """A value for firebase_admin.messaging._MessagingService.FCM_URL (plain HTTP/1.1)."""
        return f"http://127.0.0.1:{self.port}/v1/projects/{{0}}/messages:send"

    @property
    def fcm_tls_url(self) -> str:
        """The same over TLS, where httpx speaks HTTP/2 as with the real FCM (trust `ca_file`)."""
        return f"https://127.0.0.1:{self.tls_port}/v1/projects/{{0}}/messages:send"

    def start(self) -> FakeFcm:
        """Serve in a thread of its own."""
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until `stop()`."""
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._listen())
            loop.run_forever()
            loop.run_until_complete(self._close())
        finally:
            loop.close()
            self._stopped.set()

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(loop.stop)
            self._stopped.wait(10)
        self._socket.close()
        self._tls_socket.close()
        self._folder.cleanup()

    def fail(self, token: str, error: str, times: int = 1) -> None:
        """The next `times` sends to `token` answer `error` (a key of ERRORS, HANG or RESET)."""
        _check(error)
        with self.lock:
            self._scripts[token].extend([error] * times)

    def fail_always(self, token: str, error: str) -> None:
        _check(error)
        with self.lock:
            self._always[token] = error

    def reset(self) -> None:
        """Forget what earlier tests sent, scripted and set (the counters `protocols` and
        `token_requests` keep counting: tests read them as differences)."""
        with self.lock:
            self.delivered.clear()
            self.attempts.clear()
            self._scripts.clear()
            self._always.clear()
            self.sends.clear()
            self.faults_seen.clear()
            self.requests.clear()
            self.faults = None
            self.on_delivered = None
            self.retry_after = _RETRY_AFTER
            self.hang_s = _HANG_S
            self.gzip = True

    def _plan(self, message: dict) -> tuple[str | None, float]:
        """What a send meets (None: delivered, a key of ERRORS, or RESET) and how long it is
        held first. Decided as it arrives, so scripts are used in arrival order and a held
        request counts as an attempt at once."""
        key, token = push_key(message), message.get("token", "")
        with self.lock:
            nth = self.sends[key]
            self.sends[key] += 1
            self.attempts[token] += 1
            scripted = self._scripts[token].pop(0) if self._scripts[token] else self._always.get(token)
            fault, delay = self.faults.draw(key, nth) if self.faults is not None else (None, 0.0)
            if fault:
                self.faults_seen[fault] += 1
            hang_s = self.hang_s
        if fault:  # seeded faults win over scripts (the script is used up all the same)
            return "UNAVAILABLE", delay  # a Faults hang ends in a 503 too, after its hang_s
        if scripted == HANG:
            return "UNAVAILABLE", delay + hang_s
        return scripted, delay

    def _answer(self, message: dict, error: str | None) -> tuple[int, dict]:
        if error is None:
            with self.lock:
                self.delivered.append(message)
                name = f"projects/{PROJECT}/messages/{len(self.delivered)}"
            if self.on_delivered is not None:
                self.on_delivered(message)
            return 200, {"name": name}
        return _error_body(error)

    def delivered_to(self, token: str) -> list[dict]:
        with self.lock:
            return [m for m in self.delivered if m.get("token") == token]

    def service_account(self, folder: Path) -> Path:
        """A service-account JSON with a throwaway key whose token URI is this fake."""
        return write_service_account(folder, f"http://127.0.0.1:{self.port}/token")

    # --- the HTTP side ---------------------------------------------------------------------

    async def _handle(
        self, protocol: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, extra response headers) for one request; raises `_Reset` when the
        request is to get no answer. `headers`: lower-case names, no pseudo-headers."""
        status, payload = await self._route(protocol, method, path, headers, body)
        extra = {"retry-after": self.retry_after} if status == 429 and self.retry_after is not None else {}
        data = json.dumps(payload).encode()
        # Google's front ends compress JSON for a client that accepts it (both the SDK's httpx
        # and aiohttp say they do): a client must read its answers, errors included, unpacked.
        if self.gzip == "always" or (self.gzip and "gzip" in headers.get("accept-encoding", "")):
            data, extra = gzip.compress(data), extra | {"content-encoding": "gzip"}
        return status, data, extra

    async def _route(
        self, protocol: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict]:
        if method == "GET":
            if path == "/stats":  # for a fake in another process (bench/dispatch.py)
                with self.lock:
                    return 200, {
                        "delivered": len(self.delivered),
                        "attempts": sum(self.attempts.values()),
                        "token_requests": self.token_requests,
                    }
            return 404, {}
        if path == "/token":
            with self.lock:
                self.token_requests += 1
            return 200, _TOKEN
        if not _SEND_PATH.match(path):
            return _error_body("NOT_FOUND")
        with self.lock:  # recorded before anything can refuse it, so a test sees what was sent
            self.requests.append(Recorded(protocol, method, path, dict(headers), body))
        if headers.get("authorization") != "Bearer fake-access-token":
            return _error_body("UNAUTHENTICATED")
        with self.lock:
            self.protocols[protocol] += 1
        message = json.loads(body)["message"]
        error, delay = self._plan(message)
        if self.latency_s or delay:
            await asyncio.sleep(self.latency_s + delay)
        if error == RESET:
            raise _Reset
        return self._answer(message, error)

    async def _listen(self) -> None:
        self._servers = [
            await asyncio.start_server(self._plain, sock=self._socket, limit=1 << 20, backlog=1024),
            await asyncio.start_server(self._secure, sock=self._tls_socket, ssl=self._tls, limit=1 << 20, backlog=1024),
        ]

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    # Connections still open at stop() (a request held by `Faults.hang`) are cancelled; they
    # end quietly, since Python 3.11's asyncio logs a cancelled connection task as an error.

    async def _plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        with contextlib.suppress(asyncio.CancelledError):
            await self._http1(reader, writer)

    async def _secure(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        tls = writer.get_extra_info("ssl_object")
        with contextlib.suppress(asyncio.CancelledError):
            if tls is not None and tls.selected_alpn_protocol() == "h2":
                await self._http2(reader, writer)
            else:
                await self._http1(reader, writer)

    async def _http1(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, version = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                try:
                    status, data, extra = await self._handle("http/1.1", method, target, headers, body)
                except _Reset:
                    _abort(writer)
                    return
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                writer.write(
                    (
                        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                        f"Content-Type: {_CONTENT_TYPE}\r\nContent-Length: {len(data)}\r\n"
                        + "".join(f"{name.title()}: {value}\r\n" for name, value in extra.items())
                        + ("Connection: close\r\n" if close else "")
                        + "\r\n"
                    ).encode()
                    + data
                )
                if close:
                    await writer.drain()
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            writer.close()

    async def _http2(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h2.config
        import h2.connection
        import h2.errors
        import h2.events
        import h2.exceptions
        import h2.settings

        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict, bytearray]] = {}
        pending: set[asyncio.Task] = set()

        def respond(stream_id: int, status: int, data: bytes, extra: dict[str, str]) -> None:
            try:
                conn.send_headers(
                    stream_id,
                    [(":status", str(status)), ("content-type", _CONTENT_TYPE), ("content-length", str(len(data)))]
                    + list(extra.items()),
                )
                conn.send_data(stream_id, data, end_stream=True)
            except h2.exceptions.StreamClosedError:  # the client gave up on it
                return
            writer.write(conn.data_to_send())

        def reset(stream_id: int) -> None:
            try:
                conn.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            except h2.exceptions.StreamClosedError:  # the client gave up on it first
                return
            writer.write(conn.data_to_send())

        async def answer(stream_id: int, headers: dict[str, str], body: bytes) -> None:
            regular = {name: value for name, value in headers.items() if not name.startswith(":")}
            try:
                status, data, extra = await self._handle(
                    "h2", headers.get(":method", ""), headers.get(":path", ""), regular, body
                )
            except _Reset:
                reset(stream_id)
                return
            respond(stream_id, status, data, extra)

        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        task = asyncio.ensure_future(answer(event.stream_id, headers, bytes(body)))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    elif isinstance(event, h2.events.StreamReset):
                        streams.pop(event.stream_id, None)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        writer.write(conn.data_to_send())
                        return
                writer.write(conn.data_to_send())
        except (ConnectionError, ssl.SSLError, h2.exceptions.ProtocolError):
            return
        finally:
            for task in pending:
                task.cancel()
            writer.close()


def _check(error: str) -> None:
    if error not in ERRORS and error not in (HANG, RESET):
        raise ValueError(f"unknown scripted answer {error!r}: a key of ERRORS, {HANG!r} or {RESET!r}")


def _error_body(error: str) -> tuple[int, dict]:
    """The status and body FCM v1 answers with for `error` (a key of ERRORS)."""
    status, rpc_status, code, violated = ERRORS[error]
    details: list[dict] = [{"@type": _FCM_ERROR, "errorCode": code}] if code else []
    if violated:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": violated, "description": "Invalid value"}],
            }
        )
    message = f"fake {code or rpc_status}"
    return status, {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}


def _abort(writer: asyncio.StreamWriter) -> None:
    """Drop an HTTP/1.1 connection with a TCP RST rather than a FIN: with SO_LINGER set to 0,
    closing the socket resets it, so the client reads ECONNRESET (not a clean end of stream)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _tls_context(ca_file: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1, written to
    `ca_file` for clients to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-fcm")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = ca_file.with_suffix(".key")
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ca_file, key_file)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def write_service_account(folder: Path, token_uri: str) -> Path:
    """A service-account JSON with a throwaway key whose token URI is `token_uri`."""
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
                "token_uri": token_uri,
            }
        )
    )
    return path


def serve_in_process(ports, latency_s: float = 0.0, max_streams: int = 100) -> None:
    """Run a fake in this process until killed, telling where it listens through `ports` (a
    queue): {"port", "tls_port", "ca_pem"}."""
    fake = FakeFcm(latency_s, max_streams)
    ports.put({"port": fake.port, "tls_port": fake.tls_port, "ca_pem": fake.ca_file.read_text()})
    fake._folder.cleanup()  # the certificate is loaded and sent: a killed process leaves nothing behind
    fake.serve_forever()
