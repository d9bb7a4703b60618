"""What `validate` can tell of a Kusto step from the file alone: templates written into
KQL text (never expanded: values go as parameters), and parameters that the text does
not declare, or declares without a default and the step does not give."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..kusto.params import declared_parameters
from .kusto_common import KustoStep

__all__ = ["check_kusto_text", "kusto_text_checker"]


def kusto_text_checker(field: str) -> Callable[[KustoStep], Iterator[tuple[str, str]]]:
    """The `Action.check` of a Kusto action whose KQL text is its field *field*."""
    def check(step: KustoStep) -> Iterator[tuple[str, str]]:
        return check_kusto_text(step, str(getattr(step, field)), field)
    return check


def check_kusto_text(step: KustoStep, text: str, field: str) -> Iterator[tuple[str, str]]:
    if ("{{" in text and "}}" in text) or ("{%" in text and "%}" in text):
        yield field, ("templates are not expanded in KQL text (it is sent as written, so "
                      "this would query the literal text); pass values as parameters: "
                      "declare query_parameters(name:type); ... and parameters: {name: "
                      "'{{ ... }}'}")
    declared = declared_parameters(text)
    for name in step.parameters:
        if name not in declared:
            known = ", ".join(declared) or "none"
            yield f"parameters.{name}", (f"parameter '{name}' is not declared by the "
                                         f"{field} (declared: {known}); add "
                                         f"declare query_parameters({name}:string);")
    for name, declaration in declared.items():
        if not declaration.has_default and name not in step.parameters:
            yield "parameters", (f"the {field} declares parameter '{name}' without a "
                                 f"default and the step gives no value for it: add "
                                 f"parameters: {{{name}: ...}} or a default")
