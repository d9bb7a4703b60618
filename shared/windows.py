"""The time a scheduled run covers: `trigger.window` = previous tick -> this tick, so
consecutive runs cover time exactly once when they pass it as query parameters.

Azure timers miss ticks (host restarts, deploys) and sometimes fire twice. At each
tick, the flow's last window end (kept in the state store) says what happened since:

- the same end again: a duplicate tick, recorded `Skipped`;
- ticks missed since then: their windows are run in order, oldest first, up to
  `trigger.catch_up` of them before the current one; older ones are recorded as a gap.

The window end is claimed when the tick fires (a write that fails if another instance
wrote first), not when its run ends: so a second fire is known as a duplicate even
while the first run still waits in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .schedule import Schedule
from .state import StateStore

__all__ = ["MAX_CATCH_UP_SPAN", "Window", "WindowPlan", "plan_windows", "previous_tick"]

_SCOPE = "window"
#: Past this long without a window, the missed time is one gap, not ticks to list.
MAX_CATCH_UP_SPAN = timedelta(days=31)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def context(self, timezone: str) -> dict[str, Any]:
        """`trigger.window`: start and end in UTC (datetimes: they go to Kusto as
        datetime parameters), and in the flow's time zone."""
        zone = ZoneInfo(timezone)
        return {"start": self.start, "end": self.end, "timezone": timezone,
                "start_local": self.start.astimezone(zone),
                "end_local": self.end.astimezone(zone)}


@dataclass(frozen=True)
class WindowPlan:
    #: The windows to run now, oldest first (empty for a duplicate tick).
    windows: list[Window] = field(default_factory=list)
    #: Missed time not caught up (beyond `catch_up`), as one span; None when none.
    gap: Window | None = None
    #: How many windows the gap holds (None: too many to count).
    missed_windows: int | None = 0
    duplicate: bool = False


def previous_tick(schedule: Schedule, tick: datetime) -> datetime:
    """The schedule's run before *tick* (searched back up to a year)."""
    for days in (1, 8, 32, 370):
        ticks = schedule.runs_between(tick - timedelta(days=days), tick - timedelta(seconds=1))
        if ticks:
            return ticks[-1]
    return tick - timedelta(days=1)


def plan_windows(store: StateStore, flow: str, schedule: Schedule, tick: datetime,
                 catch_up: int) -> WindowPlan:
    """Claim the window ending at *tick* and say which windows to run."""
    current = store.read(_SCOPE, flow)
    last_end = datetime.fromisoformat(current.value["end"]) if current else None
    if last_end is not None and last_end >= tick:
        return WindowPlan(duplicate=True)
    claimed = store.write(_SCOPE, flow, {"end": tick.isoformat()},
                          version=current.version if current else None)
    if not claimed:  # another instance took this tick first
        return WindowPlan(duplicate=True)
    before = previous_tick(schedule, tick)
    if last_end is None or last_end >= before:
        return WindowPlan([Window(last_end or before, tick)])
    if tick - last_end > MAX_CATCH_UP_SPAN:  # a long outage: one gap, the current window
        return WindowPlan([Window(before, tick)], Window(last_end, before), None)
    ends = [t for t in schedule.runs_between(last_end, tick) if t < tick] + [tick]
    windows = [Window(s, e) for s, e in zip([last_end, *ends[:-1]], ends, strict=True)]
    missed, windows = windows[:-(catch_up + 1)], windows[-(catch_up + 1):]
    gap = Window(missed[0].start, missed[-1].end) if missed else None
    return WindowPlan(windows, gap, len(missed))
