"""`alerts` and `backtest`: the state of every alert key, and a flow's schedule
replayed over past windows with nothing sent or written."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from ..alerts.backtest import BacktestResult, backtest
from ..alerts.machine import AlertState
from ..errors import KustoFlowsError
from ..service import FlowService
from ..settings import Settings
from .format import print_table
from .parsing import new_command
from .run import print_problems

__all__ = ["add_commands", "last_value", "parse_moment"]


def add_commands(sub: Any) -> None:
    alerts = new_command(
        sub, "alerts", cmd_alerts, "alert state: each key that is firing or pending",
        "Each key of the flows' `alert` steps that is firing or pending (breached, not "
        "enough times yet to fire): flow, step, key, state, since when (UTC), how many "
        "evaluations, its last value. Keys that are fine keep no state and are not listed.")
    alerts.add_argument("flow", nargs="?", metavar="FLOW", help="only this flow's alerts")
    alerts.add_argument("--json", action="store_true", help="as JSON, as the HTTP API answers")
    replay = new_command(
        sub, "backtest", cmd_backtest,
        "replay a flow's schedule over past windows, sending and writing nothing",
        "Runs FLOW once per tick of its schedule from --from to --to, each run with the "
        "window previous tick -> this tick as trigger.window, in order. Steps that write "
        "(mail, commands, uploads, HTTP) are not run; alert state is kept in memory for "
        "the backtest only. Prints, per alert key, when it would have fired, repeated and "
        "resolved, and the totals. Exit 0 when it ran, even if windows failed (listed).")
    replay.add_argument("flow", metavar="FLOW", help="a flow with a schedule")
    replay.add_argument("--from", dest="start", required=True, type=parse_moment,
                        metavar="WHEN", help="first tick: 2007-01-01 or 2007-01-01T06:00 "
                        "(UTC unless an offset is given)")
    replay.add_argument("--to", dest="end", type=parse_moment, metavar="WHEN",
                        help="last tick (default: now)")
    replay.add_argument("--json", action="store_true", help="the result as JSON")


def parse_moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a date or date and time such as 2007-01-01 or "
            "2007-01-01T06:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def last_value(state: AlertState, limit: int = 60) -> str:
    """The key's last row without its key columns: `Damage=250000, Events=2`."""
    row = state.row if isinstance(state.row, dict) else {}
    text = ", ".join(f"{name}={value}" for name, value in row.items() if name not in state.key)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    with FlowService.load(settings) as service:
        try:
            found = service.alert_states(args.flow)
        except KustoFlowsError as exc:
            print(exc, file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"alerts": [{"flow": flow, "step": step, **state.to_dict()}
                                     for flow, step, state in found]}, indent=2))
        return 0
    if not found:
        print(f"no alert of {f'flow {args.flow!r}' if args.flow else 'any flow'} is firing "
              "or pending")
        return 0
    rows = [["FLOW", "STEP", "KEY", "STATE", "SINCE (UTC)", "EVALUATIONS", "LAST VALUE"]]
    for flow, step, state in found:
        rows.append([flow, step, state.label, state.status,
                     f"{state.since.astimezone(UTC):%Y-%m-%d %H:%M}", str(state.evaluations),
                     last_value(state) or "-"])
    print_table(rows)
    return 0


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    end = args.end or datetime.now(UTC)
    with FlowService.load(settings) as service:
        try:
            result = backtest(service, args.flow, args.start, end)
        except KustoFlowsError as exc:
            print_problems(exc)
            return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_backtest(result)
    return 0


def _when(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"


def print_backtest(result: BacktestResult) -> None:
    totals = result.totals()
    print(f"Backtest of {result.flow}: {totals['windows']} windows of its schedule "
          f"({result.schedule}), {_when(result.start)} to {_when(result.end)} UTC, "
          f"in {result.elapsed_seconds:.1f} s. Nothing was sent or written.")
    timeline = result.timeline()
    if not timeline:
        print("\nNo alert would have fired.")
    for entry in timeline:
        print(f"\n{entry['label']}  ({entry['step']})")
        for change in entry["changes"]:
            since = change["since"]
            detail = (f"breaching since {_when(since)}" if change["change"] != "resolved"
                      else f"after {change['evaluations']} evaluation(s)")
            print(f"  {_when(change['at'])}  {change['change']:<9} {detail}")
    skipped = ", ".join(f"{action} ×{count}" for action, count in
                        sorted(totals["skipped_steps"].items()))
    print(f"\nTotals: {totals['fired']} fired, {totals['repeated']} repeated, "
          f"{totals['resolved']} resolved; {totals['notifications']} step(s) that send or "
          f"write would have run{f' ({skipped})' if skipped else ''}.")
    failures = result.failures()
    if failures:
        print(f"{len(failures)} window(s) failed:")
        for failure in failures:
            print(f"  {_when(failure['end'])}  {failure['status']} at {failure['step'] or '-'}: "
                  f"{failure['code']}: {failure['message']}")
