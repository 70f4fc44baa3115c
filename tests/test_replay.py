"""``simulate --from-history``: the workload rebuilt from the slots the daemon recorded (pure), the
round trip through the simulated daemon's own history, and the command against the real store."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from autoscaler.__main__ import main
from autoscaler.errors import ConfigError
from autoscaler.history import SLOT, RedisHistory, Sample, Slot
from autoscaler.history.model import REQUIRED, decode, encode
from autoscaler.simulate import replay
from autoscaler.simulate.recorded import Recorded
from autoscaler.simulate.replay import detect_kind, rebuild, series, worker_rate
from autoscaler.simulate.workloads import MAX_DURATION_S, build
from benchmarks.dashboard import PROCESS_ENV, demo_settings, record
from benchmarks.replay import config_of, fidelity
from benchmarks.replay import record as record_simulated

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
APP = "replay-app"


def slot(minute: int, process: str = "web", *, old: bool = False, **values: Any) -> Slot:
    """The slot of ``minute`` (after START) as the store reads it back; ``old``: a line written before
    the demand and the service time were recorded."""
    fields: dict[str, Any] = {
        "process": process,
        "current": 2,
        "size": "Standard-1X",
        "desired": 2,
        "desired_size": "Standard-1X",
        "reason": "within_target",
    }
    line = encode(Sample(**(fields | values)))
    if old:
        line = ",".join((line.split(",") + [""] * REQUIRED)[:REQUIRED])
    found = decode(process, int(START // SLOT) + minute, line)
    assert found is not None
    return found


def web(minutes: int, rate: float = 10.0) -> list[Slot]:
    return [slot(m, rate=rate, queue_time_p95=5.0) for m in range(minutes)]


# --- the rebuild, pure -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ({"rate": 12.0, "queue_time_p95": 20.0}, "web"),
        ({"rate": 12.0, "response_time_p95": 300.0}, "web"),
        ({"depth": 3, "latency": 1.5, "busy": 2}, "worker"),
        ({"depth": 3, "latency": 1.5, "busy": 2, "rate": 4.0}, "worker"),
        ({}, None),
    ],
)
def test_the_kind_is_that_of_the_readings(values: dict[str, Any], kind: str | None) -> None:
    assert kind == detect_kind([slot(0, **values)])


def test_web_rates_and_app_time_per_minute() -> None:
    """Each minute's request rate; the app time from service_ms when recorded, else the one given,
    a minute without it holding the one before."""
    slots = [
        slot(0, rate=10.0, service_ms=80.0),
        slot(1, rate=20.5),
        slot(2, rate=30.0, service_ms=100.0),
        slot(3, rate=5.0, old=True, service_ms=999.0),
    ]
    found = series(slots, "web", 0.12)
    assert (10.0, 20.5, 30.0, 5.0) == found.rate
    assert (0.08, 0.08, 0.1, 0.1) == found.service_s
    assert (0.12, 0.12) == series([slot(0, rate=1.0, old=True), slot(1, rate=1.0)], "web", 0.12).service_s


@pytest.mark.parametrize(
    ("before", "now", "job_s", "learned", "expected"),
    [
        # the engine's learned rate when recorded
        ({"busy": 10, "depth": 0}, {"busy": 10, "depth": 0, "rate": 4.5}, 2.0, True, 4.5),
        # otherwise: running jobs over the job time (mean of the minute's two ends), plus the backlog's growth
        ({"busy": 10, "depth": 0}, {"busy": 10, "depth": 0, "rate": 4.5}, 2.0, False, 5.0),
        ({"busy": 8, "depth": 0}, {"busy": 12, "depth": 0}, 2.0, True, 5.0),
        ({"busy": 10, "depth": 0}, {"busy": 10, "depth": 120}, 2.0, True, 7.0),
        ({"busy": 10, "depth": 600}, {"busy": 10, "depth": 0}, 2.0, True, 0.0),
        # no running-job count: Little's law on the queue, or nothing when it is empty
        ({"depth": 20}, {"depth": 30, "latency": 10.0}, 2.0, True, 3.0),
        ({"depth": 0}, {"depth": 0, "latency": 0.0}, 2.0, True, None),
    ],
)
def test_worker_arrivals(
    before: dict[str, Any], now: dict[str, Any], job_s: float, learned: bool, expected: float | None
) -> None:
    first, second = slot(0, "worker", **before), slot(1, "worker", **now)
    assert expected == worker_rate(second, first, job_s, learned=learned)


def test_a_worker_backlog_change_across_a_gap_is_spread_over_it() -> None:
    """Three minutes apart, 180 more waiting jobs is one more job a second."""
    assert 6.0 == worker_rate(slot(3, "worker", busy=10, depth=180), slot(0, "worker", busy=10, depth=0), 2.0)


def test_a_worker_is_rebuilt_from_its_queue_with_the_runs_job_time_unless_asked_for_what_was_learned() -> None:
    slots = [slot(0, "worker", busy=4, depth=0, service_ms=1000.0), slot(1, "worker", busy=4, depth=0)]
    assert ((2.0, 2.0), (2.0, 2.0)) == (series(slots, "worker", 2.0).rate, series(slots, "worker", 2.0).service_s)
    assert ((4.0, 4.0), (1.0, 1.0)) == (
        series(slots, "worker", 2.0, learned=True).rate,
        series(slots, "worker", 2.0, learned=True).service_s,
    )


def test_minutes_not_recorded_or_not_read_hold_the_minute_before() -> None:
    slots = [slot(0, rate=None), slot(1, rate=10.0), slot(2, rate=None), slot(5, rate=40.0), slot(6, rate=50.0)]
    found = series(slots, "web", 0.12)
    assert (10.0, 10.0, 10.0, 10.0, 10.0, 40.0, 50.0) == found.rate
    assert (2, 2) == (found.gaps, found.unread)


def test_old_slots_without_the_new_fields_rebuild_with_the_given_times() -> None:
    slots = [slot(m, "worker", old=True, busy=6, depth=0, latency=0.0) for m in range(60)]
    workload = rebuild(Recorded("worker", tuple(slots), START, START + 3600), None, 2.0)
    assert ("worker", 3600, {3.0}, {2.0}) == (
        workload.kind,
        workload.duration,
        set(workload.rate),
        set(workload.service_s),
    )


def test_a_workload_per_second_named_and_described() -> None:
    slots = web(30) + [slot(m, rate=float(m)) for m in range(40, 90)]
    workload = rebuild(Recorded("web", tuple(slots), START - 600, START + 6000), None, 0.12)
    assert ("history:web", "web", 90 * 60) == (workload.name, workload.kind, workload.duration)
    assert workload.rate[:60] == (10.0,) * 60
    assert workload.rate[-60:] == (89.0,) * 60
    assert workload.rate[35 * 60] == 10.0  # the gap holds minute 29
    assert workload.description == (
        "history of web (web): 80 slots, 2026-01-01T00:00:00Z to 2026-01-01T01:30:00Z (1.5 h); "
        "10 minutes not recorded hold the minute before; app time not recorded: the run's"
    )
    assert 7200 == rebuild(Recorded("web", tuple(slots), START, START), "web", 0.12, hours=2).duration
    assert 1800 == rebuild(Recorded("web", tuple(slots), START, START), "web", 0.12, hours=0.5).duration


def test_at_most_the_latest_week_is_replayed() -> None:
    minutes = MAX_DURATION_S // SLOT + 30
    slots = [slot(m, rate=1.0) for m in range(minutes)]
    workload = rebuild(Recorded("web", tuple(slots), START, START), None, 0.12)
    assert MAX_DURATION_S == workload.duration
    assert "(30 older slots left out)" in workload.description


@pytest.mark.parametrize(
    ("slots", "kind", "problem"),
    [
        (web(59), None, "--from-history: 59 minutes of history of web since 2026-01-01T00:00:00Z, "),
        ([], None, "--from-history: 0 minutes of history of web since"),
        ([slot(m) for m in range(60)], None, "--kind: the history of web holds no readings"),
        ([slot(m, queue_time_p95=3.0) for m in range(60)], None, "--from-history: the history of web holds no request"),
    ],
)
def test_too_little_or_nothing_to_rebuild_from(slots: list[Slot], kind: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rebuild(Recorded("web", tuple(slots), START, START + 3600), kind, 0.12)
    assert caught.value.problems[0].startswith(problem), caught.value.problems


# --- the round trip: the simulated daemon's own history --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "learned", "rate_error", "work_error"),
    [
        # measured on step-burst, seed 1: web 0.03 % / 0.01 %; workers, queue only, 2.2 % / 2.2 %
        ("web", True, 0.02, 0.01),
        ("worker", False, 0.08, 0.06),
        # the engine's learned rate and job time: the work they replay is measured at -0.2 %
        ("worker", True, None, 0.10),
    ],
)
def test_a_recorded_scenario_rebuilds_close_to_its_source(
    kind: Any, learned: bool, rate_error: float | None, work_error: float
) -> None:
    config = config_of(kind, 1)
    source = build("step-burst", kind, 1, None, config.service_s)
    found = record_simulated(source, config)
    assert 120 == len(found.slots)
    replayed = rebuild(found, None, config.service_s, learned=learned)
    assert (kind, source.duration) == (replayed.kind, replayed.duration)
    close = fidelity(source, replayed)
    if rate_error is not None:
        assert close.hourly_mape < rate_error, close
        assert abs(close.total) < rate_error, close
    assert abs(close.work) < work_error, close


# --- the command, against the real store -----------------------------------------------------------


def cli_env(redis_url: str, **extra: str) -> dict[str, str]:
    return {"AUTOSCALER_APP": APP, "REDIS_URL": redis_url, **PROCESS_ENV, **extra}


def recorded_until_now(redis_client: redis.Redis, redis_url: str, minutes: int) -> None:
    """``minutes`` of history of web, worker and mailer up to now, recorded by the real daemon into Redis."""
    start = (time.time() // 60) * 60 - minutes * 60
    record(demo_settings(redis_url, app=APP), RedisHistory(redis_client, APP), start=start, seconds=minutes * 60)


def test_simulate_from_history_replays_the_web_history(
    redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded_until_now(redis_client, redis_url, 90)
    argv = ["simulate", "--from-history", "--process", "web", "--since", "3h", "--json"]
    assert 0 == main(argv, cli_env(redis_url))
    data = json.loads(capsys.readouterr().out)
    assert ["ours", "static-peak", "hpa", "heroku-native", "judoscale-like", "clairvoyant"] == [
        p["policy"] for p in data["policies"]
    ]
    scenario = data["scenario"]
    assert ("history:web", "web") == (scenario["name"], scenario["kind"])
    assert scenario["description"].startswith("history of web (web): 90 slots, ")
    assert 89 * 60 <= scenario["duration_s"] <= 90 * 60
    assert "process: web, 4 processes per dyno, app time 60 ms, target p95 queue time 50 ms" in data["settings"]


def test_simulate_from_history_of_a_worker(
    redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded_until_now(redis_client, redis_url, 70)
    assert 0 == main(["simulate", "--from-history", "--process", "mailer", "--json"], cli_env(redis_url))
    scenario = json.loads(capsys.readouterr().out)["scenario"]
    assert ("history:mailer", "worker") == (scenario["name"], scenario["kind"])
    assert "arrivals estimated from the queue readings with the run's job time" in scenario["description"]


def test_simulate_from_history_with_the_env_file_finds_the_store_and_app_in_it(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`heroku config -s > autoscaler.env`, then a replay anywhere: the file names the state store and
    the app, and its process configuration is the one simulated."""
    recorded_until_now(redis_client, redis_url, 90)
    env_file = tmp_path / "autoscaler.env"
    env_file.write_text("\n".join(f"{name}={value}" for name, value in cli_env(redis_url).items()) + "\n")
    argv = ["simulate", "--from-history", "--env-file", str(env_file), "--process", "web", "--json"]
    assert 0 == main(argv, {})
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"]["name"] == "history:web"
    assert any("target p95 queue time 40 ms" in line for line in data["settings"]), data["settings"]


OWN_URLS = {f"AUTOSCALER_PROCESSES__{name}__URL": "redis://127.0.0.1:6379/1" for name in ("WEB", "WORKER", "MAILER")}
"""Each source with its own URL: no REDIS_URL, so no state store."""


@pytest.mark.parametrize(
    ("minutes", "argv", "env_change", "problem"),
    [
        (90, ["--process", "web"], {"REDIS_URL": "", **OWN_URLS}, "AUTOSCALER_STATE_URL: required"),
        (90, ["--process", "web"], {"AUTOSCALER_APP": ""}, "AUTOSCALER_APP: required"),
        (30, ["--process", "web"], {}, "--from-history: 30 minutes of history of web since"),
        (90, ["--process", "web", "--since", "20m"], {}, "--from-history: 20 minutes of history of web since"),
        (90, ["--process", "clock"], {}, "--process: unknown process type 'clock'"),
        (90, [], {}, "--process: the history holds several process types (web, worker, mailer); pick one"),
        (90, ["--process", "web", "--since", "soon"], {}, "--since: expected a duration"),
        (90, ["--process", "web", "--scenario", "diurnal"], {}, "--from-history: give one of --scenario, --trace"),
    ],
)
def test_simulate_from_history_exits_2_saying_why(
    minutes: int,
    argv: list[str],
    env_change: dict[str, str],
    problem: str,
    redis_client: redis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorded_until_now(redis_client, redis_url, minutes)
    assert 2 == main(["simulate", "--from-history", *argv], cli_env(redis_url) | env_change)
    err = capsys.readouterr().err
    assert problem in err, err


def test_no_history_at_all_says_where_it_looked(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["simulate", "--from-history", "--process", "web"], cli_env(redis_url))
    err = capsys.readouterr().err
    assert f"--from-history: no history of web of app {APP} since " in err
    assert "in Redis (redis://127.0.0.1:6379/" in err


def test_since_needs_from_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["simulate", "--since", "7d"], {})
    assert "--since: applies to --from-history" in capsys.readouterr().err


def test_from_history_is_what_tune_calls(redis_client: redis.Redis, redis_url: str) -> None:
    recorded_until_now(redis_client, redis_url, 70)
    workload = replay.from_history(cli_env(redis_url), process="web", since_s=7200, kind=None, service_s=0.1)
    assert ("history:web", "web") == (workload.name, workload.kind)
    assert {0.06} == set(workload.service_s)  # the app time the web source read
    with pytest.raises(ConfigError) as caught:
        replay.from_history(cli_env(redis_url), process=None, since_s=None, kind=None, service_s=0.1)
    assert caught.value.problems[0].startswith("--process: the history holds several process types")


def test_the_runs_app_time_is_the_one_recorded_averaged_over_the_requests() -> None:
    slots = [slot(0, rate=10.0, service_ms=100.0), slot(1, rate=30.0, service_ms=200.0)]
    assert 0.175 == pytest.approx(replay.recorded_service_s(Recorded("web", tuple(slots), START, START), "web"))
    assert replay.recorded_service_s(Recorded("web", tuple(web(2)), START, START), "web") is None


def test_a_workers_learned_job_time_is_not_the_runs() -> None:
    """The job time the engine learned is recorded, but a worker replays with the run's own."""
    slots = [slot(0, "worker", busy=4, depth=0, service_ms=1000.0), slot(1, "worker", busy=4, depth=0)]
    assert replay.recorded_service_s(Recorded("worker", tuple(slots), START, START), "worker") is None
