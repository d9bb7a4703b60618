"""A flow's effective schedule: its file's, or the portal override
(`FLOW_SCHEDULE__<flow_name>` app setting) when that one is valid."""

from __future__ import annotations

import logging
from typing import Protocol

from ..settings import Settings, schedule_override_setting
from .ncrontab import ScheduleError
from .schedule import parse_schedule

__all__ = ["Scheduled", "effective_schedule"]


class _ScheduleTrigger(Protocol):
    @property
    def schedule(self) -> str | None: ...

    @property
    def timezone(self) -> str: ...


class Scheduled(Protocol):
    """What the schedule of a flow is read from: the flow, or its cached head."""

    @property
    def name(self) -> str: ...

    @property
    def trigger(self) -> _ScheduleTrigger: ...

log = logging.getLogger(__name__)


def effective_schedule(flow: Scheduled, settings: Settings) -> tuple[str | None, str]:
    """(expression or None, a note for people: "" or why the override is (not) used)."""
    setting = schedule_override_setting(flow.name)
    override = settings.schedule_overrides.get(setting.removeprefix("FLOW_SCHEDULE__"))
    if override:
        try:
            parse_schedule(override, flow.trigger.timezone)
        except ScheduleError as exc:
            log.error("app setting %s=%r is invalid (%s); flow %s keeps its file schedule %r",
                      setting, override, exc, flow.name, flow.trigger.schedule)
            return flow.trigger.schedule, f"  (override {setting} ignored: {exc})"
        return override, f"  (from app setting {setting})"
    return flow.trigger.schedule, ""
