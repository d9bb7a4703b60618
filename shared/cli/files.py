"""`validate`, `schema`, `schedule` and `actions`: commands about flow files, which
read no run history and run nothing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..loader import CONNECTIONS_FILE, FlowFileInvalid, load_connections, load_flow, load_folder
from ..schedule import effective_schedule, parse_schedule
from ..settings import Settings
from ..steps import REGISTRY

__all__ = ["cmd_actions", "cmd_schedule", "cmd_schema", "cmd_validate"]


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    target = Path(args.path or settings.flows_dir)
    if target.is_dir():
        result = load_folder(target)
        for problem in result.all_problems:
            print(problem, file=sys.stderr)
        print(f"{len(result.flows)} valid flow(s), {len(result.problems)} file(s) with problems")
        return 0 if result.ok else 1
    connections, problems = load_connections(target.parent / CONNECTIONS_FILE)
    try:
        load_flow(target, connections)
    except FlowFileInvalid as exc:
        problems += exc.problems
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{target}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(REGISTRY.json_schema(), indent=2))
    return 0


def cmd_actions(args: argparse.Namespace, settings: Settings) -> int:
    print(REGISTRY.markdown_table())
    return 0


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
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
        zone = ZoneInfo(schedule.timezone)
        for moment in schedule.next_times(now, args.count):
            text = f"    {moment:%Y-%m-%d %H:%M:%S} UTC"
            if schedule.timezone != "UTC":
                text += f"   {moment.astimezone(zone):%Y-%m-%d %H:%M:%S} {schedule.timezone}"
            print(text)
    for problem in result.all_problems:
        print(problem, file=sys.stderr)
    return 0 if result.ok else 1
