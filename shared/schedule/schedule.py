"""The ``Schedule`` of a flow: a validated NCRONTAB in a time zone, its runs and its UTC timer.

Fire times are computed here with zoneinfo rather than croniter, so that the DST rules in
the class docstring are ours and are tested, not inherited (croniter, for one, runs a
fixed local time twice on the day the clocks go back).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .ncrontab import CronFields, next_wall_time, parse_fields, to_ncrontab
from .words import in_words
from .zones import (
    canonical_zone,
    gap_skips_a_slot,
    next_transition,
    utc_offset,
    utc_timer_expression,
    wall_time,
)

__all__ = ["LATENESS", "Schedule", "parse_schedule"]

# A timer may fire late; a slot up to this long before the firing still counts.
LATENESS = timedelta(seconds=59)
_SECOND = timedelta(seconds=1)


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse and validate a flow trigger's ``schedule`` and ``timezone``."""
    return Schedule(text, timezone)


def _aware_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: a normalized 6-field NCRONTAB expression in an IANA time zone.

    DST rules, for schedules whose hour field is restricted (e.g. "daily at 02:30"):

    - a local time that occurs twice (autumn fall-back) runs once, at its first occurrence;
    - a local time that does not occur (spring-forward gap) runs once, at the first instant
      after the gap (03:00 CEST for 02:30 in Paris), as Vixie cron does. Several skipped
      slots run together, once.

    Schedules that fire every hour (hour field ``*``) follow the local clock instead, as
    Vixie cron does for wildcard jobs: they run in both passes of a repeated hour, and in a
    skipped hour there is nothing to catch up, since they keep running every hour anyway.
    """

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "expression", to_ncrontab(self.expression))
        object.__setattr__(self, "timezone", canonical_zone(self.timezone))

    @property
    def _fields(self) -> CronFields:
        return parse_fields(self.expression)

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def _follows_clock(self) -> bool:
        return len(self._fields.values[2]) == 24

    def describe(self) -> str:
        """The schedule in words, e.g. "every day at 07:00 (Europe/Paris)"."""
        return in_words(self.expression, self.timezone)

    def next_times(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` run instants strictly after `after`, as aware UTC datetimes."""
        start = _aware_utc(after, "after").replace(microsecond=0) + _SECOND
        times: list[datetime] = []
        for t in self._runs_from(start):
            if len(times) >= count:
                break
            times.append(t)
        return times

    def runs_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Run instants t with start < t <= end, as aware UTC datetimes (e.g. to catch up)."""
        first = _aware_utc(start, "start").replace(microsecond=0) + _SECOND
        last = _aware_utc(end, "end")
        times: list[datetime] = []
        for t in self._runs_from(first):
            if t > last:
                break
            times.append(t)
        return times

    def utc_timer_expression(self, *, now: datetime | None = None) -> str:
        """The 6-field NCRONTAB, in UTC, to register the Azure Functions timer with.

        It fires at every instant the local schedule can run, using the zone's UTC offsets
        and DST transitions of the year of `now` (default: today) and the next. It may fire
        more often, e.g. at 05:00 and 06:00 UTC for 07:00 in Paris; `should_run` filters.
        When the offset moves a slot across midnight, weekdays are shifted and restricted
        day or month fields widened to '*'.
        """
        year = _aware_utc(now, "now").year if now is not None else datetime.now(UTC).year
        return utc_timer_expression(self.expression, self.timezone, year)

    def should_run(self, fired_at: datetime) -> bool:
        """Whether the timer firing at `fired_at` (aware) is one of this schedule's runs.

        The firing is matched to the last tick of `utc_timer_expression()` at or up to 59
        seconds before it (timers fire late; `fired_at` is first rounded to the second, as
        they also fire a few milliseconds early), and that tick must be a run instant of the
        local schedule under the DST rules in the class docstring. So a repeated local time
        runs only at its first occurrence and a time lost to a spring-forward gap runs once
        at the gap's end; within one tick's window nothing runs twice.
        """
        ref = (_aware_utc(fired_at, "fired_at") + timedelta(milliseconds=500)).replace(
            microsecond=0
        )
        timer = parse_fields(self.utc_timer_expression(now=ref))
        tick = ref
        while tick >= ref - LATENESS:
            if timer.matches(tick.replace(tzinfo=None)):
                return self._runs_at(tick)
            tick -= _SECOND
        return False

    def _runs_at(self, instant: datetime) -> bool:
        """Whether the schedule runs at this whole-second UTC instant."""
        f, zone = self._fields, self._zone
        local = instant.astimezone(zone)
        if f.matches(local.replace(tzinfo=None)):
            return self._follows_clock or local.fold == 0
        if self._follows_clock:
            return False
        before = utc_offset(zone, instant - _SECOND)
        after = local.utcoffset()
        assert after is not None
        if after <= before:
            return False
        # `instant` ends a spring-forward gap: run if a slot fell in the skipped wall times.
        return gap_skips_a_slot(f, instant, before, after)

    def _runs_from(self, start: datetime) -> Iterator[datetime]:
        """Run instants (UTC, ascending) at or after the whole-second UTC instant `start`.

        Walks the zone's constant-offset stretches; within one, wall time is UTC plus the
        offset, so matching wall times map straight to instants.
        """
        f, zone, follows_clock = self._fields, self._zone, self._follows_clock
        last: datetime | None = None
        u = start
        while u.year < 9990:
            offset = utc_offset(zone, u)
            transition = next_transition(zone, u)
            end = transition or datetime(u.year + 2, 1, 1, tzinfo=UTC)
            wall = next_wall_time(f, wall_time(u, offset))
            if wall is None:
                return
            while wall < wall_time(end, offset):
                t = (wall - offset).replace(tzinfo=UTC)
                if t != last and (follows_clock or t.astimezone(zone).fold == 0):
                    yield t
                    last = t
                nxt = next_wall_time(f, wall + _SECOND)
                if nxt is None:
                    return
                wall = nxt
            if transition is not None and not follows_clock:
                after = utc_offset(zone, transition)
                if after > offset and transition != last and gap_skips_a_slot(
                    f, transition, offset, after
                ):
                    yield transition
                    last = transition
            u = end
