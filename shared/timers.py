"""What the Functions app's timers do: one timer per scheduled flow, plus the daily
run-history cleanup.

Azure Functions timers on Linux fire in UTC. A flow scheduled in a time zone gets a
UTC timer that fires at every instant its local schedule can match across DST
offsets (`Schedule.utc_timer_expression`), and the handler runs the flow only when
the local schedule really matches (`Schedule.should_run`): 07:00 Europe/Paris runs
once a day at 07:00 local time, summer and winter.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .schedule import Schedule, ScheduleError, effective_schedule, parse_schedule

if TYPE_CHECKING:
    from .results import RunResult
    from .service import FlowService

__all__ = ["CLEANUP_SCHEDULE", "TimerSpec", "cleanup_runs", "run_scheduled", "scheduled_flows",
           "timer_function_name"]

log = logging.getLogger(__name__)

#: How late a timer may fire and still count for its tick (a cold start on a consumption
#: plan can take a while); a firing later than this is checked against its own time.
MAX_TIMER_LATENESS = timedelta(minutes=10)

#: The run-history retention cleanup: daily at 03:30 UTC.
CLEANUP_SCHEDULE = "0 30 3 * * *"


@dataclass(frozen=True)
class TimerSpec:
    function_name: str
    flow: str
    #: What the timer is registered with: NCRONTAB in UTC.
    utc_schedule: str
    schedule: Schedule


def timer_function_name(flow_name: str) -> str:
    """A stable, valid Azure function name: `storm-daily-report` -> `flow_storm_daily_report`.

    Stable because the portal's per-function switch (`AzureWebJobs.<name>.Disabled`)
    and its history are keyed by it.
    """
    return "flow_" + re.sub(r"[^A-Za-z0-9_]", "_", flow_name)


def scheduled_flows(service: FlowService) -> list[TimerSpec]:
    """A timer for every enabled flow with a (valid) schedule, portal overrides applied.
    Read from each flow's head, so a start from the flow cache reads no flow again."""
    specs: list[TimerSpec] = []
    for name, loaded in sorted(service.catalog.flows.items()):
        flow = loaded.head
        expression, note = effective_schedule(flow, service.settings)
        if not flow.enabled or not expression:
            continue
        try:
            schedule = parse_schedule(expression, flow.trigger.timezone)
        except ScheduleError as exc:  # validated on load; an override is checked above
            log.error("flow %s has no timer: %s", name, exc)
            continue
        if note:
            log.info("flow %s:%s", name, note)
        specs.append(TimerSpec(timer_function_name(name), name,
                               schedule.utc_timer_expression(), schedule))
    return specs


def run_scheduled(service: FlowService, spec: TimerSpec, *, past_due: bool = False,
                  fired_at: datetime | None = None) -> RunResult | None:
    """Run the flow if this firing is one of its local-time slots; None when it is not."""
    fired_at = fired_at or datetime.now(UTC)
    if past_due:
        log.warning("timer of flow %s is past due (fired at %s); running it now", spec.flow,
                    fired_at.isoformat())
    # A UTC schedule's timer is the schedule itself: every firing runs, however late.
    tick = timer_tick(spec, fired_at)
    if spec.schedule.timezone != "UTC" and not spec.schedule.should_run(tick):
        log.info("flow %s: the %s UTC tick is not a slot of %s; not run", spec.flow,
                 tick.isoformat(), spec.schedule.describe())
        return None
    return service.run_scheduled(spec.flow, spec.schedule, tick, fired_at)


def timer_tick(spec: TimerSpec, fired_at: datetime) -> datetime:
    """The UTC timer tick a firing is for: the last one at or before it (a timer may
    also fire a few milliseconds early), within MAX_TIMER_LATENESS; else *fired_at* to
    the second (its window then ends there)."""
    timer = parse_schedule(spec.utc_schedule)
    ticks = timer.runs_between(fired_at - MAX_TIMER_LATENESS, fired_at + timedelta(seconds=1))
    return ticks[-1] if ticks else fired_at.replace(microsecond=0)


def cleanup_runs(service: FlowService) -> int:
    """Delete run records older than RUNS_RETENTION_DAYS; returns how many went."""
    deleted = service.cleanup_history()
    log.info("run history cleanup: %d run(s) older than %s days deleted", deleted,
             service.settings.runs_retention_days)
    return deleted
