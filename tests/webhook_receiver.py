"""A local webhook receiver for the tests of `http.request` and `teams.post` (a
pytest plugin, loaded by the root conftest): a threaded HTTP/1.1 server on a free
127.0.0.1 port, started once per session and stopped after.

    hook = webhook_receiver.hook(secret="s3cret")   # a path of its own per test
    hook.url          # http://127.0.0.1:PORT/hooks/<id>?sig=<random>: the URL setting
    hook.plan(Reply(429, retry_after="0"), Slow(5), Drop())   # the next answers, in order
    hook.requests     # what arrived: method, headers, body, JSON, signature check, key
    hook.deliveries   # Idempotency-Key -> how many times the receiver acted on it

Like a Workflows URL, the hook's URL carries a secret in its query (`sig=`): a
request without it is answered 401 and not acted on. With a `secret`, the body's
`X-Hub-Signature-256` is checked here, on the raw bytes, with the standard
library's `hmac` (not the product's code): a bad or missing signature is 401 too.

Planned answers, taken one per request, then `respond_with`'s (200 and a small
JSON body by default):

* `Reply(status, retry_after=..., acted=False)`: answer *status*; acted on only
  when `acted` (a 5xx after the work was done).
* `Slow(seconds)`: act, then hold the answer up to *seconds* (less when the client
  hangs up first, its read time-out), then answer 200.
* `Drop()`: act, then close the connection without an answer.

Each test gets its own hook, so tests sharing the session's receiver do not see
each other's requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import select
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.local_http import Handler

__all__ = ["Drop", "Hook", "Received", "Reply", "Slow", "WebhookReceiver"]


@dataclass(frozen=True)
class Reply:
    status: int
    retry_after: str | None = None
    body: bytes = b""
    acted: bool = False


@dataclass(frozen=True)
class Slow:
    seconds: float


@dataclass(frozen=True)
class Drop:
    pass


Plan = Reply | Slow | Drop


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    #: None without a secret; else whether the signature matched the body.
    signature_ok: bool | None
    answered: int | None = None

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("idempotency-key", "")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Hook:
    receiver: WebhookReceiver
    path: str
    sig: str
    secret: str | None
    requests: list[Received] = field(default_factory=list)
    deliveries: Counter[str] = field(default_factory=Counter)
    _plan: list[Plan] = field(default_factory=list)
    _default: tuple[int, dict[str, str], bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.receiver.url}{self.path}?sig={self.sig}&api-version=1"

    def plan(self, *answers: Plan) -> Hook:
        with self.receiver.lock:
            self._plan.extend(answers)
        return self

    def respond_with(self, status: int = 200, body: bytes = b"",
                     headers: dict[str, str] | None = None) -> Hook:
        self._default = (status, headers or {}, body)
        return self

    def next_answer(self) -> Plan | None:
        with self.receiver.lock:
            return self._plan.pop(0) if self._plan else None


class _Handler(Handler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_POST

    def _serve(self) -> None:
        body, parts = self.read_request()
        receiver = self.server.receiver
        hook = receiver.hooks.get(parts.path)
        if hook is None:
            self._answer(404, b"no such hook")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        signature_ok = None
        if hook.secret is not None:
            expected = "sha256=" + hmac.new(hook.secret.encode(), body,
                                            hashlib.sha256).hexdigest()
            signature_ok = hmac.compare_digest(headers.get("x-hub-signature-256", ""),
                                               expected)
        received = Received(self.command, parts.path, parse_qs(parts.query), headers, body,
                            signature_ok)
        with receiver.lock:
            hook.requests.append(received)
        if parse_qs(parts.query).get("sig") != [hook.sig] or signature_ok is False:
            received.answered = 401
            self._answer(401, b'{"error": "bad signature"}')
            return
        planned = hook.next_answer()
        if isinstance(planned, Reply):
            if planned.acted:
                self._act(hook, received)
            received.answered = planned.status
            extra = {"Retry-After": planned.retry_after} if planned.retry_after else {}
            self._answer(planned.status, planned.body, extra)
            return
        self._act(hook, received)
        if isinstance(planned, Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if isinstance(planned, Slow):
            # Until the client hangs up (its read time-out) or the hold ends.
            select.select([self.connection], [], [], planned.seconds)
            self.close_connection = True
        status, extra, answer = hook._default or (
            200, {"Content-Type": "application/json"},
            json.dumps({"ok": True, "delivery": hook.deliveries[received.idempotency_key]})
            .encode())
        received.answered = status
        with contextlib.suppress(OSError):
            self._answer(status, answer, extra)

    def _act(self, hook: Hook, received: Received) -> None:
        with self.server.receiver.lock:
            hook.deliveries[received.idempotency_key] += 1

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        self.write(status, headers, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class WebhookReceiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hooks: dict[str, Hook] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="webhook-receiver", daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def hook(self, *, secret: str | None = None) -> Hook:
        path = f"/hooks/{secrets.token_hex(8)}"
        hook = Hook(self, path, sig=secrets.token_urlsafe(24), secret=secret)
        with self.lock:
            self.hooks[path] = hook
        return hook


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
