"""`run` and `resubmit`: run a flow now and show each step as it happens."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..errors import FlowInvalid, KustoFlowsError
from ..loader import FlowFileInvalid, FlowProblem, find_flow
from ..results import RunResult, RunStatus, StepResult
from ..runner import Trigger
from ..service import FlowService
from ..settings import Settings
from .format import STEP_ICONS, error_lines, moment, print_table
from .parsing import new_command

__all__ = ["Progress", "add_commands", "print_problems"]


def add_commands(sub: Any) -> None:
    run = new_command(sub, "run", cmd_run, "run a flow now and show each step")
    run.add_argument("flow", help="flow name or path to its .yaml")
    run.add_argument("--body", help="JSON given to the flow as trigger.body")
    run.add_argument("--show", nargs="?", type=int, const=10, default=0, metavar="N",
                     help="print the first N rows (default 10) of each step's result")
    run.add_argument("--chain", action="store_true",
                     help="also run the flows chained after it (trigger.after) from the same "
                          "folder; without it only this flow runs (the app runs chains)")
    resubmit = new_command(
        sub, "resubmit", cmd_resubmit,
        "run a recorded run's flow again with the same trigger body",
        "Runs the flow of RUN_ID again with the same trigger body (trigger kind "
        "'resubmit'), records the new run as resubmitted from RUN_ID and shows each step, "
        "like `run`. As with `run`, flows chained after it (trigger.after) are not "
        "started. Exit 1 when the run is unknown, its body was too large to keep, or the "
        "new run does not succeed.")
    resubmit.add_argument("run_id", metavar="RUN_ID", help="a run id, or FLOW/RUN_ID")


class Progress:
    """Prints each step as it starts and ends."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run_started(self, run: RunResult) -> None:
        self._say(f"▶ {run.flow}  run {run.run_id}  ({run.trigger_kind})")

    def step_started(self, run: RunResult, path: str, action: str) -> None:
        self._say(f"  {'  ' * path.count('.')}… {path} [{action}]")

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        depth = "  " * step.path.count(".")
        line = (f"  {depth}{STEP_ICONS[step.status]} {step.path} {step.status} "
                f"in {step.duration_ms:,.0f} ms")
        # A failed step's summary is its error message, printed on the line below.
        repeats = step.error is not None and step.summary == step.error.message
        self._say(line + (f": {step.summary}" if step.summary and not repeats else ""))
        if step.error:
            for text in error_lines(depth, step.status, step.error.code, step.error.message,
                                    step.error.hint):
                self._say(text)

    def run_finished(self, run: RunResult) -> None:
        counts: dict[str, int] = {}
        for step in run.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        parts = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
        self._say(f"■ {run.flow} {run.status} in {run.duration_ms / 1000:,.2f} s ({parts})")


def print_problems(exc: KustoFlowsError) -> None:
    """An error on stderr; an invalid flow as its problems, one a line."""
    problems = exc.problems if isinstance(exc, FlowInvalid) else []
    for problem in problems or [exc]:
        print(problem, file=sys.stderr)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        path = find_flow(args.flow, settings.flows_dir)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        body = json.loads(args.body) if args.body else None
    except json.JSONDecodeError as exc:
        print(f"--body is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        service = (FlowService.load(settings, path.parent) if args.chain
                   else FlowService.for_file(settings, path))
        name = _name_in(service, path)
    except FlowInvalid as exc:
        print_problems(exc)
        return 1
    with service:
        run = service.run(name, Trigger(kind="manual", body=body), chain=args.chain,
                          observers=[Progress(sys.stdout)])
    if args.show:
        print_rows(run, args.show)
    _print_previews(run)
    return 0 if run.status == RunStatus.SUCCEEDED else 1


def _name_in(service: FlowService, path: Path) -> str:
    """The flow of file *path* in *service*'s catalog (invalid: its problems)."""
    for name, loaded in service.catalog.flows.items():
        if Path(loaded.path).resolve() == path.resolve():
            return name
    raise FlowFileInvalid(service.catalog.problems.get(str(path), []) or [
        FlowProblem(str(path), 1, "the flow did not load")])


def print_rows(run: RunResult, count: int) -> None:
    """The first *count* rows of every step that has rows, as a table."""
    for step in run.steps:
        rows = step.outputs.get("rows") if step.outputs else None
        if not isinstance(rows, list) or not rows:
            continue
        names = [str(c.get("name")) for c in step.outputs.get("columns") or []]
        if isinstance(rows[0], dict):
            names = list(rows[0])
            rows = [[row.get(n) for n in names] for row in rows]
        total = step.outputs.get("row_count", len(rows))
        print(f"  {step.path}: {min(count, len(rows))} of {total:,} rows")
        table = [names] + [[_cell(value) for value in row] for row in rows[:count]]
        print_table([["   ", *line] for line in table])


def _cell(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def cmd_resubmit(args: argparse.Namespace, settings: Settings) -> int:
    from .history import split_run_ref

    flow, run_id = split_run_ref(args.run_id)
    with FlowService.load(settings) as service:
        try:
            record, _ = service.find_run(run_id, flow)
            print(f"resubmitting run {record.run_id} of {record.flow} ({record.status}, "
                  f"{moment(record.started_at)} UTC) with its trigger body")
            run = service.resubmit(record.flow, record.run_id, chain=False,
                                   observers=[Progress(sys.stdout)])
        except KustoFlowsError as exc:
            print_problems(exc)
            return 1
    _print_previews(run)
    return 0 if run.status == RunStatus.SUCCEEDED else 1


def _print_previews(run: RunResult) -> None:
    for step in run.steps:
        preview = step.outputs.get("preview") if step.outputs else None
        if preview:
            print(f"  e-mail preview: {Path(preview).resolve()}")
            print(f"  e-mail (.eml):  {Path(step.outputs['eml']).resolve()}")
