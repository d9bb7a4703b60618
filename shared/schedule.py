"""Flow schedules: parse, validate, describe and compute NCRONTAB schedules in a local time zone.

A flow's trigger says when it runs in its own time zone (``schedule: 0 0 7 * * *`` plus
``timezone: Europe/Paris``), but Azure Functions timers on Linux fire in UTC. So a schedule
gives two things to the Functions app:

- ``utc_timer_expression()``: the UTC NCRONTAB to register the timer with. It fires at every
  instant the local schedule can run in any season, and sometimes more often.
- ``should_run(fired_at)``: the handler's filter, true exactly at the local schedule's slots.

Fields are NCRONTAB's six (sec min hour day month weekday); a 5-field cron gets a leading
"0" seconds field. Day and weekday are combined with AND, as NCRONTAB (and so Azure) does,
not with classic cron's OR. Fire times are computed here with zoneinfo rather than croniter,
so that the DST rules below are ours and are tested, not inherited.
"""

from __future__ import annotations

import calendar
import dataclasses
import difflib
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["Schedule", "ScheduleError", "parse_schedule", "to_ncrontab"]

# A timer may fire late; a slot up to this long before the firing still counts.
LATENESS = timedelta(seconds=59)
_SECOND = timedelta(seconds=1)
# Searching further than this for a matching date means the expression never matches.
_SEARCH_YEARS = 400


class ScheduleError(ValueError):
    """A schedule or time zone a user wrote is invalid; the message says what to change."""


@dataclass(frozen=True)
class _Spec:
    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = ()  # names[i] means lo + i (month: JAN=1; weekday: SUN=0)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_SPECS = (
    _Spec("second", 0, 59),
    _Spec("minute", 0, 59),
    _Spec("hour", 0, 23),
    _Spec("day", 1, 31),
    _Spec("month", 1, 12, _MONTHS),
    _Spec("weekday", 0, 6, _WEEKDAYS),  # 7 is accepted as Sunday too
)
_ITEM = re.compile(r"(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/(\w*))?")
_MONTH_NAMES = tuple(calendar.month_name)  # "", "January", ...
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MAX_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class _Fields:
    """A parsed 6-field expression: per field, its values (sorted) and its normalized text."""

    values: tuple[tuple[int, ...], ...]
    sets: tuple[frozenset[int], ...]
    texts: tuple[str, ...]

    @property
    def expression(self) -> str:
        return " ".join(self.texts)

    def matches(self, wall: datetime) -> bool:
        s = self.sets
        return (
            wall.second in s[0]
            and wall.minute in s[1]
            and wall.hour in s[2]
            and wall.day in s[3]
            and wall.month in s[4]
            and wall.isoweekday() % 7 in s[5]
        )

    def any_day(self) -> _Fields:
        """The same times of day, on every day (for questions about time of day only)."""
        full = tuple(tuple(range(sp.lo, sp.hi + 1)) for sp in _SPECS[3:])
        return dataclasses.replace(
            self,
            values=self.values[:3] + full,
            sets=self.sets[:3] + tuple(frozenset(v) for v in full),
            texts=self.texts[:3] + ("*", "*", "*"),
        )


def _value(spec: _Spec, token: str, weekday_end: bool = False) -> int:
    if token.isdigit():
        value = int(token)
    elif spec.names and token.upper() in spec.names:
        value = spec.lo + spec.names.index(token.upper())
        if weekday_end and value == 0:
            value = 7  # "FRI-SUN" ends on Sunday
    elif spec.names:
        first, last = spec.names[0], spec.names[-1]
        raise ScheduleError(
            f"{spec.name} field '{token}' is not a number or a {spec.name} name ({first}..{last})"
        )
    else:
        raise ScheduleError(f"{spec.name} field '{token}' is not a number")
    hi = 7 if spec.name == "weekday" else spec.hi
    if not spec.lo <= value <= hi:
        extra = " (7 also means Sunday)" if spec.name == "weekday" else ""
        raise ScheduleError(
            f"{spec.name} field '{token}' is out of range {spec.lo}-{spec.hi}{extra}"
        )
    return value


def _parse_item(spec: _Spec, item: str) -> tuple[set[int], str]:
    """One list item: '*', 'a', 'a-b', each optionally '/step'. Returns values and its text."""
    m = _ITEM.fullmatch(item)
    if m is None:
        odd = next((c for c in "?#LW" if c in item.upper()), None)
        if odd:
            raise ScheduleError(
                f"{spec.name} field '{item}' uses '{odd}', which NCRONTAB does not support"
            )
        raise ScheduleError(
            f"{spec.name} field '{item}' is not a number, a range like 1-5, "
            "a list like 1,15 or a step like */5"
        )
    star, first, last, step_text = m.groups()
    step = 1
    if step_text is not None:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ScheduleError(
                f"{spec.name} field '{item}' needs a whole-number step of 1 or more after '/'"
            )
        step = int(step_text)
    if star:
        if step > spec.hi - spec.lo:
            raise ScheduleError(
                f"{spec.name} field '{item}' has a step larger than its range {spec.lo}-{spec.hi}"
            )
        return set(range(spec.lo, spec.hi + 1, step)), item
    a = _value(spec, first)
    if last is None and step_text is None:
        raw, text = {a}, first.upper()
    elif last is None:  # "a/n" means a to the end of the range, every n
        raw, text = set(range(a, spec.hi + 1, step)), f"{a}-{spec.hi}/{step}"
    else:
        b = _value(spec, last, weekday_end=True)
        if a > b:
            raise ScheduleError(
                f"{spec.name} field '{item}' runs backwards; put the smaller value first, "
                "or split it into two ranges"
            )
        raw, text = set(range(a, b + 1, step)), item.upper()
    if spec.name == "weekday" and 7 in raw:
        # NCRONTAB's weekdays are 0-6, so write Sunday as 0.
        raw = {v % 7 for v in raw}
        text = _compact(raw, 0, 6)
    return raw, text


def _parse_field(spec: _Spec, text: str) -> tuple[frozenset[int], str]:
    values: set[int] = set()
    texts = []
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{spec.name} field '{text}' has an empty list item")
        item_values, item_text = _parse_item(spec, item)
        values |= item_values
        texts.append(item_text)
    return frozenset(values), ",".join(texts)


@lru_cache(maxsize=512)
def _parse_fields(expression: str) -> _Fields:
    parts = expression.split()
    assert len(parts) == 6, expression
    parsed = [_parse_field(spec, part) for spec, part in zip(_SPECS, parts, strict=True)]
    sets = tuple(values for values, _ in parsed)
    days, months = sets[3], sets[4]
    if not any(day <= _MAX_DAYS[month] for day in days for month in months):
        raise ScheduleError(
            f"day field '{parts[3]}' never occurs in month field '{parts[4]}', "
            "so the schedule would never run"
        )
    return _Fields(
        values=tuple(tuple(sorted(values)) for values in sets),
        sets=sets,
        texts=tuple(text for _, text in parsed),
    )


def to_ncrontab(text: str) -> str:
    """Validate a 6-field NCRONTAB or 5-field cron expression; return it as normalized NCRONTAB.

    A 5-field cron gets a "0" seconds field in front. Normalizing collapses whitespace,
    upper-cases month and weekday names and rewrites the forms NCRONTAB does not take
    (weekday 7, ``a/n``) into ones it does.
    """
    if not isinstance(text, str):
        raise ScheduleError(f"schedule must be text like '0 0 7 * * *', not {type(text).__name__}")
    parts = text.split()
    if len(parts) == 1 and parts[0].startswith("@"):
        raise ScheduleError(
            f"'{parts[0]}' shortcuts are not supported; write the fields, e.g. '0 0 7 * * *'"
        )
    if len(parts) == 5:
        parts = ["0", *parts]
    elif len(parts) != 6:
        raise ScheduleError(
            "expected 6 fields (sec min hour day month weekday) or 5 (min hour day month "
            f"weekday), got {len(parts)}"
        )
    return _parse_fields(" ".join(parts)).expression


def _zone_name(name: str) -> str:
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


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse and validate a flow trigger's ``schedule`` and ``timezone``."""
    return Schedule(text, timezone)


# --- time zone helpers -------------------------------------------------------------------


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _wall(instant: datetime, offset: timedelta) -> datetime:
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
    t, offset = start, _offset(zone, start)
    while t < end:
        n = min(t + timedelta(hours=6), end)
        if _offset(zone, n) != offset:
            lo, hi = 0, int((n - t).total_seconds())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, t + timedelta(seconds=mid)) == offset:
                    lo = mid
                else:
                    hi = mid
            found.append(t + timedelta(seconds=hi))
        t, offset = n, _offset(zone, n)
    return tuple(found)


def _next_transition(zone: ZoneInfo, after: datetime) -> datetime | None:
    for year in (after.year, after.year + 1):
        for t in _transitions(zone, year):
            if t > after:
                return t
    return None


# --- matching ------------------------------------------------------------------------------


def _first_time(f: _Fields, floor: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """The earliest (hour, minute, second) of the schedule at or after `floor`, same day."""
    secs, mins, hours = f.values[0], f.values[1], f.values[2]
    fh, fm, fs = floor
    for h in hours[bisect_left(hours, fh) :]:
        if h > fh:
            return h, mins[0], secs[0]
        for m in mins[bisect_left(mins, fm) :]:
            if m > fm:
                return h, m, secs[0]
            i = bisect_left(secs, fs)
            if i < len(secs):
                return h, m, secs[i]
    return None


def _next_wall(f: _Fields, start: datetime) -> datetime | None:
    """The first naive wall-clock time at or after `start` that the fields match."""
    start_date = start.date()
    floor = (start.hour, start.minute, start.second)
    months, days, weekdays = f.values[4], f.values[3], f.sets[5]
    for year in range(start.year, min(start.year + _SEARCH_YEARS, 9998) + 1):
        for month in months:
            if (year, month) < (start.year, start.month):
                continue
            last_day = calendar.monthrange(year, month)[1]
            for day in days:
                if day > last_day:
                    break
                d = date(year, month, day)
                if d < start_date or d.isoweekday() % 7 not in weekdays:
                    continue
                t = _first_time(f, floor if d == start_date else (0, 0, 0))
                if t is not None:
                    return datetime(year, month, day, *t)
    return None


# --- rendering -----------------------------------------------------------------------------


def _compact(values: set[int] | frozenset[int], lo: int, hi: int) -> str:
    """The shortest usual NCRONTAB text for a set of values: '*', '*/n', 'a-b', 'a,b'."""
    v = sorted(values)
    if len(v) == hi - lo + 1:
        return "*"
    if len(v) >= 3:
        step = v[1] - v[0]
        if step > 1 and all(b - a == step for a, b in zip(v, v[1:], strict=False)):
            if v[0] == lo and v[-1] + step > hi:
                return f"*/{step}"
            return f"{v[0]}-{v[-1]}/{step}"
    parts: list[str] = []
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[j + 1] == v[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{v[i]}-{v[j]}")
        else:
            parts.extend(str(x) for x in v[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _runs_of(order: list[int], values: frozenset[int]) -> list[list[int]]:
    """Consecutive runs (in `order`) of the members of `values`."""
    runs: list[list[int]] = []
    for i, v in enumerate(order):
        if v not in values:
            continue
        if runs and order.index(runs[-1][-1]) == i - 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return runs


def _spell(order: list[int], values: frozenset[int], name: dict[int, str], sep: str) -> str | None:
    words = []
    for run in _runs_of(order, values):
        if len(run) >= 3:
            words.append(f"{name[run[0]]}{sep}{name[run[-1]]}")
        else:
            words.extend(name[v] for v in run)
    return _join(words) if len(words) <= 5 else None


def _step_from_zero(values: tuple[int, ...], size: int) -> int | None:
    """n when the values are exactly 0, n, 2n, ... covering a field of `size` evenly."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1]
    if size % step or len(values) != size // step:
        return None
    return step if all(v == i * step for i, v in enumerate(values)) else None


def _progression(values: tuple[int, ...]) -> int | None:
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    ok = all(b - a == step for a, b in zip(values, values[1:], strict=False))
    return step if ok else None


def _describe_time(f: _Fields) -> str | None:
    secs, mins, hours = f.values[0], f.values[1], f.values[2]
    if len(secs) != 1:
        if len(mins) == 60 and len(hours) == 24:
            if len(secs) == 60:
                return "every second"
            step = _step_from_zero(secs, 60)
            if step:
                return f"every {step} seconds"
        return None
    s = secs[0]

    def clock(h: int, m: int) -> str:
        return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")

    if len(hours) == 24:
        if len(mins) == 60:
            return "every minute" + (f" at second {s}" if s else "")
        if s:
            return None
        step = _step_from_zero(mins, 60)
        if step:
            return f"every {step} minutes"
        if mins == (0,):
            return "every hour on the hour"
        if len(mins) <= 4:
            label = "minute" if len(mins) == 1 else "minutes"
            return f"every hour at {label} {_join([str(m) for m in mins])}"
        return None
    if len(hours) * len(mins) <= 4:
        return "at " + _join([clock(h, m) for h in hours for m in mins])
    if s:
        return None
    hour_step = _progression(hours)
    if len(mins) == 1 and hour_step:
        m = mins[0]
        every = "every hour" if hour_step == 1 else f"every {hour_step} hours"
        if _step_from_zero(hours, 24):
            return every + (f" at minute {m}" if m else "")
        return f"{every} from {clock(hours[0], m)} to {clock(hours[-1], m)}"
    minute_step = 1 if len(mins) == 60 else _step_from_zero(mins, 60)
    if minute_step and hour_step == 1:
        every = "every minute" if minute_step == 1 else f"every {minute_step} minutes"
        return f"{every} from {clock(hours[0], 0)} to {clock(hours[-1], mins[-1])}"
    return None


def _describe_days(f: _Fields) -> str | None:
    days, months, weekdays = f.sets[3], f.sets[4], f.sets[5]
    parts = []
    if len(weekdays) < 7:
        monday_first = [1, 2, 3, 4, 5, 6, 0]
        spelled = _spell(monday_first, weekdays, dict(enumerate(_DAY_NAMES)), " through ")
        if spelled is None:
            return None
        parts.append(f"on {spelled}")
    if len(days) < 31:
        spelled = _spell(list(range(1, 32)), days, {d: str(d) for d in range(1, 32)}, "-")
        if spelled is None:
            return None
        if parts:
            parts.append(f"when the day of the month is {spelled}")
        else:
            parts.append(f"on {'day' if len(days) == 1 else 'days'} {spelled} of the month")
    if len(months) < 12:
        spelled = _spell(list(range(1, 13)), months, dict(enumerate(_MONTH_NAMES)), " through ")
        if spelled is None:
            return None
        parts.append(f"in {spelled}")
    return " ".join(parts)


# --- the UTC timer -----------------------------------------------------------------------


@lru_cache(maxsize=256)
def _utc_timer(expression: str, timezone: str, year: int) -> str:
    f = _parse_fields(expression)
    zone = ZoneInfo(timezone)
    start = datetime(year, 1, 1, tzinfo=UTC)
    transitions = _transitions(zone, year) + _transitions(zone, year + 1)
    offsets = {_offset(zone, start)} | {_offset(zone, t) for t in transitions}
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
        # Slots skipped by a spring-forward gap run at the gap's end (see should_run), so the
        # timer must fire then too. Judged on time of day only, so other years are covered.
        times_of_day = f.any_day()
        before = _offset(zone, start)
        for t in transitions:
            after = _offset(zone, t)
            if after > before:
                gap_start, gap_end = _wall(t, before), _wall(t, after)
                slot = _next_wall(times_of_day, gap_start)
                if slot is not None and slot < gap_end:
                    secs.add(t.second)
                    mins.add(t.minute)
                    hours.add(t.hour)
                    day_shifts.add((t.date() - gap_start.date()).days)
            before = after

    texts = list(f.texts)
    if secs != f.sets[0]:
        texts[0] = _compact(secs, 0, 59)
    if mins != f.sets[1]:
        texts[1] = _compact(mins, 0, 59)
    if hours != f.sets[2]:
        texts[2] = _compact(hours, 0, 23)
    if day_shifts != {0}:
        # The UTC date differs from the local one: weekdays shift with it, and day/month
        # are widened (the handler's should_run filters).
        weekdays = {(w + d) % 7 for w in f.sets[5] for d in day_shifts}
        if weekdays != f.sets[5]:
            texts[5] = _compact(weekdays, 0, 6)
        if len(f.sets[3]) < 31 or len(f.sets[4]) < 12:
            texts[3] = texts[4] = "*"
    return " ".join(texts)


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
        object.__setattr__(self, "timezone", _zone_name(self.timezone))

    @property
    def _fields(self) -> _Fields:
        return _parse_fields(self.expression)

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def _follows_clock(self) -> bool:
        return len(self._fields.values[2]) == 24

    def describe(self) -> str:
        """The schedule in words, e.g. "every day at 07:00 (Europe/Paris)"."""
        f = self._fields
        when, days = _describe_time(f), _describe_days(f)
        if when is None or days is None:
            text = f"cron {self.expression}"
        elif not days:
            text = f"every day {when}" if when.startswith("at ") else when
        else:
            text = f"{when} {days}"
        return text if self.timezone == "UTC" else f"{text} ({self.timezone})"

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
        return _utc_timer(self.expression, self.timezone, year)

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
        timer = _parse_fields(self.utc_timer_expression(now=ref))
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
        before = _offset(zone, instant - _SECOND)
        after = local.utcoffset()
        assert after is not None
        if after <= before:
            return False
        # `instant` ends a spring-forward gap: run if a slot fell in the skipped wall times.
        slot = _next_wall(f, _wall(instant, before))
        return slot is not None and slot < _wall(instant, after)

    def _runs_from(self, start: datetime) -> Iterator[datetime]:
        """Run instants (UTC, ascending) at or after the whole-second UTC instant `start`.

        Walks the zone's constant-offset stretches; within one, wall time is UTC plus the
        offset, so matching wall times map straight to instants.
        """
        f, zone, follows_clock = self._fields, self._zone, self._follows_clock
        last: datetime | None = None
        u = start
        while u.year < 9990:
            offset = _offset(zone, u)
            transition = _next_transition(zone, u)
            end = transition or datetime(u.year + 2, 1, 1, tzinfo=UTC)
            wall = _next_wall(f, _wall(u, offset))
            if wall is None:
                return
            while wall < _wall(end, offset):
                t = (wall - offset).replace(tzinfo=UTC)
                if t != last and (follows_clock or t.astimezone(zone).fold == 0):
                    yield t
                    last = t
                nxt = _next_wall(f, wall + _SECOND)
                if nxt is None:
                    return
                wall = nxt
            if transition is not None and not follows_clock:
                after = _offset(zone, transition)
                if after > offset and transition != last:
                    slot = _next_wall(f, _wall(transition, offset))
                    if slot is not None and slot < _wall(transition, after):
                        yield transition
                        last = transition
            u = end
