"""`python -m shared ...`: run, validate, schema, actions, schedule, runs, resubmit.

A thin shell over the same service the Functions app uses: each command parses its
arguments, calls `shared.service.FlowService` (or the loader, for file checks) and
prints the answer. Commands live in `run.py`, `history.py` and `files.py`.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InvalidQuery
from ..history import DEFAULT_TOP, MAX_TOP, RunQuery
from ..settings import Settings
from .files import cmd_actions, cmd_schedule, cmd_schema, cmd_validate
from .history import PROG, cmd_runs, cmd_runs_show
from .run import cmd_resubmit, cmd_run

__all__ = ["main"]

_STATUSES = "failed, succeeded, timedout, abandoned or running"


def _status_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a status: " + _STATUSES)
    try:
        return str(RunQuery.parse(status=text).status)
    except InvalidQuery as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def _top_arg(text: str) -> int:
    try:
        return RunQuery.parse(top=text).top
    except InvalidQuery as exc:
        raise argparse.ArgumentTypeError(f"--{exc.message}") from exc


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG,
                                     description="Kusto Flows: run and check flow files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a flow now and show each step")
    run.add_argument("flow", help="flow name or path to its .yaml")
    run.add_argument("--body", help="JSON given to the flow as trigger.body")
    run.set_defaults(handler=cmd_run)
    validate = sub.add_parser("validate", help="check flow files; exit 1 on any problem")
    validate.add_argument("path", nargs="?", help="a flow file or folder (default: flows/)")
    validate.set_defaults(handler=cmd_validate)
    schema = sub.add_parser("schema", help="print the JSON Schema of a flow file")
    schema.set_defaults(handler=cmd_schema)
    actions = sub.add_parser("actions", help="print the table of actions (as in the README)")
    actions.set_defaults(handler=cmd_actions)
    schedule = sub.add_parser("schedule", help="next fire times of each scheduled flow")
    schedule.add_argument("path", nargs="?", help="flows folder (default: flows/)")
    schedule.add_argument("--count", type=int, default=3)
    schedule.set_defaults(handler=cmd_schedule)
    runs = sub.add_parser(
        "runs", help="run history: a table of runs, newest first",
        description="A table of runs, newest first: start (UTC), duration, status, "
        "trigger, failing step (with its error code) and run id. Without FLOW, the runs "
        "of every flow in the flows folder are merged into one list, newest first: "
        "--top counts runs overall, not per flow.",
        epilog=f"One run and its steps: {PROG} runs show RUN_ID. "
        f"(To list a flow that is named 'show': {PROG} runs -- show.)")
    runs.add_argument("flow", nargs="?", metavar="FLOW",
                      help="only this flow's runs (a flow name)")
    runs.add_argument("--status", type=_status_arg, metavar="STATUS",
                      help=f"only runs with this status: {_STATUSES}")
    runs.add_argument("--top", type=_top_arg, default=DEFAULT_TOP, metavar="N",
                      help=f"runs per page, 1 to {MAX_TOP} (default: {DEFAULT_TOP})")
    runs.add_argument("--continuation", metavar="TOKEN",
                      help="the next page: the token printed under the previous page "
                      "(give the same FLOW and --status)")
    runs.set_defaults(handler=cmd_runs)
    show = sub.add_parser(
        "runs show", help="one run and its steps, with each failed step's error",
        description="One run: flow, status, trigger, start, duration, the run it "
        "resubmits, and each step with its status, duration, summary and, for a failed "
        "step, the error code, message and hint. Exit 1 when there is no such run.")
    show.add_argument("run_id", metavar="RUN_ID",
                      help="a run id (looked up in every flow of the flows folder), or "
                      "FLOW/RUN_ID (also finds runs of a flow no longer in the folder)")
    show.add_argument("--json", action="store_true",
                      help="the run as JSON, in the shape the HTTP API answers with")
    show.set_defaults(handler=cmd_runs_show)
    resubmit = sub.add_parser(
        "resubmit", help="run a recorded run's flow again with the same trigger body",
        description="Runs the flow of RUN_ID again with the same trigger body (trigger "
        "kind 'resubmit'), records the new run as resubmitted from RUN_ID and shows "
        "each step, like `run`. As with `run`, flows chained after it (trigger.after) "
        "are not started. Exit 1 when the run is unknown, its body was too large to "
        "keep, or the new run does not succeed.")
    resubmit.add_argument("run_id", metavar="RUN_ID", help="a run id, or FLOW/RUN_ID")
    resubmit.set_defaults(handler=cmd_resubmit)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["runs", "show"]:  # `runs [FLOW]` is positional: route `runs show` here
        argv = ["runs show", *argv[2:]]
    args = _build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return int(args.handler(args, settings))
