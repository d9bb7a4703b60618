"""A local Azure Communication Services Email endpoint for tests.

Speaks the part of the ACS Email REST API that `azure-communication-email` uses:

* `POST /emails:send?api-version=...` -> 202 with an absolute `Operation-Location`
  (`<url>/emails/operations/<id>?api-version=...`), an `operation-id` header and
  `{"id": ..., "status": "Running"}`. The id is the request's `Operation-Id` header
  when there is one (as the service does); a POST repeating an accepted id is
  answered for the same operation and not counted again (idempotent).
* `GET /emails/operations/<id>` -> `{"id": ..., "status": "Succeeded"}`, or whatever
  the test scripted (Running with Retry-After, Failed with an error, a hang).

Every request must carry a valid HMAC-SHA256 signature made with the test's access key
(as the SDK's `HMACCredentialsPolicy` makes it): `Authorization: HMAC-SHA256
SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>` over
`METHOD\\n<path?query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>`, with
`x-ms-content-sha256` = base64(sha256(body)) and `x-ms-date` within 15 minutes.
Otherwise 401 with an ACS-shaped error. With `bearer_token` set, `Authorization:
Bearer <token>` is accepted too (managed identity path).

Stdlib `ThreadingHTTPServer` in a thread, on a free 127.0.0.1 port; optionally TLS
with a throw-away self-signed certificate (`self_signed_cert`), so the SDK's
`from_connection_string` (which always makes the endpoint https) can be used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "API_VERSION",
    "AcsFake",
    "Recorded",
    "Script",
    "acs_error",
    "self_signed_cert",
    "server_tls_context",
]

API_VERSION = "2025-09-01"


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str  # with query
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any
    at: float  # time.monotonic()
    status: int = 0  # what the fake answered (0: no answer, connection dropped)


@dataclass
class Script:
    """What the fake does with the next POST or GET instead of its default.

    kind:
      "accept": what happens without a script: accept the message, answer 202;
      "status": answer `status` with `body`/`headers`, the message not accepted;
      "accept-then-status": accept the message, then answer `status` (an accepted
        message whose 202 was lost behind a 5xx);
      "drop": accept the message, then close the connection unanswered;
      "running" (GET): status Running, with Retry-After when `retry_after` is set;
      "failed" (GET): status Failed, with `body["error"]` as the error;
      "hang" (GET): answer Succeeded only after `seconds`, or when the test calls
        `release()`.
    """

    kind: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: str = ""
    seconds: float = 0.0


def acs_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class AcsFake:
    def __init__(self, access_key: str, *, tls: ssl.SSLContext | None = None,
                 bearer_token: str = "") -> None:
        self.access_key = access_key
        self.bearer_token = bearer_token
        self._tls = tls
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> AcsFake:
        server = _Server(("127.0.0.1", 0), _Handler)
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="acs-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> AcsFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "fake not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.url}/;accesskey={self.access_key}"

    # -- test controls -----------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, accepted messages and scripts (between tests)."""
        self._release.set()  # free any GET still hanging from the last test
        with self._lock:
            self.requests: list[Recorded] = []
            #: operation id -> message JSON, for each message actually accepted.
            self.accepted: dict[str, Any] = {}
            self._posts: deque[Script] = deque()
            self._gets: deque[Script] = deque()
        self._release = threading.Event()

    def script_posts(self, *scripts: Script) -> None:
        with self._lock:
            self._posts.extend(scripts)

    def script_gets(self, *scripts: Script) -> None:
        with self._lock:
            self._gets.extend(scripts)

    def fail_posts(self, status: int, times: int = 1, *, retry_after: str = "",
                   code: str = "ServiceUnavailable", message: str = "try again") -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.script_posts(*[Script("status", status, acs_error(code, message), headers)
                            for _ in range(times)])

    def release(self) -> None:
        """Let hanging GETs answer now."""
        self._release.set()

    def of(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    @property
    def posts(self) -> list[Recorded]:
        return self.of("POST")

    @property
    def gets(self) -> list[Recorded]:
        return self.of("GET")

    # -- used by the handler -----------------------------------------------------

    def _next(self, method: str) -> Script | None:
        with self._lock:
            queue = self._posts if method == "POST" else self._gets
            return queue.popleft() if queue else None

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _accept(self, operation_id: str, message: Any) -> bool:
        """True when this is a new message (not a repeat of an accepted id)."""
        with self._lock:
            if operation_id in self.accepted:
                return False
            self.accepted[operation_id] = message
            return True

    def auth_error(self, method: str, path: str, headers: dict[str, str],
                   body: bytes) -> str:
        """Why the request's authentication is refused ('' when it is fine)."""
        auth = headers.get("authorization", "")
        if self.bearer_token and auth.startswith("Bearer "):
            return "" if hmac.compare_digest(auth[7:], self.bearer_token) else "bad token"
        prefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
        if not auth.startswith(prefix):
            return "missing or malformed HMAC-SHA256 Authorization header"
        date = headers.get("x-ms-date", "")
        content_hash = headers.get("x-ms-content-sha256", "")
        host = headers.get("host", "")
        expected_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if not hmac.compare_digest(content_hash, expected_hash):
            return "x-ms-content-sha256 does not match the body"
        try:
            signed_at = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return "missing or malformed x-ms-date"
        if abs((dt.datetime.now(dt.UTC) - signed_at).total_seconds()) > 15 * 60:
            return "x-ms-date is more than 15 minutes off"
        to_sign = f"{method}\n{path}\n{date};{host};{content_hash}"
        key = base64.b64decode(self.access_key)
        signature = base64.b64encode(
            hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(auth[len(prefix):], signature):
            return "signature does not match"
        return ""

    def wait_released(self, seconds: float) -> None:
        self._release.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-request (time-out tests, dropped connections)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "acs-fake/1"

    @property
    def fake(self) -> AcsFake:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, entry: Recorded, status: int, body: Any = None,
               headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        entry.status = status

    def _read(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        entry = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                         body, parsed, time.monotonic())
        self.fake._record(entry)
        return entry

    def _authorized(self, entry: Recorded) -> bool:
        problem = self.fake.auth_error(entry.method, entry.path, entry.headers, entry.body)
        if problem:
            self._reply(entry, 401, acs_error("Denied", f"Denied by the resource provider. "
                                                        f"({problem})"))
            return False
        return True

    def _operation_location(self, operation_id: str) -> str:
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"{scheme}://{host}/emails/operations/{operation_id}?api-version={API_VERSION}"

    def do_POST(self) -> None:
        entry = self._read()
        if not self._authorized(entry):
            return
        if urlsplit(entry.path).path != "/emails:send":
            self._reply(entry, 404, acs_error("NotFound", "no such route"))
            return
        script = self.fake._next("POST")
        if script is not None and script.kind == "status":
            self._reply(entry, script.status, script.body, script.headers)
            return
        message = entry.json
        if not isinstance(message, dict) or not message.get("senderAddress") \
                or not (message.get("recipients") or {}).get("to"):
            self._reply(entry, 400, acs_error("BadRequest", "senderAddress and recipients.to "
                                                            "are required"))
            return
        operation_id = entry.headers.get("operation-id") or str(uuid.uuid4())
        self.fake._accept(operation_id, message)
        if script is not None and script.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)  # socket.SHUT_RDWR: no response at all
            return
        if script is not None and script.kind == "accept-then-status":
            self._reply(entry, script.status, script.body, script.headers)
            return
        self._reply(entry, 202, {"id": operation_id, "status": "Running"}, {
            "Operation-Location": self._operation_location(operation_id),
            "operation-id": operation_id,
        })

    def do_GET(self) -> None:
        entry = self._read()
        if not self._authorized(entry):
            return
        path = urlsplit(entry.path).path
        prefix = "/emails/operations/"
        operation_id = path[len(prefix):] if path.startswith(prefix) else ""
        if operation_id not in self.fake.accepted:
            self._reply(entry, 404, acs_error("NotFound", f"no operation {operation_id!r}"))
            return
        script = self.fake._next("GET")
        if script is not None and script.kind == "running":
            headers = {"Retry-After": script.retry_after} if script.retry_after else {}
            self._reply(entry, 200, {"id": operation_id, "status": "Running"}, headers)
            return
        if script is not None and script.kind == "failed":
            self._reply(entry, 200, {"id": operation_id, "status": "Failed",
                                     "error": (script.body or {}).get("error")})
            return
        if script is not None and script.kind == "status":
            self._reply(entry, script.status, script.body, script.headers)
            return
        if script is not None and script.kind == "hang":
            self.fake.wait_released(script.seconds)
        self._reply(entry, 200, {"id": operation_id, "status": "Succeeded"})


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1 (PEM files in *folder*)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acs-fake test certificate")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "acs-fake-cert.pem"
    key_path = folder / "acs-fake-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
