"""What the CLI and the Functions app share around the runner: opening the run
store as an observer of every run."""

from __future__ import annotations

import logging
from typing import Any

from .settings import Settings

__all__ = ["open_observers"]

log = logging.getLogger(__name__)


def open_observers(settings: Settings) -> list[Any]:
    return []
