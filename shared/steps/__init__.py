"""Actions: one module each (its step model, its executor, its README line), and the
one list that registers them. Adding an action is one module, its tests and one
line in `DEFAULT_ACTIONS` (its module imported just above it, in `_default_actions`).

Importing this package is cheap: the action modules (and pydantic, and what each
action imports) are imported when the actions are first needed, that is when a flow
is read or run or `DEFAULT_ACTIONS` is read; the Functions app starts from cached flow
files without them. So import action modules only inside `_default_actions`, never at
the top of this file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from .registry import Action, ActionRegistry

if TYPE_CHECKING:
    from .base import BlockOutcome, Blocks, StepContext, StepOutcome, StepWaiting

    DEFAULT_ACTIONS: tuple[Action[Any], ...]

__all__ = ["DEFAULT_ACTIONS", "REGISTRY", "Action", "ActionRegistry", "BlockOutcome", "Blocks",
           "StepContext", "StepOutcome", "StepWaiting"]

_FROM_BASE = ("BlockOutcome", "Blocks", "StepContext", "StepOutcome", "StepWaiting")


@cache
def _default_actions() -> tuple[Action[Any], ...]:
    from . import (
        alert,
        blob_upload,
        condition,
        email_send,
        foreach,
        http_request,
        kusto_command,
        kusto_ingest,
        kusto_query,
        kusto_visualize,
        sql_query,
        sql_write,
        teams_post,
    )

    DEFAULT_ACTIONS: tuple[Action[Any], ...] = (
        kusto_query.ACTION,
        kusto_visualize.ACTION,
        kusto_command.ACTION,
        email_send.ACTION,
        condition.ACTION,
        foreach.ACTION,
        sql_query.ACTION,
        sql_write.ACTION,
        kusto_ingest.ACTION,
        blob_upload.ACTION,
        alert.ACTION,
        http_request.ACTION,
        teams_post.ACTION,
    )
    return DEFAULT_ACTIONS


def __getattr__(name: str) -> Any:
    """`DEFAULT_ACTIONS` and what `.base` defines, imported on first use."""
    if name == "DEFAULT_ACTIONS":
        return _default_actions()
    if name in _FROM_BASE:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The actions of the product; the loader, the runner and the schema use it by default.
REGISTRY = ActionRegistry(_default_actions)
