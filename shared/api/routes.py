"""Every HTTP route of the app, in one table that `function_app.py` registers and the
tests serve through a plain HTTP server (tests/http_host.py), so both see the same
routes.

Handlers are named as "module:function" under `shared.api` and imported on the first
request, not at start-up: the pages and their templates cost nothing on a cold start.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KustoFlowsError

if TYPE_CHECKING:
    import azure.functions as func

__all__ = ["ROUTES", "Route", "match_route"]

log = logging.getLogger(__name__)

Handler = Callable[[Any, "func.HttpRequest"], "func.HttpResponse"]


class InternalError(KustoFlowsError, title="Something went wrong"):
    """Anything a handler raised that is not a product error: a bug, answered 500."""


@dataclass(frozen=True)
class Route:
    #: The function's name in Azure (stable: the portal shows and disables by it).
    name: str
    method: str
    #: Azure Functions route template, below the `api` prefix.
    template: str
    #: "module:function" in `shared.api`; called as handler(service, request).
    target: str
    #: How errors are answered: "json" or "page" (an HTML error page).
    answers: str = "json"

    def handler(self) -> Handler:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(f"shared.api.{module}"), function)  # type: ignore[no-any-return]

    def call(self, service: Any, req: func.HttpRequest) -> func.HttpResponse:
        """The handler's answer. A product error becomes its HTTP status with a JSON
        error or an error page; anything else is logged and answered 500, never a
        bare host error page."""
        try:
            return self.handler()(service, req)
        except KustoFlowsError as exc:
            log.log(logging.ERROR if exc.http_status >= 500 else logging.INFO,
                    "%s: %s %s", self.name, exc.code, exc.message)
            error = exc
        except Exception as exc:
            log.exception("%s failed", self.name)
            error = InternalError(f"{type(exc).__name__}: {exc}")
        if self.answers == "page":
            from .pages import error_page

            return error_page(req, error)
        from .http import error_response

        return error_response(error)

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        return re.compile(f"^{regex}$")


ROUTES: tuple[Route, ...] = (
    Route("health", "GET", "health", "http:health"),
    Route("list_flows", "GET", "flows", "http:list_flows"),
    Route("run_flow_webhook", "POST", "flows/{name}/run", "http:run_webhook"),
    Route("list_flow_runs", "GET", "flows/{name}/runs", "http:list_runs"),
    Route("list_flow_alerts", "GET", "flows/{name}/alerts", "alerts:flow_alerts"),
    Route("get_run", "GET", "runs/{flow}/{run_id}", "http:get_run"),
    Route("resubmit_run", "POST", "runs/{flow}/{run_id}/resubmit", "http:resubmit_run"),
    Route("page_flows", "GET", "pages/flows", "pages:flows_page", "page"),
    Route("page_flow_runs", "GET", "pages/flows/{name}/runs", "pages:runs_page", "page"),
    Route("page_run", "GET", "pages/runs/{flow}/{run_id}", "pages:run_page", "page"),
    Route("page_run_now", "POST", "pages/flows/{name}/run", "pages:run_now_page", "page"),
    Route("page_resubmit", "POST", "pages/runs/{flow}/{run_id}/resubmit",
          "pages:resubmit_page", "page"),
)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for *method* and *path* (below `/api/`), with its route parameters."""
    for route in ROUTES:
        if route.method != method.upper():
            continue
        found = route.pattern().match(path.strip("/"))
        if found:
            return route, found.groupdict()
    return None
