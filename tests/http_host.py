"""A stand-in for the Azure Functions host, for tests: a small threaded HTTP server
on a free 127.0.0.1 port that serves `shared.api.routes.ROUTES` for one
`FlowService`, so a real browser can click through the pages.

Like the host it matches the path below `/api/` against the route templates,
URL-decodes route and query parameters, builds a real `azure.functions.HttpRequest`
(form posts keep their `application/x-www-form-urlencoded` body), calls the
handler and writes its `HttpResponse` back. The host itself cannot be installed here.

    with HttpHost(service) as host:
        urlopen(host.url("pages/flows"))
"""

from __future__ import annotations

import logging
import threading
import traceback
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

import azure.functions as func

from shared.api.routes import match_route
from tests.local_http import Handler

__all__ = ["HttpHost"]

log = logging.getLogger(__name__)
PREFIX = "/api/"


class _Handler(Handler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http_host: " + format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        body, parts = self.read_request()
        if not parts.path.startswith(PREFIX):
            self.write(404, {"Content-Type": "text/plain"}, b"not below /api/")
            return
        found = match_route(method, parts.path[len(PREFIX):])
        if found is None:
            self.write(404, {"Content-Type": "text/plain"}, b"no such route")
            return
        route, raw_params = found
        request = func.HttpRequest(
            method, f"http://{self.headers.get('Host') or self.server.host}{self.path}",
            headers={k: v for k, v in self.headers.items()},
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            route_params={k: unquote(v) for k, v in raw_params.items()},
            body=body)
        self.server.requests.append((method, self.path))
        try:
            response = route.call(self.server.service, request)
        except Exception:  # the host answers 500; the test sees the traceback
            self.server.errors.append(traceback.format_exc())
            log.exception("handler %s failed", route.target)
            self.write(500, {"Content-Type": "text/plain"}, b"handler failed")
            return
        if response.status_code >= 500 and response.status_code != 503:
            # Route.call answered an unexpected error: a test should see it.
            self.server.errors.append((response.get_body() or b"").decode("utf-8", "replace"))
        headers = dict(response.headers)
        if not any(k.lower() == "content-type" for k in headers):
            mimetype = response.mimetype or "text/plain"
            headers["Content-Type"] = (f"{mimetype}; charset={response.charset}"
                                       if response.charset else mimetype)
        self.write(response.status_code, headers, response.get_body() or b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service
        self.host = f"127.0.0.1:{self.server_address[1]}"
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []


class HttpHost:
    """Serves the app's routes for *service* until `stop()` (or the `with` ends)."""

    def __init__(self, service: Any) -> None:
        self._server = _Server(service)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="http_host", daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self._server.host}"

    @property
    def errors(self) -> list[str]:
        """Tracebacks of handlers that raised (each answered 500)."""
        return self._server.errors

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path and query) of every request routed to a handler."""
        return self._server.requests

    def url(self, path: str) -> str:
        """The full URL of *path* below `/api/`."""
        return f"{self.base}{PREFIX}{path.lstrip('/')}"

    def start(self) -> HttpHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HttpHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
