"""Scheduled runs carry `trigger.window` (previous tick -> this tick) so consecutive runs
cover time exactly once: missed ticks are caught up in order up to `trigger.catch_up`
(older ones recorded as one gap), and a tick that fires twice runs once.

Why: Azure timers miss ticks across restarts and deploys and sometimes fire twice; an
alert or an aggregate that reads `ago(1h)` then counts some hours twice and others never.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.schedule import parse_schedule
from shared.service import FlowService
from shared.state.local import LocalStateStore
from shared.timers import run_scheduled, scheduled_flows
from shared.windows import Window, plan_windows
from tests.helpers import settings_for, write_flow

HOURLY = parse_schedule("0 0 * * * *")
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_the_first_tick_covers_the_hour_before_it_and_the_next_one_follows_on(
        tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.sqlite")
    first = plan_windows(store, "f", HOURLY, T0, catch_up=0)
    assert first.windows == [Window(T0 - HOUR, T0)] and first.gap is None
    second = plan_windows(store, "f", HOURLY, T0 + HOUR, catch_up=0)
    assert second.windows == [Window(T0, T0 + HOUR)]


def test_a_tick_that_fires_twice_is_a_duplicate(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.sqlite")
    plan_windows(store, "f", HOURLY, T0, catch_up=0)
    assert plan_windows(store, "f", HOURLY, T0, catch_up=0).duplicate
    assert plan_windows(store, "f", HOURLY, T0 - HOUR, catch_up=0).duplicate  # late, older


def test_missed_ticks_are_caught_up_in_order_up_to_catch_up_the_rest_a_gap(
        tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.sqlite")
    plan_windows(store, "two", HOURLY, T0, catch_up=2)
    caught = plan_windows(store, "two", HOURLY, T0 + 3 * HOUR, catch_up=2)
    assert caught.windows == [Window(T0, T0 + HOUR), Window(T0 + HOUR, T0 + 2 * HOUR),
                              Window(T0 + 2 * HOUR, T0 + 3 * HOUR)]
    assert caught.gap is None
    plan_windows(store, "none", HOURLY, T0, catch_up=0)
    late = plan_windows(store, "none", HOURLY, T0 + 3 * HOUR, catch_up=0)
    assert late.windows == [Window(T0 + 2 * HOUR, T0 + 3 * HOUR)]
    assert late.gap == Window(T0, T0 + 2 * HOUR) and late.missed_windows == 2


def test_after_a_long_outage_the_missed_time_is_one_gap_and_only_now_runs(
        tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.sqlite")
    plan_windows(store, "f", HOURLY, T0, catch_up=5)
    later = T0 + timedelta(days=60)
    plan = plan_windows(store, "f", HOURLY, later, catch_up=5)
    assert plan.windows == [Window(later - HOUR, later)]
    assert plan.gap == Window(T0, later - HOUR) and plan.missed_windows is None


WINDOWED = """\
    trigger: {schedule: "0 0 * * * *", catch_up: 2}
    steps:
      - id: q
        action: kusto.query
        connection: samples
        query: |
          declare query_parameters(start:datetime, end:datetime);
          print start = start, end = end
        parameters: {start: "{{ trigger.window.start }}", end: "{{ trigger.window.end }}"}
    """


def fire(service: FlowService, at: datetime) -> None:
    [spec] = scheduled_flows(service)
    run_scheduled(service, spec, fired_at=at + timedelta(seconds=2))


def windows_run(service: FlowService) -> list[tuple[Any, ...]]:
    page = service.store.list_runs("windowed", top=50)  # type: ignore[union-attr]
    found = []
    for record in reversed(page.items):
        _, steps = service.get_run("windowed", record.run_id)
        found.append((str(record.status), record.error_code, steps[0].summary if steps
                      else ""))
    return found


def test_a_timer_that_skips_two_ticks_then_fires_runs_three_adjacent_windows(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path, flows_dir=tmp_path / "flows")
    write_flow(tmp_path / "flows", "windowed", WINDOWED)
    with FlowService.load(settings) as service:
        ran = []
        original = service.runner

        def spy(observers: Any = ()) -> Any:
            runner = original(observers)
            run = runner.run

            def capture(flow: Any, trigger: Any = None, **kwargs: Any) -> Any:
                result = run(flow, trigger, **kwargs)
                ran.append((trigger.window["start"], trigger.window["end"],
                            result.steps[0].outputs["rows"][0]))
                return result
            runner.run = capture  # type: ignore[method-assign]
            return runner

        service.runner = spy  # type: ignore[method-assign]
        fire(service, T0)
        fire(service, T0 + 3 * HOUR)  # the ticks at 11:00 and 12:00 were missed
        fire(service, T0 + 3 * HOUR)  # ... and 13:00 fires twice
        assert [(s, e) for s, e, _ in ran] == [
            (T0 - HOUR, T0), (T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR),
            (T0 + 2 * HOUR, T0 + 3 * HOUR)]
        # The query saw exactly its window, as datetime parameters.
        assert [(r["start"], r["end"]) for _, _, r in ran] == [(s, e) for s, e, _ in ran]
        statuses = [(status, code) for status, code, _ in windows_run(service)]
        assert statuses == [("Succeeded", "")] * 4 + [("Skipped", "DuplicateTick")]
