"""Argument parsing shared by the commands: a subcommand with its help, and the
values `runs` takes (status, page size) checked by the same rules as the HTTP API."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..errors import InvalidQuery
from ..history import RunQuery

__all__ = ["STATUSES", "new_command", "status_arg", "top_arg"]

STATUSES = "failed, succeeded, timedout, abandoned or running"

def new_command(sub: Any, name: str, handler: Callable[..., int], summary: str,
                details: str | None = None, **extra: Any) -> argparse.ArgumentParser:
    """A subcommand: *summary* in the command list, *details* on its own --help."""
    command: argparse.ArgumentParser = sub.add_parser(name, help=summary,
                                                      description=details, **extra)
    command.set_defaults(handler=handler)
    return command


def status_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a status: " + STATUSES)
    try:
        return str(RunQuery.parse(status=text).status)
    except InvalidQuery as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def top_arg(text: str) -> int:
    try:
        return RunQuery.parse(top=text).top
    except InvalidQuery as exc:
        raise argparse.ArgumentTypeError(f"--{exc.message}") from exc
