"""`python -m shared ...`: run, validate, schema, schedule, runs, resubmit.

A thin shell over the same loader and runner the Functions app uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .results import RunResult, StepResult, StepStatus
from .settings import Settings

__all__ = ["main"]

_ICONS = {StepStatus.SUCCEEDED: "✔", StepStatus.FAILED: "✖", StepStatus.SKIPPED: "–",
          StepStatus.TIMED_OUT: "⧗"}


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
        if step.error and step.status != StepStatus.SKIPPED and step.error.code != \
                "NestedStepFailed":
            print(f"  {'  ' * depth}    {step.error.code}: {step.error.message}",
                  file=self.out, flush=True)
            if step.error.hint:
                print(f"  {'  ' * depth}    hint: {step.error.hint}", file=self.out, flush=True)

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
    from .schedule import parse_schedule
    from .scheduling import effective_schedule

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
    for step in run.steps:
        preview = step.outputs.get("preview") if step.outputs else None
        if preview:
            print(f"  e-mail preview: {Path(preview).resolve()}")
            print(f"  e-mail (.eml):  {Path(step.outputs['eml']).resolve()}")
    return 0 if run.status == "Succeeded" else 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared",
                                     description="Kusto Flows: run and check flow files.")
    sub = parser.add_subparsers(dest="command", required=True)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return int(args.handler(args, settings))
