"""A module imported on first use: `lazy_module("shared.expressions")` stands for the
module and imports it when one of its attributes is first read, so a module that needs
another only inside its functions does not pay for importing it at start-up (the
Functions app imports the runner, which renders templates only when a run starts).

    if TYPE_CHECKING:
        from . import expressions      # what mypy sees
    else:
        expressions = lazy_module("shared.expressions")
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:  # the import system's own lock makes this safe across threads
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A stand-in for the module *name* (absolute), imported on first attribute read."""
    return _LazyModule(name)
