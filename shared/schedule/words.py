"""A schedule in words, for people: "every day at 07:00 (Europe/Paris)".

Common shapes (times of day, every n minutes or hours, weekdays, days of the month,
months) are spelled out; anything else falls back to "cron <expression>".
"""

from __future__ import annotations

import calendar

from .ncrontab import CronFields, parse_fields

__all__ = ["in_words"]

_MONTH_NAMES = tuple(calendar.month_name)  # "", "January", ...
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def in_words(expression: str, timezone: str = "UTC") -> str:
    """A normalized 6-field NCRONTAB expression in words, with its zone unless it is UTC."""
    f = parse_fields(expression)
    when, days = _describe_time(f), _describe_days(f)
    if when is None or days is None:
        text = f"cron {expression}"
    elif not days:
        text = f"every day {when}" if when.startswith("at ") else when
    else:
        text = f"{when} {days}"
    return text if timezone == "UTC" else f"{text} ({timezone})"


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


def _describe_time(f: CronFields) -> str | None:
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


def _describe_days(f: CronFields) -> str | None:
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
