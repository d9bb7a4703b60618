"""Every error the product raises derives from one root, `KustoFlowsError`, with a
stable code, an HTTP status and a title, and answers HTTP in one place (`Route.call`).

Why: run records, the API and alerts match on codes; a stray exception type that is
not a product error reaches users as a 500 "looks like a bug" instead of a message
they can act on.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import azure.functions as func

import shared
from shared.api.routes import Route
from shared.errors import FlowNotFound, KustoFlowsError


def product_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(shared.__path__, "shared."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__ and not name.startswith("_")):
                found[f"{value.__module__}.{name}"] = value
    return list(found.values())


def test_every_public_exception_of_the_product_derives_from_the_root() -> None:
    classes = product_exception_classes()
    assert len(classes) > 20
    strays = [c.__qualname__ for c in classes if not issubclass(c, KustoFlowsError)]
    assert strays == []


def test_every_error_has_a_code_an_http_status_and_a_title() -> None:
    for error in product_exception_classes():
        assert issubclass(error, KustoFlowsError)
        assert error.code and error.code[0].isupper(), error
        # 4xx/5xx; StepWaiting (202) is the one that reports "not done yet".
        assert 400 <= error.http_status <= 599 or error.code == "Waiting", error
        assert error.title, error


@dataclass(frozen=True)
class RouteTo(Route):
    """A route whose handler is given, not looked up by name."""

    to: Callable[[object, func.HttpRequest], func.HttpResponse] | None = None

    def handler(self) -> Callable[[object, func.HttpRequest], func.HttpResponse]:
        assert self.to is not None
        return self.to


def test_a_route_answers_a_product_error_with_its_status_code_message_and_hint() -> None:
    def raises(service: object, req: func.HttpRequest) -> func.HttpResponse:
        raise FlowNotFound("no flow named 'x'", hint="check the name")

    route = RouteTo("test", "GET", "x", "", to=raises)
    answer = route.call(None, func.HttpRequest("GET", "http://h/api/x", body=b""))
    assert answer.status_code == 404
    assert json.loads(answer.get_body()) == {"error": {
        "code": "FlowNotFound", "message": "no flow named 'x'", "hint": "check the name"}}


def test_a_route_answers_anything_else_500_without_a_traceback() -> None:
    def breaks(service: object, req: func.HttpRequest) -> func.HttpResponse:
        raise KeyError("boom")

    route = RouteTo("test", "GET", "x", "", to=breaks)
    answer = route.call(None, func.HttpRequest("GET", "http://h/api/x", body=b""))
    assert answer.status_code == 500
    error = json.loads(answer.get_body())["error"]
    assert error["code"] == "InternalError" and "Traceback" not in error["message"]
