"""`validate`, `build-cache`, `schema`, `schedule` and `actions`: commands about flow
files, which read no run history and run nothing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..loader import (
    CONNECTIONS_FILE,
    FlowFileInvalid,
    build_shipped_cache,
    load_connections,
    load_flow,
    load_folder,
)
from ..schedule import effective_schedule, parse_schedule
from ..settings import Settings
from ..steps import REGISTRY
from .parsing import new_command

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    validate = new_command(sub, "validate", cmd_validate,
                           "check flow files; exit 1 on any problem")
    validate.add_argument("path", nargs="?", help="a flow file or folder (default: flows/)")
    build = new_command(
        sub, "build-cache", cmd_build_cache,
        "check a flows folder and write its shipped cache (run before packaging a deployment)",
        "Reads and checks every flow file of the folder, prints the problems as `validate` "
        "does and writes FOLDER/.flow-cache.json: each valid file's SHA-256 and head "
        "(name, switch, schedule, zone). The Functions app starts from it on a new "
        "instance instead of reading every flow; a file changed after this command is read "
        "as usual. Exits 0 even when files have problems: those are not cached, and the "
        "app reports them at start as it would without the cache.")
    build.add_argument("path", nargs="?", help="flows folder (default: flows/)")
    new_command(sub, "schema", cmd_schema, "print the JSON Schema of a flow file")
    new_command(sub, "actions", cmd_actions, "print the table of actions (as in the README)")
    schedule = new_command(sub, "schedule", cmd_schedule,
                           "next fire times of each scheduled flow")
    schedule.add_argument("path", nargs="?", help="flows folder (default: flows/)")
    schedule.add_argument("--count", type=int, default=3)


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


def cmd_build_cache(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.path or settings.flows_dir)
    if not folder.is_dir():
        print(f"{folder}: not a folder", file=sys.stderr)
        return 2
    try:
        file, result = build_shipped_cache(folder)
    except OSError as exc:
        print(f"the shipped flow cache was not written: {exc}", file=sys.stderr)
        return 1
    for problem in result.all_problems:
        print(problem, file=sys.stderr)
    invalid = (f"; {len(result.problems)} file(s) with problems, read and reported at start"
               if result.problems else "")
    print(f"{file}: {len(result.flows)} valid flow(s){invalid}")
    return 0


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
