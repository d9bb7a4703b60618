"""Flow schedules: parse, validate, describe and compute NCRONTAB schedules in a local time zone.

A flow's trigger says when it runs in its own time zone (``schedule: 0 0 7 * * *`` plus
``timezone: Europe/Paris``), but Azure Functions timers on Linux fire in UTC. So a schedule
gives two things to the Functions app:

- ``utc_timer_expression()``: the UTC NCRONTAB to register the timer with. It fires at every
  instant the local schedule can run in any season, and sometimes more often.
- ``should_run(fired_at)``: the handler's filter, true exactly at the local schedule's slots.

The modules, one job each:

- ``ncrontab``: parse and normalize NCRONTAB / 5-field cron, match and step wall times;
- ``words``: a schedule in words for people;
- ``zones``: time zone names, UTC offsets, DST transitions, the UTC timer expression;
- ``schedule``: the ``Schedule`` class (runs, DST rules, the timer's filter);
- ``overrides``: a flow's effective schedule, with the ``FLOW_SCHEDULE__<flow>`` app setting.
"""

from .ncrontab import ScheduleError, to_ncrontab
from .overrides import effective_schedule
from .schedule import LATENESS, Schedule, parse_schedule

__all__ = [
    "LATENESS",
    "Schedule",
    "ScheduleError",
    "effective_schedule",
    "parse_schedule",
    "to_ncrontab",
]
