"""`python -m shared ...`: run, validate, schema, schedule, runs, resubmit.

A thin shell over the same loader and runner the Functions app uses.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import RunResult, RunStatus, StepResult, StepStatus
from .settings import Settings

if TYPE_CHECKING:
    from .runs import RunRecord, RunStore
    from .service import FlowService

__all__ = ["main"]

_ICONS = {StepStatus.SUCCEEDED: "✔", StepStatus.FAILED: "✖", StepStatus.SKIPPED: "–",
          StepStatus.TIMED_OUT: "⧗"}
_RUN_ICONS = {RunStatus.SUCCEEDED: "✔", RunStatus.FAILED: "✖", RunStatus.TIMED_OUT: "⧗",
              RunStatus.RUNNING: "…", RunStatus.ABANDONED: "?"}
_PROG = "python -m shared"
_STATUSES = "failed, succeeded, timedout, abandoned or running"


def _error_lines(indent: str, status: str, code: str, message: str, hint: str) -> list[str]:
    """A step's error under its line: not for skipped steps, nor for a container that
    failed only because a step inside it did (that step shows its own)."""
    if not (code or message) or status == StepStatus.SKIPPED or code == "NestedStepFailed":
        return []
    lines = [f"  {indent}    {code}: {message}"]
    if hint:
        lines.append(f"  {indent}    hint: {hint}")
    return lines


class _Progress:
    """Prints each step as it starts and ends."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self._started: dict[str, float] = {}

    def run_started(self, run: RunResult) -> None:
        print(f"▶ {run.flow}  run {run.run_id}  ({run.trigger_kind})", file=self.out, flush=True)

    def step_started(self, run: RunResult, path: str, action: str) -> None:
        depth = path.count(".")
        print(f"  {'  ' * depth}… {path} [{action}]", file=self.out, flush=True)

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        depth = step.path.count(".")
        line = (f"  {'  ' * depth}{_ICONS[step.status]} {step.path} {step.status} "
                f"in {step.duration_ms:,.0f} ms")
        if step.summary:
            line += f": {step.summary}"
        print(line, file=self.out, flush=True)
        if step.error:
            for text in _error_lines("  " * depth, step.status, step.error.code,
                                     step.error.message, step.error.hint):
                print(text, file=self.out, flush=True)

    def run_finished(self, run: RunResult) -> None:
        counts: dict[str, int] = {}
        for step in run.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        parts = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
        print(f"■ {run.flow} {run.status} in {run.duration_ms / 1000:,.2f} s ({parts})",
              file=self.out, flush=True)


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from .loader import FlowFileInvalid, load_connections, load_flow, load_folder

    target = Path(args.path or settings.flows_dir)
    if target.is_dir():
        result = load_folder(target)
        for problem in result.all_problems:
            print(problem, file=sys.stderr)
        print(f"{len(result.flows)} valid flow(s), {len(result.problems)} file(s) with problems")
        return 0 if result.ok else 1
    connections, problems = load_connections(target.parent / "connections.yaml")
    try:
        load_flow(target, connections)
    except FlowFileInvalid as exc:
        problems += exc.problems
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{target}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from .model import Flow

    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(schema, indent=2))
    return 0


def _cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from .loader import load_folder
    from .schedule import effective_schedule, parse_schedule

    result = load_folder(Path(args.path or settings.flows_dir))
    now = datetime.now(UTC)
    for name, loaded in sorted(result.flows.items()):
        expression, note = effective_schedule(loaded.flow, settings)
        if expression is None:
            continue
        schedule = parse_schedule(expression, loaded.flow.trigger.timezone)
        state = "" if loaded.flow.enabled else " (disabled)"
        print(f"{name}{state}: {schedule.describe()}  [{schedule.expression}]{note}")
        if schedule.timezone != "UTC":
            print(f"    Azure timer (UTC): {schedule.utc_timer_expression()}")
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(schedule.timezone)
        for moment in schedule.next_times(now, args.count):
            local = moment.astimezone(zone)
            text = f"    {moment:%Y-%m-%d %H:%M:%S} UTC"
            if schedule.timezone != "UTC":
                text += f"   {local:%Y-%m-%d %H:%M:%S} {schedule.timezone}"
            print(text)
    for problem in result.all_problems:
        print(problem, file=sys.stderr)
    return 0 if result.ok else 1


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from .loader import FlowFileInvalid, find_flow, load_connections, load_flow
    from .runner import Runner, Trigger
    from .service import open_observers

    folder = settings.flows_dir
    try:
        path = find_flow(args.flow, folder)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    connections, problems = load_connections(path.parent / "connections.yaml")
    try:
        loaded = load_flow(path, connections)
    except FlowFileInvalid as exc:
        problems += exc.problems
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        body = json.loads(args.body) if args.body else None
    except json.JSONDecodeError as exc:
        print(f"--body is not valid JSON: {exc}", file=sys.stderr)
        return 2
    observers = [_Progress(sys.stdout), *open_observers(settings)]
    runner = Runner(settings, connections, observers)
    run = runner.run(loaded.flow, Trigger(kind="manual", body=body))
    _print_previews(run)
    return 0 if run.status == "Succeeded" else 1


def _print_previews(run: RunResult) -> None:
    for step in run.steps:
        preview = step.outputs.get("preview") if step.outputs else None
        if preview:
            print(f"  e-mail preview: {Path(preview).resolve()}")
            print(f"  e-mail (.eml):  {Path(step.outputs['eml']).resolve()}")


# ------------------------------------------------------------------ run history

@contextmanager
def _service(settings: Settings) -> Iterator[FlowService]:
    """The flow catalog and the run store (closed after)."""
    from .loader import load_folder
    from .runs import open_run_store
    from .service import FlowService

    store = open_run_store(settings)
    try:
        yield FlowService(settings, load_folder(settings.flows_dir), store)
    finally:
        store.close()


def _moment(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _duration(record: RunRecord) -> str:
    if record.ended_at is None:
        return "–"
    ms = record.duration_ms
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _status(status: RunStatus) -> str:
    return f"{_RUN_ICONS.get(status, ' ')} {status}"


def _status_arg(text: str) -> str:
    from .runs.records import parse_status

    try:
        status = parse_status(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if status is None:
        raise argparse.ArgumentTypeError("give a status: " + _STATUSES)
    return str(status)


def _top_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError("--top must be a number from 1 to 1000")
    return int(text)


def _flow_name(target: str, service: FlowService) -> str:
    """FLOW as given: a flow name, or the path of a flow file in the folder."""
    if Path(target).suffix in (".yaml", ".yml"):
        for name, loaded in service.catalog.flows.items():
            if Path(loaded.path).resolve() == Path(target).resolve():
                return name
        return Path(target).stem
    return target


def _encode_all_token(status: str | None, positions: dict[str, str | None]) -> str:
    raw = json.dumps({"all": positions, "s": status}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_all_token(token: str, status: str | None) -> dict[str, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4))
                                                   .encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise ValueError("invalid continuation token") from exc
    if isinstance(data, dict) and isinstance(data.get("f"), str) and "all" not in data:
        raise ValueError(f"this continuation token pages the runs of one flow: run "
                         f"`runs {data['f']} --continuation ...`")
    positions = data.get("all") if isinstance(data, dict) else None
    if not isinstance(positions, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str))
            for k, v in positions.items()):
        raise ValueError("invalid continuation token")
    if data.get("s") != status:
        raise ValueError("continuation token was issued for another --status filter")
    return positions


def _all_runs(store: RunStore, names: list[str], top: int, status: str | None,
              continuation: str | None) -> tuple[list[RunRecord], str | None]:
    """The newest *top* runs of all *names* merged, newest first, and the token of the
    next page. The token keeps each flow's own position: for a flow whose page was
    shown only in part, one more read of just the shown runs gives the position
    after them."""
    positions = (dict.fromkeys(names) if continuation is None
                 else _decode_all_token(continuation, status))
    pages = {name: store.list_runs(name, top=top, status=status, continuation=position)
             for name, position in positions.items()}
    # Each page is newest first and the sort is stable, so what is shown of each
    # flow is always the start of its page.
    merged = sorted(((name, record) for name, page in pages.items() for record in page.items),
                    key=lambda item: item[1].started_at, reverse=True)[:top]
    shown: dict[str, int] = {}
    for name, _ in merged:
        shown[name] = shown.get(name, 0) + 1
    following: dict[str, str | None] = {}
    for name, page in pages.items():
        count = shown.get(name, 0)
        if count == len(page.items):
            if page.continuation is not None:
                following[name] = page.continuation
        elif count == 0:
            following[name] = positions[name]
        else:
            following[name] = store.list_runs(name, top=count, status=status,
                                              continuation=positions[name]).continuation
    token = _encode_all_token(status, following) if following else None
    return [record for _, record in merged], token


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())


def _cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from .runs import RunStoreUnavailable

    with _service(settings) as service:
        flow = _flow_name(args.flow, service) if args.flow else None
        names = service.flow_names()
        try:
            if flow is not None:
                page = service.store.list_runs(flow, top=args.top, status=args.status,
                                               continuation=args.continuation)
                records, token = page.items, page.continuation
            else:
                records, token = _all_runs(service.store, names, args.top, args.status,
                                           args.continuation)
        except RunStoreUnavailable as exc:
            print(exc, file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"--continuation: {exc}", file=sys.stderr)
            return 2
    if flow is not None and flow not in names and not records and not args.continuation:
        print(f"no flow named '{flow}' in {settings.flows_dir}, and no runs of it in the "
              "history", file=sys.stderr)
        return 1
    if not records:
        what = f"{args.status.lower()} runs" if args.status else "runs"
        print(f"no {what} of {f'flow {flow!r}' if flow else 'any flow'}"
              + (" on this page" if args.continuation else ""))
    else:
        header = ["START (UTC)", "DURATION", "STATUS", "TRIGGER", "FAILING STEP", "RUN ID"]
        if flow is None:
            header.insert(0, "FLOW")
        rows = [header]
        for record in records:
            failing = record.failing_step
            if failing and record.error_code:
                failing += f" ({record.error_code})"
            row = [_moment(record.started_at), _duration(record), _status(record.status),
                   record.trigger, failing or "-", record.run_id]
            if flow is None:
                row.insert(0, record.flow)
            rows.append(row)
        _print_table(rows)
    if token:
        command = [*_PROG.split(), "runs", *([args.flow] if args.flow else [])]
        if args.status:
            command += ["--status", args.status.lower()]
        command += ["--top", str(args.top), "--continuation", token]
        print(f"next page: {shlex.join(command)}")
    return 0


def _split_run_ref(text: str) -> tuple[str | None, str]:
    """RUN_ID or FLOW/RUN_ID."""
    flow, _, run_id = text.strip().rpartition("/")
    return (flow or None), run_id


def _find(service: FlowService, ref: str) -> Any:
    """(record, steps) of the run *ref* names, or None after saying why on stderr
    (no such run, or a run store that cannot be read)."""
    from .runs import RunStoreUnavailable

    flow, run_id = _split_run_ref(ref)
    try:
        found = service.find_run(run_id, flow) if run_id else None
    except RunStoreUnavailable as exc:
        print(exc, file=sys.stderr)
        return None
    if found is None:
        if flow:
            where = f"flow '{flow}'"
        else:
            where = (f"any of the {len(service.flow_names())} flow(s) in "
                     f"{service.settings.flows_dir} (for a flow no longer there, give "
                     "FLOW/RUN_ID)")
        print(f"no run '{run_id}' in the run history of {where}", file=sys.stderr)
    return found


def _cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    with _service(settings) as service:
        found = _find(service, args.run_id)
    if found is None:
        return 1
    record, steps = found
    print(f"run {record.run_id} of flow {record.flow}")
    fields = [("status", _status(record.status)), ("trigger", record.trigger),
              ("started", f"{_moment(record.started_at)} UTC"),
              ("duration", _duration(record))]
    if record.resubmitted_from:
        fields.append(("resubmitted from", record.resubmitted_from))
    if record.failing_step:
        fields.append(("failing step", record.failing_step))
    if record.trigger_body_truncated:
        fields.append(("trigger body", "too large to keep: this run cannot be resubmitted"))
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        print(f"  {(name + ':').ljust(width)} {value}")
    shown_error = False
    print(f"steps ({len(steps)}):" if steps else "steps: none recorded")
    for step in steps:
        indent = "  " * step.path.count(".")
        line = (f"  {indent}{_ICONS.get(step.status, ' ')} {step.path} [{step.action}] "
                f"{step.status} in {step.duration_ms:,.0f} ms")
        if step.summary:
            line += f": {step.summary}"
        print(line)
        errors = _error_lines(indent, step.status, step.error_code, step.error_message,
                              step.error_hint)
        shown_error = shown_error or bool(errors)
        for text in errors:
            print(text)
    if not shown_error and (record.error_code or record.error_message):
        print(f"  error: {record.error_code}: {record.error_message}")
        if record.error_hint:
            print(f"  hint: {record.error_hint}")
    return 0


def _cmd_resubmit(args: argparse.Namespace, settings: Settings) -> int:
    from .runner import Trigger
    from .runs import TriggerBodyUnavailable

    with _service(settings) as service:
        found = _find(service, args.run_id)
        if found is None:
            return 1
        record, _ = found
        try:
            body = record.resubmit_body()
        except TriggerBodyUnavailable as exc:
            print(exc, file=sys.stderr)
            return 1
        if service.flow(record.flow) is None:
            print(f"run {record.run_id} cannot be resubmitted: flow '{record.flow}' is not "
                  f"a valid flow in {settings.flows_dir} now", file=sys.stderr)
            for problem in service.problems_for(record.flow):
                print(problem, file=sys.stderr)
            return 1
        print(f"resubmitting run {record.run_id} of {record.flow} ({record.status}, "
              f"{_moment(record.started_at)} UTC) with its trigger body")
        service.extra_observers.append(_Progress(sys.stdout))
        run = service.run(record.flow, Trigger(kind="resubmit", body=body),
                          resubmitted_from=record.run_id, chain=False)
    _print_previews(run)
    return 0 if run.status == RunStatus.SUCCEEDED else 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_PROG,
                                     description="Kusto Flows: run and check flow files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a flow now and show each step")
    run.add_argument("flow", help="flow name or path to its .yaml")
    run.add_argument("--body", help="JSON given to the flow as trigger.body")
    run.set_defaults(handler=_cmd_run)
    validate = sub.add_parser("validate", help="check flow files; exit 1 on any problem")
    validate.add_argument("path", nargs="?", help="a flow file or folder (default: flows/)")
    validate.set_defaults(handler=_cmd_validate)
    schema = sub.add_parser("schema", help="print the JSON Schema of a flow file")
    schema.set_defaults(handler=_cmd_schema)
    schedule = sub.add_parser("schedule", help="next fire times of each scheduled flow")
    schedule.add_argument("path", nargs="?", help="flows folder (default: flows/)")
    schedule.add_argument("--count", type=int, default=3)
    schedule.set_defaults(handler=_cmd_schedule)
    runs = sub.add_parser(
        "runs", help="run history: a table of runs, newest first",
        description="A table of runs, newest first: start (UTC), duration, status, "
        "trigger, failing step (with its error code) and run id. Without FLOW, the runs "
        "of every flow in the flows folder are merged into one list, newest first: "
        "--top counts runs overall, not per flow.",
        epilog=f"One run and its steps: {_PROG} runs show RUN_ID. "
        f"(To list a flow that is named 'show': {_PROG} runs -- show.)")
    runs.add_argument("flow", nargs="?", metavar="FLOW",
                      help="only this flow's runs (a flow name)")
    runs.add_argument("--status", type=_status_arg, metavar="STATUS",
                      help=f"only runs with this status: {_STATUSES}")
    runs.add_argument("--top", type=_top_arg, default=20, metavar="N",
                      help="runs per page, 1 to 1000 (default: 20)")
    runs.add_argument("--continuation", metavar="TOKEN",
                      help="the next page: the token printed under the previous page "
                      "(give the same FLOW and --status)")
    runs.set_defaults(handler=_cmd_runs)
    show = sub.add_parser(
        "runs show", help="one run and its steps, with each failed step's error",
        description="One run: flow, status, trigger, start, duration, the run it "
        "resubmits, and each step with its status, duration, summary and, for a failed "
        "step, the error code, message and hint. Exit 1 when there is no such run.")
    show.add_argument("run_id", metavar="RUN_ID",
                      help="a run id (looked up in every flow of the flows folder), or "
                      "FLOW/RUN_ID (also finds runs of a flow no longer in the folder)")
    show.set_defaults(handler=_cmd_runs_show)
    resubmit = sub.add_parser(
        "resubmit", help="run a recorded run's flow again with the same trigger body",
        description="Runs the flow of RUN_ID again with the same trigger body (trigger "
        "kind 'resubmit'), records the new run as resubmitted from RUN_ID and shows "
        "each step, like `run`. As with `run`, flows chained after it (trigger.after) "
        "are not started. Exit 1 when the run is unknown, its body was too large to "
        "keep, or the new run does not succeed.")
    resubmit.add_argument("run_id", metavar="RUN_ID", help="a run id, or FLOW/RUN_ID")
    resubmit.set_defaults(handler=_cmd_resubmit)
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
