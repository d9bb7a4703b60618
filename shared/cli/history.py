"""`runs` and `runs show`: the run history as a table, and one run with its steps."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidQuery, KustoFlowsError
from ..history import DEFAULT_TOP, MAX_TOP, RunQuery, run_json
from ..runs import RunRecord, StepRecord
from ..service import FlowService
from ..settings import Settings
from .format import STEP_ICONS, duration, error_lines, moment, print_table, run_status
from .parsing import STATUSES, new_command, status_arg, top_arg

__all__ = ["PROG", "add_commands", "split_run_ref"]

PROG = "python -m shared"


def add_commands(sub: Any) -> None:
    runs = new_command(
        sub, "runs", cmd_runs, "run history: a table of runs, newest first",
        "A table of runs, newest first: start (UTC), duration, status, trigger, failing "
        "step (with its error code) and run id. Without FLOW, the runs of every flow in the "
        "flows folder are merged into one list, newest first: --top counts runs overall, "
        "not per flow.",
        epilog=f"One run and its steps: {PROG} runs show RUN_ID. "
        f"(To list a flow that is named 'show': {PROG} runs -- show.)")
    runs.add_argument("flow", nargs="?", metavar="FLOW",
                      help="only this flow's runs (a flow name)")
    runs.add_argument("--status", type=status_arg, metavar="STATUS",
                      help=f"only runs with this status: {STATUSES}")
    runs.add_argument("--top", type=top_arg, default=DEFAULT_TOP, metavar="N",
                      help=f"runs per page, 1 to {MAX_TOP} (default: {DEFAULT_TOP})")
    runs.add_argument("--continuation", metavar="TOKEN",
                      help="the next page: the token printed under the previous page "
                      "(give the same FLOW and --status)")
    show = new_command(
        sub, "runs show", cmd_runs_show,
        "one run and its steps, with each failed step's error",
        "One run: flow, status, trigger, start, duration, the run it resubmits, and each "
        "step with its status, duration, summary and, for a failed step, the error code, "
        "message and hint. Exit 1 when there is no such run.")
    show.add_argument("run_id", metavar="RUN_ID",
                      help="a run id (looked up in every flow of the flows folder), or "
                      "FLOW/RUN_ID (also finds runs of a flow no longer in the folder)")
    show.add_argument("--json", action="store_true",
                      help="the run as JSON, in the shape the HTTP API answers with")


def split_run_ref(text: str) -> tuple[str | None, str]:
    """RUN_ID or FLOW/RUN_ID."""
    flow, _, run_id = text.strip().rpartition("/")
    return (flow or None), run_id


def _flow_name(target: str, service: FlowService) -> str:
    """FLOW as given: a flow name, or the path of a flow file in the folder."""
    if Path(target).suffix in (".yaml", ".yml"):
        for name, loaded in service.catalog.flows.items():
            if Path(loaded.path).resolve() == Path(target).resolve():
                return name
        return Path(target).stem
    return target


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    with FlowService.load(settings) as service:
        flow = _flow_name(args.flow, service) if args.flow else None
        names = service.flow_names()
        try:
            query = RunQuery.parse(flow, status=args.status, top=args.top,
                                   continuation=args.continuation)
            page = service.runs(query)
        except InvalidQuery as exc:
            print(f"--continuation: {exc.message}", file=sys.stderr)
            return 2
        except KustoFlowsError as exc:
            print(exc, file=sys.stderr)
            return 1
    records = page.items
    if flow is not None and flow not in names and not records and not args.continuation:
        print(f"no flow named '{flow}' in {settings.flows_dir}, and no runs of it in the "
              "history", file=sys.stderr)
        return 1
    if not records:
        what = f"{query.status.lower()} runs" if query.status else "runs"
        print(f"no {what} of {f'flow {flow!r}' if flow else 'any flow'}"
              + (" on this page" if args.continuation else ""))
    else:
        _print_runs(records, with_flow=flow is None)
    if page.continuation:
        command = [*PROG.split(), "runs", *([args.flow] if args.flow else [])]
        if query.status:
            command += ["--status", query.status.lower()]
        command += ["--top", str(query.top), "--continuation", page.continuation]
        print(f"next page: {shlex.join(command)}")
    return 0


def _print_runs(records: list[RunRecord], *, with_flow: bool) -> None:
    header = ["START (UTC)", "DURATION", "STATUS", "TRIGGER", "FAILING STEP", "RUN ID"]
    rows = [["FLOW", *header] if with_flow else header]
    for record in records:
        failing = record.failing_step
        if failing and record.error_code:
            failing += f" ({record.error_code})"
        row = [moment(record.started_at), duration(record), run_status(record.status),
               record.trigger, failing or "-", record.run_id]
        rows.append([record.flow, *row] if with_flow else row)
    print_table(rows)


def cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    flow, run_id = split_run_ref(args.run_id)
    with FlowService.load(settings) as service:
        try:
            record, steps = service.find_run(run_id, flow)
        except KustoFlowsError as exc:
            print(exc, file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(run_json(record, steps), indent=2))
        return 0
    _print_run(record, steps)
    return 0


def _print_run(record: RunRecord, steps: list[StepRecord]) -> None:
    print(f"run {record.run_id} of flow {record.flow}")
    fields = [("status", run_status(record.status)), ("trigger", record.trigger),
              ("started", f"{moment(record.started_at)} UTC"),
              ("duration", duration(record))]
    if record.resubmitted_from:
        fields.append(("resubmitted from", record.resubmitted_from))
    if record.failing_step:
        fields.append(("failing step", record.failing_step))
    if record.trigger_body_truncated:
        fields.append(("trigger body", "too large to keep: this run cannot be resubmitted"))
    elif record.trigger_body is not None:
        text = json.dumps(record.trigger_body, ensure_ascii=False, default=str)
        fields.append(("trigger body", text if len(text) <= 2000 else text[:1999] + "…"))
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        print(f"  {(name + ':').ljust(width)} {value}")
    shown_error = False
    print(f"steps ({len(steps)}):" if steps else "steps: none recorded")
    for step in steps:
        indent = "  " * step.path.count(".")
        line = (f"  {indent}{STEP_ICONS.get(step.status, ' ')} {step.path} [{step.action}] "
                f"{step.status} in {step.duration_ms:,.0f} ms")
        print(line + (f": {step.summary}" if step.summary else ""))
        errors = error_lines(indent, step.status, step.error_code, step.error_message,
                             step.error_hint)
        shown_error = shown_error or bool(errors)
        for text in errors:
            print(text)
    if not shown_error and (record.error_code or record.error_message):
        print(f"  error: {record.error_code}: {record.error_message}")
        if record.error_hint:
            print(f"  hint: {record.error_hint}")
