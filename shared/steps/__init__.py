"""Actions: one module each (its step model, its executor, its README line), and the
one list that registers them. Adding an action is one module, its tests and one
line in `DEFAULT_ACTIONS`."""

from __future__ import annotations

from typing import Any

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
from .base import BlockOutcome, Blocks, StepContext, StepOutcome, StepWaiting
from .registry import Action, ActionRegistry

__all__ = ["DEFAULT_ACTIONS", "REGISTRY", "Action", "ActionRegistry", "BlockOutcome", "Blocks",
           "StepContext", "StepOutcome", "StepWaiting"]

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

#: The actions of the product; the loader, the runner and the schema use it by default.
REGISTRY = ActionRegistry(DEFAULT_ACTIONS)
