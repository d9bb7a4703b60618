"""`python -m shared ...`: run, validate, schema, actions, schedule, runs, resubmit.

A thin shell over the same service the Functions app uses: each command parses its
arguments, calls `shared.service.FlowService` (or the loader, for file checks) and
prints the answer. Commands live in `run.py`, `history.py` and `files.py`, each
declaring its own arguments.
"""

from __future__ import annotations

import argparse
import sys

from ..settings import SettingInvalid, Settings
from . import alerts, files, history, run

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=history.PROG,
                                     description="Kusto Flows: run and check flow files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_commands(sub)
    files.add_commands(sub)
    history.add_commands(sub)
    alerts.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["runs", "show"]:  # `runs [FLOW]` is positional: route `runs show` here
        argv = ["runs show", *argv[2:]]
    args = _build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    return int(args.handler(args, settings))
