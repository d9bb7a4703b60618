"""The request-handler plumbing the tests' local HTTP servers share
(`tests.http_host`, `tests.webhook_receiver`): HTTP/1.1 with keep-alive, the request
body read by its Content-Length, and an answer written with its Content-Length (and
without its body to a HEAD).
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import SplitResult, urlsplit

__all__ = ["Handler"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def read_request(self) -> tuple[bytes, SplitResult]:
        """The request's body and its split path."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return body, urlsplit(self.path)

    def write(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
