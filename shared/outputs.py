"""Step outputs as JSON: what a chained flow receives, and what the step journal keeps
of a step that wrote something (`shared.state`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .mail.message import Attachment

__all__ = ["json_safe"]


def json_safe(value: Any, depth: int = 0) -> Any:
    """Outputs as JSON: files become their name, type and size; datetimes ISO."""
    if depth > 20:
        return None
    if isinstance(value, Attachment):
        return {"name": value.name, "content_type": value.content_type, "size": value.size}
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        return str(value)  # Markup too: plain text in JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
