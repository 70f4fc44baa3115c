"""Schedules: cron windows that change a process's bounds, evaluated as pure functions of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekday_names(field: str) -> str:
    """Standard cron counts weekdays from 0 = Sunday (7 too); APScheduler 3 from 0 = Monday.
    Numbers are turned into names so ``1-5`` means Monday to Friday, as in crontab."""
    parts = []
    for token in field.split(","):
        body, slash, step = token.partition("/")
        low, dash, high = body.partition("-")
        if low.isdigit() and (not dash or high.isdigit()):
            if int(low) > 7 or (dash and int(high) > 7):
                raise ValueError(f"weekday out of range in {field!r}")
            if dash and int(low) == 0 and int(high) < 7:  # 0-5: Sunday, then Monday to Friday
                parts.append("sun")
                low = "1"
            name = _DAYS[int(low)] + (f"-{_DAYS[int(high)]}" if dash else "")
            parts.append(name + (f"/{step}" if slash else ""))
        else:
            parts.append(token)
    return ",".join(parts)


def parse_cron(expression: str, timezone: str) -> Any:
    """A cron trigger for a standard 5-field expression; ValueError when it is not one."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {expression!r}")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday_names(weekday),
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron {expression!r}: {exc}") from None


def window_active(expression: str, timezone: str, duration: float, now: float) -> bool:
    """True when ``now`` lies in [start, start + duration) for some start the cron names."""
    trigger = parse_cron(expression, timezone)
    moment = datetime.fromtimestamp(now, UTC)
    earliest = moment - timedelta(seconds=duration)
    start = trigger.get_next_fire_time(None, earliest + timedelta(microseconds=1))
    return start is not None and start <= moment
