"""Prediction: the forecast as pure functions of recorded demand (tables), the daemon's predictor
that keeps the demand and judges its forecasts, and one daemon tick it drives."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import respx
import structlog

from autoscaler import logs
from autoscaler.config import load_settings
from autoscaler.daemon import Daemon
from autoscaler.errors import StateError
from autoscaler.heroku import HerokuClient
from autoscaler.history import History, MemoryHistory, Sample, Status, TickRecord
from autoscaler.history.demand import Predictor
from autoscaler.policy import Decision, Observation, Reason
from autoscaler.policy.forecast import (
    DAY,
    JUDGED,
    WEEK,
    Demand,
    expected,
    forecast,
    judge,
    missed,
    rise,
)
from autoscaler.policy.forecast import (
    Status as ForecastStatus,
)
from autoscaler.signals import Reading
from autoscaler.signals.build import build_sources

from .conftest import FakeClock, FormationFake
from .helpers import WORKER_ENV

MONDAY = 1_704_067_200  # 2024-01-01 00:00 UTC, a Monday
RAMP = 9 * 60  # 09:00, in minutes of the day
LEAD = 120.0  # BOOT_TIME 60 s + the 60 s margin


def day_of(low: float, high: float, at: int = RAMP, until: int = 18 * 60) -> list[float]:
    """One day's demand per minute: ``low``, then ``high`` from ``at`` until ``until``."""
    return [high if at <= m < until else low for m in range(DAY)]


def history(*days: list[float], start: int = MONDAY // 60) -> Demand:
    """Demand of consecutive days from ``start`` (a minute number)."""
    values = {start + d * DAY + m: value for d, day in enumerate(days) for m, value in enumerate(day)}
    return Demand.of(values)


def at(day: int, minute_of_day: float) -> float:
    """Epoch seconds of a minute (fractions allowed) of day ``day`` after MONDAY."""
    return MONDAY + day * 86400 + minute_of_day * 60


FLAT = day_of(3, 3)
RAMPED = day_of(2, 10)


@dataclass
class Row:
    name: str
    demand: Demand
    now: float
    status: ForecastStatus
    add: int = 0
    judgements: tuple[bool, ...] = ()
    says: str = ""


ROWS = [
    Row("a flat history predicts nothing", history(FLAT, FLAT), at(2, RAMP - 1.5), ForecastStatus.STEADY),
    Row(
        "a daily ramp is anticipated by the boot time",
        history(RAMPED, RAMPED),
        at(2, RAMP - 1.5),
        ForecastStatus.RISE,
        add=8,
        says="rise by 8 within 90s (median of 2 previous days)",
    ),
    Row("but not earlier than the boot time", history(RAMPED, RAMPED), at(2, RAMP - 3.5), ForecastStatus.STEADY),
    Row(
        "too little history: no forecast",
        history(RAMPED[:720]),
        at(0, 719),
        ForecastStatus.LEARNING,
        says="12.0 h of demand recorded, 24 h needed",
    ),
    Row(
        "one odd day does not make the pattern (median of the previous days)",
        history(FLAT, RAMPED, FLAT),
        at(3, RAMP - 1.5),
        ForecastStatus.STEADY,
    ),
    Row(
        "a rise of one dyno is not material",
        history(day_of(3, 4), day_of(3, 4)),
        at(2, RAMP - 1.5),
        ForecastStatus.STEADY,
    ),
    Row(
        "recent forecasts missed: stepping aside though a rise is expected",
        history(RAMPED, RAMPED),
        at(2, RAMP - 1.5),
        ForecastStatus.MISSED,
        judgements=(True, True, False, False, False),
        says="3 of the last 5 rises predicted did not come",
    ),
    Row(
        "half the latest judgements hit: the forecast is used",
        history(RAMPED, RAMPED),
        at(2, RAMP - 1.5),
        ForecastStatus.RISE,
        add=8,
        judgements=(False, False, False, True, True, False, True),
    ),
    Row(
        "a week recorded: the same day last week is the pattern (a ramp last Monday)",
        history(RAMPED, *[FLAT] * 6),
        at(7, RAMP - 1.5),
        ForecastStatus.RISE,
        add=8,
        says="same minute a week ago",
    ),
    Row(
        "a week recorded: no ramp last Sunday, none this Sunday, whatever the weekdays did",
        history(FLAT, *[RAMPED] * 6),
        at(7, RAMP - 1.5),
        ForecastStatus.STEADY,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_forecast(row: Row) -> None:
    found = forecast(row.demand, row.now, LEAD, row.judgements)
    assert (row.status, row.add) == (found.status, found.add), found.message
    assert row.says in found.message


def test_a_rise_names_its_peak_and_when() -> None:
    found = forecast(history(RAMPED, RAMPED), at(2, RAMP - 1.5), LEAD)
    assert (found.peak, found.at) == (10, at(2, RAMP))


def test_expected_demand_is_the_median_of_the_previous_days() -> None:
    demand = history(day_of(2, 10), day_of(2, 6), day_of(2, 8))
    assert expected(demand, MONDAY // 60 + 3 * DAY + RAMP) == (8, "median of 3 previous days")
    assert expected(demand, MONDAY // 60 + RAMP) is None  # nothing before the first day
    weekly = history(*[day_of(2, 10)] * 8)
    assert expected(weekly, MONDAY // 60 + WEEK + RAMP) == (10, "same minute a week ago")


@pytest.mark.parametrize(
    ("today", "hit"),
    [
        (day_of(2, 10), True),  # the ramp came
        (
            day_of(2, 5),
            True,
        ),  # a smaller one came: a rise all the same (a day whose dynos were up in time asks for less)
        (day_of(2, 10, at=RAMP + 4), True),  # it came 4 minutes late: within the horizon and the slack
        (day_of(2, 10, at=RAMP + 5), False),  # later than that
        (day_of(2, 3), False),  # one dyno more is no rush
        (FLAT, False),  # nothing came
    ],
)
def test_a_predicted_rise_is_judged_by_what_came(today: list[float], hit: bool) -> None:
    demand = history(RAMPED, RAMPED, today)
    assert judge(demand, MONDAY // 60 + 2 * DAY + RAMP - 1, 2) is hit


def test_only_material_predictions_with_their_demand_recorded_are_judged() -> None:
    demand = history(RAMPED, RAMPED, FLAT)
    assert judge(demand, MONDAY // 60 + 2 * DAY + 12 * 60, 2) is None  # no rise expected at noon
    partial = history(RAMPED, RAMPED, FLAT[: RAMP - 1])
    assert judge(partial, MONDAY // 60 + 2 * DAY + RAMP - 2, 2) is None  # the horizon is not recorded yet


def test_missed_counts_the_latest_judgements_only() -> None:
    assert not missed(())
    assert missed((False,))
    assert not missed((False,) * 10 + (True,) * JUDGED)
    assert missed((True,) * 10 + (False, False, False, True, True))


def test_rise_is_none_without_an_earlier_day() -> None:
    assert rise(history(RAMPED), MONDAY // 60 + RAMP, 2) is None


# --- the daemon's predictor ---------------------------------------------------------------------


def settings(**extra: str) -> dict[str, str]:
    return {
        "HEROKU_API_KEY": "HRKU-test-token-0123456789",
        "AUTOSCALER_APP": "my-app",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        **WORKER_ENV,
        "AUTOSCALER_PROCESSES__WORKER__PREDICT": "true",
        **extra,
    }


def decision(recommendation: int) -> Decision:
    return Decision("worker", 1, 1, "Standard-1X", "Standard-1X", Reason.WITHIN_TARGET, "", recommendation)


def feed(predictor: Predictor, days: list[list[float]], *, first_day: int = 0, start: float | None = None) -> float:
    """Tick the predictor every 30 s through ``days`` of demand (from ``start``, default the first
    day's midnight); returns the time after."""
    now = at(first_day, 0) if start is None else start
    observation = {"worker": Observation("worker", 1, "Standard-1X", Reading(at=now, depth=0))}
    for day in days:
        for value in day:
            for _ in range(2):
                predictor.attach(observation, now)
                predictor.note([decision(int(value))], now)
                now += 30
    return now


def test_the_predictor_learns_from_what_the_daemon_decides_and_forecasts_the_ramp() -> None:
    predictor = Predictor(load_settings(settings()).processes, None, structlog.get_logger())
    feed(predictor, [RAMPED, RAMPED])
    assert predictor.forecast("worker", at(2, RAMP - 3.5)).status is ForecastStatus.STEADY
    ahead = predictor.forecast("worker", at(2, RAMP - 1.5))
    assert (ahead.status, ahead.add) == (ForecastStatus.RISE, 8)


def test_a_missed_forecast_disables_itself_and_says_so() -> None:
    """Two days with a 09:00 ramp, then a day without: the first minutes of the predicted ramp are
    judged misses and the forecast steps aside, for the rest of that morning and the next one."""
    predictor = Predictor(load_settings(settings()).processes, None, structlog.get_logger())
    feed(predictor, [RAMPED, RAMPED])
    before = feed(predictor, [[2.0] * (RAMP - 1)], first_day=2)
    acted = predictor.forecast("worker", before)
    assert (acted.status, acted.add) == (ForecastStatus.RISE, 8)  # at 08:59, as it should
    now = feed(predictor, [[2.0] * 10], start=before)
    stepped = predictor.forecast("worker", now)
    assert stepped.status is ForecastStatus.MISSED
    assert "rises predicted did not come" in stepped.message
    # the rest of that day flat, then the next morning: the pattern (two ramps, one flat day) still
    # says a rush, and yesterday's misses no longer keep it aside at this time of day
    rest = feed(predictor, [[2.0] * (DAY - RAMP - 9)], start=now)
    next_morning = feed(predictor, [[2.0] * (RAMP - 1)], start=rest)
    again = predictor.forecast("worker", next_morning)
    assert (again.status, again.add) == (ForecastStatus.RISE, 8), again.message


def test_the_predictor_reads_the_recorded_demand_at_start() -> None:
    """A daemon that starts (or takes over) forecasts from what was recorded before it."""
    store = MemoryHistory(hours=72)
    for day, demand in enumerate([RAMPED, RAMPED]):
        for minute, value in enumerate(demand):
            record(store, at(day, minute), int(value))
    predictor = Predictor(load_settings(settings()).processes, store, structlog.get_logger())
    observation = {"worker": Observation("worker", 1, "Standard-1X", Reading(at=at(2, 0), depth=0))}
    forecasted = predictor.attach(observation, at(2, RAMP - 1.5))["worker"].forecast
    assert forecasted is not None
    assert (forecasted.status, forecasted.add) == (ForecastStatus.RISE, 8)


class Unreadable(MemoryHistory):
    def read(self, since: float, until: float, processes: Sequence[str], *, events: int = 50) -> History:
        raise StateError("reading history from redis://***@host: ConnectionError")


def test_an_unreadable_store_is_logged_once_and_the_forecast_goes_on_from_memory() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    predictor = Predictor(load_settings(settings()).processes, Unreadable(), logs.get_logger())
    feed(predictor, [RAMPED, RAMPED])
    feed(predictor, [FLAT], first_day=3)  # hours later: read again, and failing again
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["forecast_history_unreadable"]
    assert predictor.forecast("worker", at(2, RAMP - 1.5)).status is not ForecastStatus.LEARNING


def record(store: MemoryHistory, when: float, demand: int) -> None:
    sample = Sample("worker", 1, "Standard-1X", 1, "Standard-1X", "within_target", demand=demand)
    store.write(TickRecord(when, (sample,), (), Status(when, "test", True, False, 2.0)))


# --- one tick of the daemon -----------------------------------------------------------------------


def test_a_predicted_ramp_scales_up_before_it_comes_and_says_why(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """Two recorded days with a morning ramp: at 08:58:30 the daemon adds the dynos the ramp will
    need (reason ``predicted``), and its decision line carries the forecast."""
    store = MemoryHistory(hours=72)
    for day in range(2):
        for minute, value in enumerate(RAMPED):
            record(store, at(day, minute), int(value))
    clock.now = at(2, RAMP - 1.5)
    heroku = FormationFake(api, "my-app", quantity=2)
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    config = load_settings(settings(REDIS_URL=redis_url, AUTOSCALER_PROCESSES__WORKER__SCALE_UP_DYNOS="10"))

    daemon = Daemon(
        config,
        make_client("HRKU-test-token-0123456789"),
        build_sources(config),
        clock=clock,
        history=store,
    )
    result = daemon.tick()
    (made,) = result.decisions
    assert (made.reason, made.desired, heroku.quantity) == (Reason.PREDICTED, 8, 8)
    assert "forecast: demand expected to rise by 8 within 90s (median of 2 previous days): 0 + 8" in made.message
    line = next(json.loads(text) for text in out.getvalue().splitlines() if '"event": "decision"' in text)
    assert (line["forecast"], line["forecast_add"], line["reason"]) == ("rise", 8, "predicted")
    status = store.read(clock.now - 60, clock.now, ["worker"]).status
    assert status is not None
    assert "rise by 8" in (status.processes["worker"].forecast or "")
