"""A fault-injecting HTTP proxy between the real azure-kusto-data client and
`tests.kusto_server`, for the tests of what is (and is not) re-sent.

    proxy = FaultProxy(server_url).start()
    proxy.inject("503-after", times=1)   # the next request: run it, then answer 503
    ... point a connection at proxy.url ...
    proxy.forwarded                      # requests the server received

Every connection carries one request (the proxy answers `Connection: close`), so
the mode applies per request. Modes, taken by the next `times` requests, then
back to "pass":

* "pass": forward and relay the answer.
* "late": forward, then hold the answer up to `hold` seconds; the hold ends early
  when the client hangs up (its read time-out) or the proxy stops.
* "503-after": forward (the server runs it), then answer the client 503.
* "drop": forward, then send the status, the headers (with the full length) and
  `body[:keep]` (half the body when not given; `keep=-10`: all but the last 10
  bytes) and close the connection.
* "refuse": close the connection before reading the request.
* "throttle": read the request and answer 429 without forwarding it, as the
  service does before it runs anything.

Bounded: a hold never outlasts `hold`, and the proxy stops itself after
`lifetime` seconds if nobody stopped it.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import socketserver
import threading
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Mode"]

Mode = Literal["pass", "late", "503-after", "drop", "refuse", "throttle"]

#: Not relayed: they describe one hop (the proxy sets its own framing).
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
                "proxy-connection", "te", "trailer", "upgrade"}


class FaultProxy:
    def __init__(self, upstream: str, *, lifetime: float = 600.0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._plan: list[tuple[Mode, float, int | None]] = []
        #: Connections accepted, and requests passed on to the server.
        self.connections = 0
        self.forwarded = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fault-proxy", daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()  # releases held answers
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, mode: Mode, *, times: int = 1, hold: float = 30.0,
               keep: int | None = None) -> None:
        """The next *times* requests meet *mode*; later ones pass."""
        with self._lock:
            self._plan.extend([(mode, hold, keep)] * times)

    def reset(self) -> None:
        """Pass everything and zero the counts."""
        with self._lock:
            self._plan.clear()
            self.connections = self.forwarded = 0

    def _next(self) -> tuple[Mode, float, int | None]:
        with self._lock:
            self.connections += 1
            return self._plan.pop(0) if self._plan else ("pass", 0.0, None)

    def _count_forwarded(self) -> None:
        with self._lock:
            self.forwarded += 1


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        mode, hold, keep = proxy._next()
        sock: socket.socket = self.request
        if mode == "refuse":
            sock.close()
            return
        with sock.makefile("rb") as rfile:
            request = _read_request(rfile)
        if request is None:
            return
        if mode == "throttle":
            _send(sock, 429, "Too Many Requests", *_error_body(
                "TooManyRequests", "fault proxy: throttled before running"))
            return
        status, reason, headers, body = self._forward(*request)
        proxy._count_forwarded()
        if mode == "503-after":
            _send(sock, 503, "Service Unavailable", *_error_body(
                "ServiceUnavailable", "fault proxy: 503 after the server answered"))
        elif mode == "drop":
            _send(sock, status, reason, headers, body, keep=len(body) // 2 if keep is None
                  else keep)
        elif mode == "late" and not _held(sock, hold, proxy._stopping):
            return  # the client hung up while the answer was held
        else:
            _send(sock, status, reason, headers, body)

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
                 ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self.server.proxy.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=120)
        try:
            upstream.request(method, path, body=body,
                             headers={k: v for k, v in headers if k.lower() not in _HOP_HEADERS})
            answer = upstream.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_HEADERS]
            return answer.status, answer.reason, kept, data
        finally:
            upstream.close()


def _read_request(rfile: Any) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = rfile.readline(65537).decode("latin-1").split()
    if len(line) != 3:
        return None
    message = http.client.parse_headers(rfile)
    body = rfile.read(int(message.get("Content-Length") or 0))
    return line[0], line[1], list(message.items()), body


def _error_body(code: str, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """Kusto's error shape, so the SDK reads it as the service's own answer."""
    body = {"error": {"code": code, "message": message, "@message": message,
                      "@type": "FaultProxy", "@permanent": False}}
    return [("Content-Type", "application/json; charset=utf-8")], json.dumps(body).encode()


def _send(sock: socket.socket, status: int, reason: str, headers: list[tuple[str, str]],
          body: bytes, *, keep: int | None = None) -> None:
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    try:
        sock.sendall("\r\n".join(head).encode("latin-1") + body[:keep])
    except OSError:
        pass  # the client is gone; nothing to tell it


def _held(sock: socket.socket, hold: float, stopping: threading.Event) -> bool:
    """Wait *hold* seconds; False as soon as the client hangs up or the proxy stops."""
    waited = 0.0
    while waited < hold and not stopping.is_set():
        step = min(0.1, hold - waited)
        readable, _, _ = select.select([sock], [], [], step)
        waited += step
        if readable:
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return False
            except OSError:
                return False
    return not stopping.is_set()
