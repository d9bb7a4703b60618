"""Time zones: names, UTC offsets, DST transitions, and the UTC timer for a local schedule.

Azure Functions timers on Linux fire in UTC, so a schedule in a local zone is registered
with a UTC NCRONTAB (``utc_timer_expression``) that fires at every instant the local
schedule can run in any season of the year, and sometimes more often; the handler filters.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .ncrontab import CronFields, ScheduleError, compact_field, next_wall_time, parse_fields

__all__ = [
    "canonical_zone",
    "gap_skips_a_slot",
    "next_transition",
    "utc_offset",
    "utc_timer_expression",
    "wall_time",
]


def canonical_zone(name: str) -> str:
    """Validate an IANA time zone name; return it in its canonical spelling."""
    if not isinstance(name, str):
        raise ScheduleError(
            f"time zone must be text like 'Europe/Paris', not {type(name).__name__}"
        )
    name = name.strip()
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, available_timezones(), n=1, cutoff=0.8)
        example = close[0] if close else "Europe/Paris"
        raise ScheduleError(
            f"unknown time zone '{name}' (use an IANA name such as {example})"
        ) from None
    return name


def utc_offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    """The zone's UTC offset at an aware instant."""
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def wall_time(instant: datetime, offset: timedelta) -> datetime:
    """The naive local wall-clock time of a UTC instant at a given UTC offset."""
    return (instant + offset).replace(tzinfo=None)


@lru_cache(maxsize=256)
def _transitions(zone: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """The UTC instants in `year` at which `zone` changes its UTC offset.

    zoneinfo has no public list of transitions, so scan in 6-hour steps and bisect each
    change to the second (real zones never change twice within 6 hours).
    """
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    found = []
    t, offset = start, utc_offset(zone, start)
    while t < end:
        n = min(t + timedelta(hours=6), end)
        if utc_offset(zone, n) != offset:
            lo, hi = 0, int((n - t).total_seconds())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if utc_offset(zone, t + timedelta(seconds=mid)) == offset:
                    lo = mid
                else:
                    hi = mid
            found.append(t + timedelta(seconds=hi))
        t, offset = n, utc_offset(zone, n)
    return tuple(found)


def next_transition(zone: ZoneInfo, after: datetime) -> datetime | None:
    """The zone's first change of UTC offset after `after` (this year or next), if any."""
    for year in (after.year, after.year + 1):
        for t in _transitions(zone, year):
            if t > after:
                return t
    return None


def gap_skips_a_slot(
    f: CronFields, instant: datetime, before: timedelta, after: timedelta
) -> bool:
    """Whether a slot of `f` falls in the wall times that a spring-forward gap skips.

    The gap ends at `instant`, where the offset moves from `before` to `after` (> before).
    """
    slot = next_wall_time(f, wall_time(instant, before))
    return slot is not None and slot < wall_time(instant, after)


@lru_cache(maxsize=256)
def utc_timer_expression(expression: str, timezone: str, year: int) -> str:
    """The UTC NCRONTAB that fires whenever the local `expression` can run in `year` or next.

    It uses the zone's offsets of both years; when an offset moves a slot across midnight,
    weekdays are shifted and restricted day or month fields widened to '*'.
    """
    f = parse_fields(expression)
    zone = ZoneInfo(timezone)
    start = datetime(year, 1, 1, tzinfo=UTC)
    transitions = _transitions(zone, year) + _transitions(zone, year + 1)
    offsets = {utc_offset(zone, start)} | {utc_offset(zone, t) for t in transitions}
    if offsets == {timedelta(0)}:
        return expression

    secs, mins, hours = set(f.sets[0]), set(), set()
    day_shifts: set[int] = set()
    for offset in offsets:
        whole, rest = divmod(int(offset.total_seconds()), 60)
        # A sub-minute offset (only in old LMT data) moves seconds: widen them.
        shifts = (whole, whole + 1) if rest else (whole,)
        if rest:
            secs = set(range(60))
        for shift in shifts:
            for h in f.values[2]:
                for m in f.values[1]:
                    day, minute_of_day = divmod(h * 60 + m - shift, 24 * 60)
                    hours.add(minute_of_day // 60)
                    mins.add(minute_of_day % 60)
                    day_shifts.add(day)

    if len(f.values[2]) < 24:
        # Slots skipped by a spring-forward gap run at the gap's end (see Schedule.should_run),
        # so the timer must fire then too. Judged on time of day only, so other years are
        # covered.
        times_of_day = f.any_day()
        before = utc_offset(zone, start)
        for t in transitions:
            after = utc_offset(zone, t)
            if after > before and gap_skips_a_slot(times_of_day, t, before, after):
                secs.add(t.second)
                mins.add(t.minute)
                hours.add(t.hour)
                day_shifts.add((t.date() - wall_time(t, before).date()).days)
            before = after

    texts = list(f.texts)
    if secs != f.sets[0]:
        texts[0] = compact_field(secs, 0, 59)
    if mins != f.sets[1]:
        texts[1] = compact_field(mins, 0, 59)
    if hours != f.sets[2]:
        texts[2] = compact_field(hours, 0, 23)
    if day_shifts != {0}:
        # The UTC date differs from the local one: weekdays shift with it, and day/month
        # are widened (the handler's should_run filters).
        weekdays = {(w + d) % 7 for w in f.sets[5] for d in day_shifts}
        if weekdays != f.sets[5]:
            texts[5] = compact_field(weekdays, 0, 6)
        if len(f.sets[3]) < 31 or len(f.sets[4]) < 12:
            texts[3] = texts[4] = "*"
    return " ".join(texts)
