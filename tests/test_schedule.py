"""Flow schedules: validation, descriptions, fire times and the UTC timer across DST.

Why: a flow says "07:00 in Europe/Paris" but Azure Functions timers fire in UTC, twice a
year the local clock jumps, and a report that silently does not go out (or goes out twice)
is the worst failure a scheduler has. So besides the parser's error messages and the
descriptions users read, these tests simulate the Azure timer over the whole of 2026: it
fires at every instant its UTC expression matches (enumerated by croniter, which is
independent of our code and exact in UTC), and the handler's filter must then let through
exactly one run per local day, at the local time asked for, DST switch days included.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from shared.schedule import Schedule, ScheduleError, parse_schedule, to_ncrontab

ROOT = Path(__file__).resolve().parents[1]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS_2026 = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def timer_ticks(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """Every instant in [start, end) at which an Azure timer with this UTC NCRONTAB fires."""
    it = croniter(
        expression,
        (start - timedelta(seconds=1)).replace(tzinfo=None),
        ret_type=datetime,
        day_or=False,  # NCRONTAB ANDs day and weekday
        second_at_beginning=True,
    )
    ticks = []
    while (tick := it.get_next().replace(tzinfo=UTC)) < end:
        ticks.append(tick)
    return ticks


def simulate_2026(schedule: Schedule) -> list[datetime]:
    """The instants, around local 2026, at which the timer fires and the handler runs."""
    start, end = utc(2025, 12, 30), utc(2027, 1, 2)
    timer = schedule.utc_timer_expression(now=YEAR_START)
    runs = [t for t in timer_ticks(timer, start, end) if schedule.should_run(t)]
    # The filter and the fire-time calculation must agree with each other.
    assert runs == schedule.runs_between(start - timedelta(seconds=1), end - timedelta(seconds=1))
    return runs


def by_local_day(runs: list[datetime], timezone: str) -> dict[date, list[datetime]]:
    days: dict[date, list[datetime]] = defaultdict(list)
    for run in runs:
        local = run.astimezone(ZoneInfo(timezone))
        if local.year == 2026:
            days[local.date()].append(local)
    return days


# --- parsing and validation -------------------------------------------------------------


def test_a_five_field_cron_is_converted_to_ncrontab() -> None:
    assert to_ncrontab("30 6 * * 1-5") == "0 30 6 * * 1-5"
    assert to_ncrontab("  0 0 7 * * *  ") == "0 0 7 * * *"
    assert parse_schedule("*/5 * * * *").expression == "0 */5 * * * *"


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("0 0 7 * * *", "0 0 7 * * *"),
        ("0 0 9-17 * * *", "0 0 9-17 * * *"),
        ("0 0,30 8,12,18 * * *", "0 0,30 8,12,18 * * *"),
        ("0 0 8-18/2 * * *", "0 0 8-18/2 * * *"),
        ("0 0 7 1 jan,Jul *", "0 0 7 1 JAN,JUL *"),
        ("0 30 9 * * mon-fri", "0 30 9 * * MON-FRI"),
        ("0 0 9 * * 7", "0 0 9 * * 0"),
        ("0 0 9 * * FRI-SUN", "0 0 9 * * 0,5,6"),
        ("0 5/15 * * * *", "0 5-59/15 * * * *"),
    ],
)
def test_every_field_syntax_is_accepted_and_normalized_for_ncrontab(
    text: str, normalized: str
) -> None:
    assert to_ncrontab(text) == normalized


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 7 * * *",
        "0 */5 * * * *",
        "0 30 6 * * 1-5",
        "0 0 9 1-7 * MON",
        "15 10,40 8-18/2 * * *",
        "0 0 12 29 2 *",
        "0 0 0 1 JAN-MAR,OCT *",
    ],
)
def test_fire_times_in_utc_agree_with_croniter(expression: str) -> None:
    schedule = parse_schedule(expression)
    start = utc(2026, 1, 1)
    ours = schedule.next_times(start, count=25)
    theirs = croniter(
        expression,
        start.replace(tzinfo=None),
        ret_type=datetime,
        day_or=False,
        second_at_beginning=True,
    )
    assert ours == [theirs.get_next().replace(tzinfo=UTC) for _ in range(25)]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("60 0 7 * * *", "second"),
        ("0 61 7 * * *", "minute"),
        ("0 0 25 * * *", "hour"),
        ("0 0 x * * *", "hour"),
        ("0 0 17-9 * * *", "hour"),
        ("0 0 1,,2 * * *", "hour"),
        ("0 0 7 32 * *", "day"),
        ("0 0 7 0 * *", "day"),
        ("0 0 7 L * *", "day"),
        ("0 0 7 ? * *", "day"),
        ("0 0 7 31 2 *", "day"),
        ("0 0 7 * 13 *", "month"),
        ("0 0 7 * JANUARY *", "month"),
        ("0 0 7 * * 8", "weekday"),
        ("0 0 7 * * FUNDAY", "weekday"),
        ("0 0 7 * * 1#2", "weekday"),
        ("0 0 7 * * 1-", "weekday"),
        ("0 */0 * * * *", "minute"),
        ("0 */60 * * * *", "minute"),
        ("0 0 */x * * *", "hour"),
        ("0 0 MON * * *", "hour"),
    ],
)
def test_every_bad_field_gives_a_schedule_error_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(ScheduleError, match=rf"\b{field} field '"):
        parse_schedule(text)


def test_an_out_of_range_value_says_which_field_and_what_range() -> None:
    with pytest.raises(ScheduleError) as error:
        parse_schedule("0 0 25 * * *")
    assert str(error.value) == "hour field '25' is out of range 0-23"


@pytest.mark.parametrize(("text", "count"), [("0 0 7 *", 4), ("", 0), ("0 0 7 * * * *", 7)])
def test_a_wrong_number_of_fields_says_what_is_expected(text: str, count: int) -> None:
    with pytest.raises(ScheduleError) as error:
        to_ncrontab(text)
    assert str(error.value) == (
        "expected 6 fields (sec min hour day month weekday) or 5 (min hour day month "
        f"weekday), got {count}"
    )


def test_cron_shortcuts_like_daily_are_refused_with_a_hint() -> None:
    with pytest.raises(ScheduleError, match="write the fields"):
        to_ncrontab("@daily")


def test_an_unknown_time_zone_suggests_an_iana_name() -> None:
    with pytest.raises(ScheduleError) as error:
        parse_schedule("0 0 7 * * *", "Europe/Pariss")
    assert str(error.value) == (
        "unknown time zone 'Europe/Pariss' (use an IANA name such as Europe/Paris)"
    )
    for bad in ["", "Mars/Olympus_Mons", "Europe", "/etc/localtime", "W. Europe Standard Time"]:
        with pytest.raises(ScheduleError, match="unknown time zone"):
            parse_schedule("0 0 7 * * *", bad)


def test_schedules_are_normalized_so_equal_schedules_compare_equal() -> None:
    assert Schedule("0 7 * * *", " utc ") == parse_schedule("0 0 7 * * *")
    assert parse_schedule("0 0 7 * * *", "Europe/Paris").timezone == "Europe/Paris"


# --- descriptions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "timezone", "words"),
    [
        ("0 0 7 * * *", "Europe/Paris", "every day at 07:00 (Europe/Paris)"),
        ("0 0 7 * * *", "UTC", "every day at 07:00"),
        ("0 */5 * * * *", "UTC", "every 5 minutes"),
        ("0 * * * * *", "UTC", "every minute"),
        ("*/10 * * * * *", "UTC", "every 10 seconds"),
        ("0 30 6 * * 1-5", "UTC", "at 06:30 on Monday through Friday"),
        ("0 30 6 * * MON-FRI", "UTC", "at 06:30 on Monday through Friday"),
        ("0 15 * * * *", "UTC", "every hour at minute 15"),
        ("0 0 * * * *", "UTC", "every hour on the hour"),
        ("0 0 */2 * * *", "UTC", "every 2 hours"),
        ("0 0 8,18 * * *", "UTC", "every day at 08:00 and 18:00"),
        ("30 0 7 * * *", "UTC", "every day at 07:00:30"),
        ("0 0 9-17 * * *", "UTC", "every hour from 09:00 to 17:00"),
        (
            "0 */15 9-17 * * 1-5",
            "UTC",
            "every 15 minutes from 09:00 to 17:45 on Monday through Friday",
        ),
        ("0 0 9 * * SAT,SUN", "UTC", "at 09:00 on Saturday and Sunday"),
        ("0 0 9 * * 1,3,5", "UTC", "at 09:00 on Monday, Wednesday and Friday"),
        ("0 0 6 1 * *", "UTC", "at 06:00 on day 1 of the month"),
        ("0 0 6 1,15 * *", "UTC", "at 06:00 on days 1 and 15 of the month"),
        ("0 0 6 1 JAN,JUL *", "UTC", "at 06:00 on day 1 of the month in January and July"),
        ("0 0 9 1-7 * MON", "UTC", "at 09:00 on Monday when the day of the month is 1-7"),
        ("0 7,13,19 */3 * * *", "UTC", "cron 0 7,13,19 */3 * * *"),
    ],
)
def test_describe_says_the_schedule_in_words(expression: str, timezone: str, words: str) -> None:
    assert parse_schedule(expression, timezone).describe() == words


# --- fire times and the UTC timer ---------------------------------------------------------


def test_next_times_are_strictly_after_and_in_utc() -> None:
    schedule = parse_schedule("0 0 7 * * *")
    assert schedule.next_times(utc(2026, 5, 4, 7)) == [
        utc(2026, 5, 5, 7),
        utc(2026, 5, 6, 7),
        utc(2026, 5, 7, 7),
    ]
    assert schedule.next_times(utc(2026, 5, 4, 6, 59, 59, 999999), count=1) == [utc(2026, 5, 4, 7)]
    assert schedule.next_times(utc(2026, 5, 4), count=0) == []


def test_next_times_keep_local_time_across_both_dst_changes() -> None:
    paris = parse_schedule("0 0 7 * * *", "Europe/Paris")
    assert paris.next_times(utc(2026, 3, 27, 12)) == [
        utc(2026, 3, 28, 6),
        utc(2026, 3, 29, 5),
        utc(2026, 3, 30, 5),
    ]
    assert paris.next_times(utc(2026, 10, 24, 12)) == [
        utc(2026, 10, 25, 6),
        utc(2026, 10, 26, 6),
        utc(2026, 10, 27, 6),
    ]


def test_next_times_run_a_time_lost_to_spring_forward_at_the_end_of_the_gap() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
    schedule = parse_schedule("0 30 2 * * *", "Europe/Paris")
    assert schedule.next_times(utc(2026, 3, 28, 12)) == [
        utc(2026, 3, 29, 1),  # 03:00 CEST, the first instant after the gap
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]


def test_next_times_run_a_repeated_time_once_at_its_first_occurrence() -> None:
    # 02:30 happens twice in Paris on 2026-10-25: at 00:30 UTC (CEST) and 01:30 UTC (CET).
    schedule = parse_schedule("0 30 2 * * *", "Europe/Paris")
    assert schedule.next_times(utc(2026, 10, 24, 12)) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]


def test_an_hourly_schedule_follows_the_local_clock_through_the_repeated_hour() -> None:
    # Like Vixie cron's wildcard jobs: every hour keeps meaning every hour of real time.
    schedule = parse_schedule("0 0 * * * *", "Europe/Paris")
    assert schedule.next_times(utc(2026, 10, 24, 23, 30), count=4) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
    ]
    assert schedule.next_times(utc(2026, 3, 28, 23, 30), count=3) == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
    ]


@pytest.mark.parametrize(
    ("expression", "timezone", "timer"),
    [
        ("0 0 7 * * *", "UTC", "0 0 7 * * *"),
        ("0 0 7 * * *", "Europe/Paris", "0 0 5,6 * * *"),
        ("0 0 7 * * *", "Asia/Kolkata", "0 30 1 * * *"),
        ("0 0 7 * * *", "America/New_York", "0 0 11,12 * * *"),
        ("0 0 7 * * *", "Australia/Sydney", "0 0 20,21 * * *"),
        ("0 30 6 * * 1-5", "Australia/Sydney", "0 30 19,20 * * 0-4"),
        ("0 0 7 1 * *", "Australia/Sydney", "0 0 20,21 * * *"),
        ("0 30 2 * * *", "Europe/Paris", "0 0,30 0,1 * * *"),
        ("0 */5 * * * *", "Asia/Kolkata", "0 */5 * * * *"),
    ],
)
def test_the_utc_timer_expression_covers_every_offset_of_the_zone(
    expression: str, timezone: str, timer: str
) -> None:
    schedule = parse_schedule(expression, timezone)
    assert schedule.utc_timer_expression(now=YEAR_START) == timer


@pytest.mark.parametrize("timezone", ZONES)
def test_a_daily_schedule_runs_once_every_local_day_at_local_seven_all_year(timezone: str) -> None:
    schedule = parse_schedule("0 0 7 * * *", timezone)
    runs = simulate_2026(schedule)
    assert {run.astimezone(ZoneInfo(timezone)).time().isoformat() for run in runs} == {"07:00:00"}
    days = by_local_day(runs, timezone)
    assert sorted(days) == DAYS_2026
    assert all(len(local) == 1 for local in days.values())


def test_the_daily_paris_run_moves_in_utc_on_both_switch_days() -> None:
    runs = set(simulate_2026(parse_schedule("0 0 7 * * *", "Europe/Paris")))
    assert {utc(2026, 3, 28, 6), utc(2026, 3, 29, 5)} <= runs
    assert {utc(2026, 10, 24, 5), utc(2026, 10, 25, 6)} <= runs


def test_a_weekday_schedule_that_crosses_midnight_in_utc_runs_only_on_local_weekdays() -> None:
    schedule = parse_schedule("0 30 6 * * 1-5", "Australia/Sydney")
    runs = simulate_2026(schedule)
    days = by_local_day(runs, "Australia/Sydney")
    assert sorted(days) == [d for d in DAYS_2026 if d.isoweekday() <= 5]
    for local in days.values():
        assert len(local) == 1 and local[0].time().isoformat() == "06:30:00"


@pytest.mark.parametrize("timezone", ["Europe/Paris", "America/New_York"])
def test_a_time_in_the_spring_gap_still_runs_once_every_local_day(timezone: str) -> None:
    schedule = parse_schedule("0 30 2 * * *", timezone)
    days = by_local_day(simulate_2026(schedule), timezone)
    assert sorted(days) == DAYS_2026
    assert all(len(local) == 1 for local in days.values())
    switch = date(2026, 3, 29) if timezone == "Europe/Paris" else date(2026, 3, 8)
    times = {d: local[0].time().isoformat() for d, local in days.items()}
    assert times.pop(switch) == "03:00:00"  # the first instant after the gap
    assert set(times.values()) == {"02:30:00"}


def test_a_time_in_the_repeated_autumn_hour_runs_once_at_its_first_occurrence() -> None:
    schedule = parse_schedule("0 30 2 * * *", "Europe/Paris")
    runs = simulate_2026(schedule)
    autumn = [run for run in runs if run.date() == date(2026, 10, 25)]
    assert autumn == [utc(2026, 10, 25, 0, 30)]  # 02:30 CEST; 02:30 CET (01:30 UTC) skipped
    assert not schedule.should_run(utc(2026, 10, 25, 1, 30))


def test_should_run_tolerates_a_late_or_slightly_early_timer() -> None:
    schedule = parse_schedule("0 0 7 * * *", "Europe/Paris")  # 05:00 UTC in June
    assert schedule.should_run(utc(2026, 6, 1, 5))
    assert schedule.should_run(utc(2026, 6, 1, 5, 0, 45))
    assert schedule.should_run(utc(2026, 6, 1, 4, 59, 59, 996000))
    assert schedule.should_run(datetime(2026, 6, 1, 7, tzinfo=ZoneInfo("Europe/Paris")))
    assert not schedule.should_run(utc(2026, 6, 1, 5, 1, 0))
    assert not schedule.should_run(utc(2026, 6, 1, 6))  # the winter tick, in summer


def test_a_tick_that_is_not_a_run_does_not_claim_a_run_a_few_seconds_before_it() -> None:
    # Every 30 s during local 07:xx; in June the timer's 06:00:00 UTC tick is local 08:00.
    schedule = parse_schedule("*/30 * 7 * * *", "Europe/Paris")
    assert schedule.should_run(utc(2026, 6, 1, 5, 59, 30))
    assert not schedule.should_run(utc(2026, 6, 1, 6, 0, 0))


def test_naive_datetimes_are_refused() -> None:
    schedule = parse_schedule("0 0 7 * * *")
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.should_run(datetime(2026, 6, 1, 7))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_times(datetime(2026, 6, 1, 7))


def test_importing_the_module_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, shared.schedule; "
        "print(sorted(m for m in ('matplotlib', 'pandas', 'duckdb') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
