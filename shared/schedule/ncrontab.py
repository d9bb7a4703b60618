"""NCRONTAB expressions: parse and validate them, write them back, find their next wall times.

NCRONTAB (what Azure Functions timers take) has six fields, ``sec min hour day month
weekday``; a 5-field cron gets a leading "0" seconds field. Day and weekday are combined
with AND, as NCRONTAB (and so Azure) does, not with classic cron's OR. Everything here is
about naive wall-clock times; time zones are ``zones.py``'s job.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from ..errors import KustoFlowsError

__all__ = [
    "CronFields",
    "ScheduleError",
    "compact_field",
    "next_wall_time",
    "parse_fields",
    "to_ncrontab",
]

# Searching further than this for a matching date means the expression never matches.
_SEARCH_YEARS = 400


class ScheduleError(KustoFlowsError, code="FlowInvalid", http_status=422):
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
_MAX_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class CronFields:
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

    def any_day(self) -> CronFields:
        """The same times of day, on every day (for questions about time of day only)."""
        full = tuple(tuple(range(sp.lo, sp.hi + 1)) for sp in _SPECS[3:])
        return dataclasses.replace(
            self,
            values=self.values[:3] + full,
            sets=self.sets[:3] + tuple(frozenset(v) for v in full),
            texts=self.texts[:3] + ("*", "*", "*"),
        )


# --- parsing -------------------------------------------------------------------------------


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
        text = compact_field(raw, 0, 6)
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
def parse_fields(expression: str) -> CronFields:
    """Parse a 6-field NCRONTAB expression (raises ScheduleError when it is invalid)."""
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
    return CronFields(
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
    return parse_fields(" ".join(parts)).expression


# --- writing a field -----------------------------------------------------------------------


def compact_field(values: set[int] | frozenset[int], lo: int, hi: int) -> str:
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


# --- matching wall times -------------------------------------------------------------------


def _first_time(f: CronFields, floor: tuple[int, int, int]) -> tuple[int, int, int] | None:
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


def next_wall_time(f: CronFields, start: datetime) -> datetime | None:
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
