"""The history: a slot a minute per process type, merged alike in Redis (Lua) and in memory; recorded
by the acting daemon only, in one round trip a tick; kept 9 days; read back by ``history``."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from dataclasses import replace
from typing import Any

import pytest
import redis
import structlog

from autoscaler.__main__ import main
from autoscaler.config import Settings
from autoscaler.daemon import Daemon
from autoscaler.errors import ServerError
from autoscaler.heroku import Formation
from autoscaler.history import (
    TTL,
    Event,
    MemoryHistory,
    ProcessStatus,
    RedisHistory,
    Sample,
    Status,
    TickRecord,
    main_signal,
    signal_value,
)
from autoscaler.history.cli import parse_since
from autoscaler.history.model import REASON_CODES, decode, encode, merge, number, parse_event
from autoscaler.policy import Reason
from autoscaler.signals import Source
from autoscaler.state import Lease, MemoryState, RedisState
from benchmarks.dashboard import (
    DAY,
    PROCESS_ENV,
    CountingConnection,
    QueueCurve,
    StubFormation,
    WebCurve,
    demo_settings,
    record,
    round_trips,
    silent,
)
from benchmarks.dashboard import Clock as BenchClock

APP = "hist-app"
START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def sample(process: str = "worker", **values: Any) -> Sample:
    fields: dict[str, Any] = {
        "process": process,
        "current": 2,
        "size": "Standard-1X",
        "desired": 2,
        "desired_size": "Standard-1X",
        "reason": "within_target",
        "signal": 10.0,
        "depth": 20,
        "latency": 1.5,
        "busy": 2,
        "monthly_usd": 50.0,
    }
    fields.update(values)
    return Sample(**fields)


def status(at: float, **values: Any) -> Status:
    fields: dict[str, Any] = {"at": at, "instance": "worker.1:4:abcd", "ok": True, "dry_run": False, "interval": 15}
    fields.update(values)
    return Status(**fields)


def tick(at: float, *samples: Sample, events: tuple[Event, ...] = ()) -> TickRecord:
    return TickRecord(at=at, samples=samples, events=events, status=status(at))


# --- the stored line -----------------------------------------------------------------------


def test_numbers_are_short_and_never_scientific() -> None:
    assert ["", "0", "7", "0.778", "1.54", "37.5", "1235", "1000000000000", ""] == [
        number(v) for v in (None, 0.0001, 7, 0.7777, 1.5449, 37.51, 1234.6, 1e12, float("nan"))
    ]


def test_a_line_decodes_to_what_was_encoded() -> None:
    line = encode(sample(event="2>4", desired=4, desired_size="Performance-M", rate=None))
    slot = decode("worker", 29_000_000, line)
    assert slot is not None
    assert (slot.at, slot.current, slot.desired, slot.desired_size, slot.event) == (
        29_000_000 * 60.0,
        2,
        4,
        "Performance-M",
        "2>4",
    )
    assert (slot.max_current, slot.max_desired, slot.max_signal, slot.depth, slot.latency, slot.rate) == (
        2,
        4,
        10.0,
        20,
        1.5,
        None,
    )
    assert decode("worker", 1, "garbage") is None
    assert decode("worker", 1, "a,b,c,,1,x,1,,r,,,,,,,") is None


def test_merge_keeps_the_largest_of_the_minute_the_last_values_and_the_latest_event() -> None:
    first = encode(sample(current=2, desired=6, signal=90.0, event="2>6"))
    second = encode(sample(current=6, desired=6, signal=30.0))
    third = encode(sample(current=6, desired=5, signal=None, reason="scale_down"))
    merged = merge(merge(first, second), third)
    slot = decode("worker", 1, merged)
    assert slot is not None
    assert (slot.max_current, slot.max_desired, slot.max_signal, slot.event) == (6, 6, 90.0, "2>6")
    assert (slot.current, slot.desired, slot.reason) == (6, 5, "scale_down")
    assert merge(None, first) == first


def test_a_typical_line_fits_redis_compact_hash_encoding() -> None:
    """Redis keeps a hash of values up to 64 bytes in a listpack (hash-max-listpack-value)."""
    busy_worker = sample(
        current=3,
        desired=3,
        signal=12.5,
        depth=38,
        latency=4.25,
        rate=2.35,
        reason="held_downscale_delay",
        demand=4,
        service_ms=1250.0,
    )
    line = encode(busy_worker)
    assert len(line) <= 64, line
    web = sample("web", current=12, desired=14, signal=85.2, depth=None, latency=None, busy=None, rate=412.5)
    line = encode(replace(web, queue_time_p95=85.2, reason="scale_up_limited", demand=16, service_ms=48.3))
    assert len(line) <= 64, line


def test_every_reason_has_a_short_code_and_reads_back_whole() -> None:
    assert set(REASON_CODES) == {str(reason) for reason in Reason}
    assert len(set(REASON_CODES.values())) == len(REASON_CODES)
    for reason in Reason:
        slot = decode("worker", 1, encode(sample(reason=str(reason))))
        assert slot is not None
        assert slot.reason == str(reason)


def test_lines_stored_before_demand_was_recorded_still_read() -> None:
    """A line of 16 fields with the reason written whole (as stored before) reads; demand is unknown."""
    slot = decode("worker", 1, "3,3,12.5,,3,Standard-1X,3,,held_downscale_delay,38,4.25,2,,,,50")
    assert slot is not None
    assert (slot.reason, slot.depth, slot.monthly_usd) == ("held_downscale_delay", 38, 50.0)
    assert (slot.demand, slot.service_ms) == (None, None)


def test_a_stored_value_that_is_not_a_finite_number_reads_as_unknown() -> None:
    for text in ("nan", "inf", "-inf"):
        slot = decode("worker", 1, f"3,3,12.5,,3,Standard-1X,3,,hd,38,4.25,2,,,,50,{text},{text}")
        assert slot is not None
        assert (slot.demand, slot.service_ms) == (None, None)


def test_demand_and_service_time_read_back() -> None:
    slot = decode("worker", 1, encode(sample(demand=4, service_ms=1250.0)))
    assert slot is not None
    assert (slot.demand, slot.service_ms) == (4.0, 1250.0)
    bare = encode(sample())
    assert not bare.endswith(","), "empty fields after monthly_usd are not written"


def test_events_in_a_slot() -> None:
    assert [("", 3, 5), ("~", 5, 2), ("!", 1, 4), None, None] == [
        parse_event(text) for text in ("3>5", "~5>2", "!1>4", "", "x>y")
    ]


def test_main_signal_per_source_and_target() -> None:
    settings = demo_settings("redis://127.0.0.1:6379/0")
    specs = {name: main_signal(process) for name, process in settings.processes.items()}
    assert ("queue_time_p95", 40.0) == (specs["web"].name, specs["web"].target)
    assert ("depth_per_dyno", 100.0) == (specs["worker"].name, specs["worker"].target)
    assert ("latency", 120.0) == (specs["mailer"].name, specs["mailer"].target)
    assert 10.0 == signal_value(specs["worker"], sample(current=2, depth=20))
    assert 20.0 == signal_value(specs["worker"], sample(current=0, depth=20))


# --- Redis and memory alike ------------------------------------------------------------------


def random_ticks(seed: int, count: int = 240) -> list[TickRecord]:
    """Ticks every 15 s with random values for three process types, events now and then."""
    rng = random.Random(seed)
    ticks = []
    for i in range(count):
        at = START + 15 * i + rng.uniform(0, 14)
        samples = []
        for process in ("web", "worker", "mailer"):
            current, desired = rng.randint(0, 12), rng.randint(0, 12)
            event = rng.choice(["", "", "", f"{current}>{desired}", f"~{current}>{desired}", f"!{current}>{desired}"])
            samples.append(
                sample(
                    process,
                    current=current,
                    desired=desired,
                    signal=rng.choice([None, rng.uniform(0, 5000)]),
                    depth=rng.choice([None, rng.randint(0, 10**6)]),
                    latency=rng.choice([None, rng.uniform(0, 900)]),
                    event=event,
                    reason=rng.choice(["within_target", "scale_up", "held_downscale_delay"]),
                )
            )
        events = tuple(
            Event(at, s.process, s.current, s.desired, s.size, s.desired_size, s.reason, f"message {i}", "scaled")
            for s in samples
            if s.event
        )
        ticks.append(TickRecord(at=at, samples=tuple(samples), events=events, status=status(at)))
    return ticks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_redis_and_memory_keep_the_same_history(redis_client: redis.Redis, seed: int) -> None:
    """The Lua merge in Redis and the Python merge in memory give the same slots, events and status."""
    in_redis, in_memory = RedisHistory(redis_client, APP), MemoryHistory()
    ticks = random_ticks(seed)
    for record_ in ticks:
        in_redis.write(record_)
        in_memory.write(record_)
    processes = ["web", "worker", "mailer"]
    until = ticks[-1].at
    from_redis = in_redis.read(START, until, processes, events=50)
    from_memory = in_memory.read(START, until, processes, events=50)
    assert from_redis.slots == from_memory.slots
    assert 60 == len(from_redis.slots["web"])  # 240 ticks of 15 s: one hour
    assert [(e.at, e.process) for e in from_redis.events] == [(e.at, e.process) for e in from_memory.events]
    assert from_redis.status == from_memory.status == ticks[-1].status


def test_redis_keys_expire_after_nine_days_and_events_are_capped(redis_client: redis.Redis) -> None:
    history = RedisHistory(redis_client, APP, kept=5)
    event = Event(START, "worker", 1, 2, "Basic", "Basic", "scale_up", "more", "scaled")
    for i in range(8):
        history.write(tick(START + i, sample(), events=(event,)))
    keys = sorted(k.decode() if isinstance(k, bytes) else k for k in redis_client.keys(f"autoscaler:{APP}:history:*"))
    hour = int(START // 3600)
    assert [
        f"autoscaler:{APP}:history:status",
        f"autoscaler:{APP}:history:worker:{hour}",
        f"autoscaler:{APP}:history:worker:events",
    ] == keys
    assert all(TTL - 5 <= redis_client.ttl(key) <= TTL for key in keys)
    assert 5 == redis_client.llen(f"autoscaler:{APP}:history:worker:events")
    assert TTL >= 9 * DAY


def test_a_read_returns_the_range_asked_only(redis_client: redis.Redis) -> None:
    history = RedisHistory(redis_client, APP)
    for minute in range(0, 180, 10):
        history.write(tick(START + minute * 60, sample(current=minute)))
    found = history.read(START + 3600, START + 7200, ["worker"], events=0)
    assert [60, 70, 80, 90, 100, 110, 120] == [slot.current for slot in found.slots["worker"]]


def test_the_leader_is_read_from_the_lease(redis_client: redis.Redis) -> None:
    history = RedisHistory(redis_client, APP)
    assert None is history.read(START, START + 60, ["worker"]).leader
    lease = Lease(redis_client, APP, ttl=15, owner="worker.2:4:0123abcd")
    assert lease.acquire()
    assert "worker.2:4:0123abcd" == history.read(START, START + 60, ["worker"]).leader


def test_memory_keeps_the_last_hours_only() -> None:
    history = MemoryHistory(hours=1)
    for minute in range(150):
        history.write(tick(START + minute * 60, sample(current=minute % 7)))
    slots = history.read(START, START + DAY, ["worker"]).slots["worker"]
    assert len(slots) <= 61
    assert START + 149 * 60 == slots[-1].at
    assert slots[0].at >= START + 89 * 60


def test_a_write_is_one_round_trip_whatever_the_number_of_process_types(redis_url: str) -> None:
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    try:
        history = RedisHistory(client, APP)
        history.write(tick(START, sample()))  # loads the script (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA)
        event = Event(START, "web", 1, 2, "Basic", "Basic", "scale_up", "more", "scaled")
        sent = []
        for count in (1, 3, 8):
            CountingConnection.sent = 0
            samples = tuple(sample(f"p{i}") for i in range(count))
            history.write(tick(START + 60, *samples, events=(event,)))
            sent.append(CountingConnection.sent)
        CountingConnection.sent = 0
        history.read(START, START + 8 * 86400, [f"p{i}" for i in range(8)], events=20)
        assert ([1, 1, 1], 1) == (sent, CountingConnection.sent)
    finally:
        client.close()


# --- the daemon records ----------------------------------------------------------------------


def test_a_recording_tick_adds_one_round_trip(redis_url: str) -> None:
    settings = demo_settings(redis_url, app=APP)
    assert 1 == round_trips(redis_url, settings, with_history=True) - round_trips(
        redis_url, settings, with_history=False
    )


def daemon_for(settings: Settings, client: redis.Redis, owner: str, clock: BenchClock) -> Daemon:
    api = StubFormation({"web": (2, "Standard-1X"), "worker": (1, "Standard-1X"), "mailer": (1, "Standard-1X")})
    rng = random.Random(1)
    sources: dict[str, Source] = {
        "web": WebCurve(api, clock, rng),
        "worker": QueueCurve(api, "worker", rng, trickle=1.0, per_dyno=2.0, bursts=0),
        "mailer": QueueCurve(api, "mailer", rng, trickle=0.2, per_dyno=1.0, bursts=0),
    }
    return Daemon(
        settings,
        api,
        sources,
        clock=clock,
        state=RedisState(client, APP),
        lease=Lease(client, APP, ttl=settings.interval, owner=owner),
        logger=silent(),
        history=RedisHistory(client, APP),
    )


def test_only_the_leader_records_and_the_history_survives_a_change_of_leader(redis_client: redis.Redis) -> None:
    settings = demo_settings("redis://127.0.0.1:6379/0", app=APP)
    clock = BenchClock(START)
    first, second = (daemon_for(settings, redis_client, owner, clock) for owner in ("dyno-a", "dyno-b"))
    store = RedisHistory(redis_client, APP)
    for _ in range(8):  # two minutes: both tick, only the leader records
        assert not first.tick().skipped
        assert second.tick().skipped
        clock.now += 15
    seen = store.read(START, clock.now, list(settings.processes))
    assert ("dyno-a", "dyno-a") == (seen.status.instance if seen.status else None, seen.leader)
    assert [2, 2, 2] == [len(seen.slots[name]) for name in settings.processes]
    first.close()  # a clean stop (a restart): the lease is released
    for _ in range(8):
        assert not second.tick().skipped
        clock.now += 15
    seen = store.read(START, clock.now, list(settings.processes))
    assert ("dyno-b", "dyno-b") == (seen.status.instance if seen.status else None, seen.leader)
    assert [4, 4, 4] == [len(seen.slots[name]) for name in settings.processes]


class FailingFormation(StubFormation):
    def __init__(self) -> None:
        super().__init__({"worker": (1, "Standard-1X")})
        self.failing = False

    def formation(self, app: str, *, deadline: float | None = None) -> list[Formation]:
        if self.failing:
            raise ServerError(503, None, "Platform API unavailable")
        return super().formation(app, deadline=deadline)


def worker_settings(redis_url: str, **extra: str) -> Settings:
    from autoscaler.config import load_settings

    return load_settings(
        {
            "AUTOSCALER_APP": APP,
            "REDIS_URL": redis_url,
            "AUTOSCALER_INTERVAL": "15",
            "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
            **extra,
        }
    )


class Backlog:
    def __init__(self, depth: int) -> None:
        self.depth = depth

    def read(self, now: float) -> Any:
        from autoscaler.signals import Reading

        return Reading(at=now, depth=self.depth, latency=1.0, busy=0)

    def close(self) -> None:
        pass


def test_events_are_the_ticks_that_change_something_and_the_status_follows_the_api() -> None:
    settings = worker_settings("redis://127.0.0.1:6379/0")
    clock = BenchClock(START)
    api = FailingFormation()
    store = MemoryHistory()
    source = Backlog(45)
    daemon = Daemon(settings, api, {"worker": source}, clock=clock, logger=silent(), history=store)
    for _ in range(4):
        daemon.tick()
        clock.now += 15
    api.failing = True
    daemon.tick()
    seen = store.read(START, clock.now, ["worker"], events=10)
    assert [("scale_up", 1, 5, "scaled")] == [(e.reason, e.current, e.desired, e.outcome) for e in seen.events[-1:]]
    assert 1 == sum(e.outcome == "scaled" for e in seen.events)
    assert "1>5" == seen.slots["worker"][0].event
    assert seen.status is not None
    assert (False, False) == (seen.status.api_ok, seen.status.ok)
    assert seen.status.errors[0].startswith("formation:")
    assert 5 == seen.status.processes["worker"].current  # the last decision is kept while the API fails
    assert 125.0 == seen.status.processes["worker"].monthly_usd


def test_dry_run_events_are_marked_and_not_repeated_every_tick() -> None:
    settings = worker_settings("redis://127.0.0.1:6379/0", AUTOSCALER_DRY_RUN="true")
    clock = BenchClock(START)
    store = MemoryHistory()
    daemon = Daemon(settings, FailingFormation(), {"worker": Backlog(45)}, clock=clock, logger=silent(), history=store)
    for _ in range(8):
        daemon.tick()
        clock.now += 15
    seen = store.read(START, clock.now, ["worker"], events=10)
    assert [("dry_run", 1, 5)] == [(e.outcome, e.current, e.desired) for e in seen.events]
    assert ["~1>5", ""] == [slot.event for slot in seen.slots["worker"]]
    assert seen.status is not None
    assert seen.status.dry_run


def test_a_failed_write_is_logged_once_and_never_fails_the_tick() -> None:
    settings = worker_settings("redis://127.0.0.1:6379/0")
    clock = BenchClock(START)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    daemon = Daemon(
        settings,
        FailingFormation(),
        {"worker": Backlog(5)},
        clock=clock,
        state=MemoryState(),
        history=RedisHistory(dead, APP),
    )
    with structlog.testing.capture_logs() as captured:
        results = [daemon.tick() for _ in range(3)]
    assert all(result.ok and result.decisions for result in results)
    assert 1 == sum(entry["event"] == "history_write_failed" for entry in captured)
    dead.close()


def test_a_day_of_ticks_stays_small_in_redis(redis_client: redis.Redis, redis_url: str) -> None:
    """A day of three process types (a tick a minute) takes well under 1 MB: 8 days fit in a few MB."""
    settings = demo_settings(redis_url, app=APP)
    record(settings, RedisHistory(redis_client, APP), start=START, seconds=DAY, interval=60)
    used = sum(int(redis_client.memory_usage(key) or 0) for key in redis_client.keys(f"autoscaler:{APP}:history:*"))
    assert used < 700_000, used


# --- python -m autoscaler history ----------------------------------------------------------


def cli_env(redis_url: str, **extra: str) -> dict[str, str]:
    """What ``heroku run`` on the autoscaler app has, minus the token (``history`` needs none)."""
    env = {
        "AUTOSCALER_APP": APP,
        "REDIS_URL": redis_url,
        **PROCESS_ENV,
        "AUTOSCALER_PROCESSES__MAILER__MIN_DYNOS": "1",
        **extra,
    }
    return env


@pytest.fixture
def two_hours(redis_client: redis.Redis, redis_url: str) -> float:
    """Two hours of history up to now, recorded by the daemon; returns its start."""
    start = (time.time() // 60) * 60 - 7200
    record(demo_settings(redis_url, app=APP), RedisHistory(redis_client, APP), start=start, seconds=7200, interval=30)
    return start


def test_history_csv_has_a_row_per_process_and_minute(
    two_hours: float, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == main(["history", "--since", "90m", "--csv"], cli_env(redis_url))
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"time", "process", "current", "desired", "reason", "signal", "signal_value", "monthly_usd"} <= set(rows[0])
    per_process = {name: sum(r["process"] == name for r in rows) for name in ("web", "worker", "mailer")}
    assert all(89 <= count <= 91 for count in per_process.values()), per_process
    web = next(r for r in rows if r["process"] == "web")
    assert ("queue_time_p95", "40") == (web["signal"], web["target"])
    assert web["time"].endswith(":00Z")
    assert rows == sorted(rows, key=lambda r: (r["time"], r["process"]))


def test_history_json_and_one_process(two_hours: float, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["history", "--process", "WORKER", "--since", "30m", "--json"], cli_env(redis_url))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"worker"} == {line["process"] for line in lines}
    assert 29 <= len(lines) <= 31
    assert isinstance(lines[0]["current"], int)


def test_history_text_table(two_hours: float, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["history", "--since", "10m"], cli_env(redis_url))
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "process", "current", "desired", "reason", "signal", "event"]
    assert any("x Standard-1X" in line and "queue_time_p95=" in line for line in out[1:])


def test_history_needs_no_token_and_says_when_there_is_nothing(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == main(["history"], cli_env(redis_url))
    captured = capsys.readouterr()
    assert ("", True) == (captured.out, captured.err.startswith("no history since"))


OWN_URLS = {f"AUTOSCALER_PROCESSES__{name}__URL": "redis://127.0.0.1:6379/1" for name in ("WEB", "WORKER", "MAILER")}
"""Each source with its own URL: no REDIS_URL, so no state store."""


@pytest.mark.parametrize(
    ("argv", "env_change", "named"),
    [
        (["history", "--since", "yesterday"], {}, "--since:"),
        (["history", "--since", "0h"], {}, "--since:"),
        (["history", "--process", "clock"], {}, "--process: unknown process type 'clock'"),
        (["history"], {"REDIS_URL": "", **OWN_URLS}, "AUTOSCALER_STATE_URL: required"),
        (["history"], {"AUTOSCALER_APP": ""}, "AUTOSCALER_APP: required"),
    ],
)
def test_history_bad_usage_exits_2_naming_the_flag(
    argv: list[str], env_change: dict[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = cli_env("redis://127.0.0.1:6379/0") | env_change
    assert 2 == main(argv, env)
    assert named in capsys.readouterr().err


def test_history_csv_and_json_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["history", "--csv", "--json"], cli_env("redis://127.0.0.1:6379/0"))
    assert 2 == exit_.value.code
    assert "--json" in capsys.readouterr().err


def test_history_exits_1_when_the_store_cannot_be_read(capsys: pytest.CaptureFixture[str]) -> None:
    env = cli_env("redis://:pw-not-shown-123@127.0.0.1:1/0")
    assert 1 == main(["history"], env)
    err = capsys.readouterr().err
    assert "cannot read the history" in err
    assert "pw-not-shown-123" not in err


def test_since_accepts_durations_and_iso_times() -> None:
    now = 1_800_000_000.0
    assert [now - 5400, now - 7 * DAY, now - 30, 1_767_225_600.0, 1_767_225_600.0] == [
        parse_since(text, now) for text in ("90m", "7d", "30s", "2026-01-01T00:00:00Z", "2026-01-01")
    ]


def test_status_round_trips_through_json() -> None:
    original = status(
        START,
        errors=("scale: 422",),
        processes={"worker": ProcessStatus(1, "Basic", 2, "Basic", "scale_up", "more", "timeout", 7.0, 14.0)},
        api_ok=False,
    )
    assert original == Status.from_dict(json.loads(json.dumps(original.to_dict())))
