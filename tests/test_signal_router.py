"""The ``router`` source: response time, rate, errors and dyno load from the drain's slots.

The slots are written by the real store (:class:`autoscaler.drain.store.DrainStore`) from real
router and runtime-metrics lines into the real Redis, with line times chosen by the test so that
slots and rates are exact; the web process in front of it is in ``test_web_process.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Iterator

import pytest
import redis

from autoscaler.config import load_settings
from autoscaler.drain import wire
from autoscaler.drain.lines import Batch
from autoscaler.drain.store import DrainStore, connect_async
from autoscaler.errors import ConfigError, SignalError
from autoscaler.fake_heroku import FakeHeroku
from autoscaler.signals import ROUTER_FIELDS, Reading
from autoscaler.signals.build import build_sources
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.router import GRACE_SECONDS, MAX_WINDOW, RouterSource
from tests.helpers import run_command, running
from tests.test_drain_frames import load_line, memory_line, router_line

NOW = 1_772_391_859.0
NEWEST = math.floor((NOW - GRACE_SECONDS - wire.SLOT_SECONDS) / wire.SLOT_SECONDS) * wire.SLOT_SECONDS
"""Start of the newest slot a read at NOW covers."""


def store(redis_url: str, *lines: str, now: float = NOW) -> None:
    """Add ``lines`` as one batch, as the web process does."""
    batch = Batch(now)
    batch.add_frames([line.encode() for line in lines])
    assert 0 == batch.ignored

    async def write() -> None:
        drain = DrainStore(connect_async(redis_url))
        try:
            await drain.write(batch, None)
        finally:
            await drain.close()

    asyncio.run(write())


@pytest.fixture
def source(client: redis.Redis) -> RouterSource:
    return RouterSource(client, window=60)


def test_a_reading_from_router_lines(redis_url: str, source: RouterSource) -> None:
    """Rate over the window, quantiles within 4 % of the exact ones, errors by code (an H12 is 30 s)."""
    rng = random.Random(7)
    times = [int(rng.lognormvariate(5, 0.8)) for _ in range(600)]
    lines = [router_line(NEWEST - 5 * (i % 12) + 1, ms) for i, ms in enumerate(times)]
    lines += [router_line(NEWEST + 2, 30_000, code="H12", status=503)] * 6
    lines += [router_line(NEWEST + 3, 12, code="H18", status=503)] * 2
    store(redis_url, *lines)
    reading = source.read(NOW)
    everything = sorted([*times, *[30_000] * 6, *[12] * 2])
    assert (True, 608 / 60, {"H12": 6, "H18": 2}, None, None) == (
        reading.ok,
        reading.rate,
        reading.errors,
        reading.memory_mb,
        reading.load,
    )
    quantiles = {0.5: reading.response_time_p50, 0.95: reading.response_time_p95, 0.99: reading.response_time_p99}
    for quantile, value in quantiles.items():
        exact = everything[math.ceil(quantile * len(everything)) - 1]
        assert value == pytest.approx(exact, rel=0.04)
    store(redis_url, *[router_line(NEWEST + 2, 30_000, code="H12", status=503)] * 20)
    assert source.read(NOW).response_time_p99 == pytest.approx(30_000, rel=0.04)


def test_only_complete_slots_of_the_window_are_read(redis_url: str, source: RouterSource) -> None:
    """A slot still within the grace delay, and one older than the window, are left out."""
    store(
        redis_url,
        router_line(NEWEST + 1, 100),  # the newest complete slot
        router_line(NEWEST + wire.SLOT_SECONDS + 1, 5000),  # ends less than GRACE_SECONDS before NOW
        router_line(NEWEST - 60 + 1, 5000),  # one slot older than the window
    )
    reading = source.read(NOW)
    assert 1 / 60 == reading.rate
    assert reading.response_time_p95 == pytest.approx(100, rel=0.04)
    assert 12 == len(source.slot_starts(NOW))
    assert NEWEST == source.slot_starts(NOW)[0]


def test_no_line_in_the_window_is_unknown_not_zero(redis_url: str, source: RouterSource) -> None:
    store(redis_url, router_line(NEWEST - 120, 100))
    with pytest.raises(SignalError, match=r"no router or runtime-metrics line of process 'web' in the last 60s"):
        source.read(NOW)


def test_runtime_metrics_alone_mean_no_requests(redis_url: str, source: RouterSource) -> None:
    """An idle app with log-runtime-metrics: rate 0, no response time, the dynos' newest samples."""
    store(
        redis_url,
        memory_line(NEWEST - 30, "web.1", "100.00MB"),
        memory_line(NEWEST + 1, "web.1", "150.25MB"),
        memory_line(NEWEST - 10, "web.2", "90.00MB"),
        load_line(NEWEST - 20, "web.1", "0.50"),
        load_line(NEWEST, "web.1", "0.75"),
        memory_line(NEWEST - 100, "web.3", "500.00MB"),  # a dyno that stopped before the window
    )
    reading = source.read(NOW)
    assert (0.0, None, None, None, {}) == (
        reading.rate,
        reading.response_time_p50,
        reading.response_time_p95,
        reading.response_time_p99,
        reading.errors,
    )
    assert ({"web.1": 150.25, "web.2": 90.0}, {"web.1": 0.75}) == (reading.memory_mb, reading.load)


def test_a_fir_dyno_name_is_its_process_type(redis_url: str, source: RouterSource) -> None:
    store(redis_url, router_line(NEWEST, 42, dyno="web-12a34b56d-e78f9"))
    assert source.read(NOW).response_time_p95 == pytest.approx(42, rel=0.04)


def test_other_process_types_are_other_keys(redis_url: str, client: redis.Redis) -> None:
    store(redis_url, memory_line(NEWEST, "worker.1"))
    assert {"worker.1": 21.0} == RouterSource(client, process="worker").read(NOW).memory_mb
    with pytest.raises(SignalError):
        RouterSource(client).read(NOW)


@pytest.mark.parametrize(("window", "expected"), [(1, 5.0), (60, 60.0), (61, 65.0), (MAX_WINDOW, MAX_WINDOW)])
def test_the_window_is_whole_slots(client: redis.Redis, window: float, expected: float) -> None:
    assert expected == RouterSource(client, window=window).window


@pytest.mark.parametrize(("window", "process"), [(0, "web"), (MAX_WINDOW + 1, "web"), (60, "web:1"), (60, "")])
def test_bad_window_or_name_is_a_config_error(client: redis.Redis, window: float, process: str) -> None:
    with pytest.raises(ConfigError):
        RouterSource(client, process=process, window=window)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"n": "many"}, "not an integer"),
        ({"n": "-1"}, "out of range"),
        ({"h:9999": "1"}, "bucket"),
        ({"n": "1", "h:3": "2"}, "inconsistent"),
        ({"n": "1", "m:web.1": "big"}, "not a number"),
        ({"n": "1", "l:web.1": "inf"}, "out of range"),
    ],
)
def test_values_no_writer_produces_are_a_signal_error(
    redis_client: redis.Redis, source: RouterSource, fields: dict[str, str], match: str
) -> None:
    for name, value in fields.items():
        redis_client.hset(wire.slot_key(wire.DEFAULT_PREFIX, "web", NEWEST), name, value)
    with pytest.raises(SignalError, match=match):
        source.read(NOW)


def test_unknown_fields_are_ignored(redis_url: str, redis_client: redis.Redis, source: RouterSource) -> None:
    store(redis_url, router_line(NEWEST, 10))
    redis_client.hset(wire.slot_key(wire.DEFAULT_PREFIX, "web", NEWEST), "x:new-field", "1")
    assert 1 / 60 == source.read(NOW).rate


def test_an_unreachable_store_is_a_signal_error_without_the_password() -> None:
    source = RouterSource(connect("redis://:hunter2-secret@127.0.0.1:1/0", timeout=0.5))
    with pytest.raises(SignalError) as caught:
        source.read(NOW)
    assert "hunter2-secret" not in str(caught.value)
    assert "cannot read the drained router figures of 'web'" in str(caught.value)
    source.close()


def test_one_read_is_one_round_trip(redis_url: str) -> None:
    from tests.test_signal_web import counting_client

    store(redis_url, router_line(NEWEST, 10))
    client, sent = counting_client(redis_url)
    source = RouterSource(client)
    source.read(NOW)  # connects
    sent.clear()
    source.read(NOW)
    assert 1 == len(sent)
    client.close()


# --- configuration ---------------------------------------------------------------------------------

ROUTER = {
    "AUTOSCALER_PROCESSES__WEB__SOURCE": "router",
    "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "8",
    "AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS": "400",
}


def test_a_router_process_needs_a_response_time_target() -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:6379/0", **ROUTER}
    del env["AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS"]
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert [
        "AUTOSCALER_PROCESSES__WEB: a router process needs a target: set AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS"
    ] == caught.value.problems


def test_a_web_process_still_needs_its_queue_time_target() -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:6379/0", **ROUTER, "AUTOSCALER_PROCESSES__WEB__SOURCE": "web"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    var = "AUTOSCALER_PROCESSES__WEB"
    assert [
        f"{var}: a web process needs a target: set {var}__QUEUE_TIME_MS",
        f"{var}__RESPONSE_TIME_MS: not read by the web source, which reads QUEUE_TIME_MS, PROCESSES_PER_DYNO",
    ] == caught.value.problems


def test_the_source_reads_the_state_store(redis_url: str) -> None:
    """Where the web process writes: AUTOSCALER_STATE_URL before REDIS_TLS_URL / REDIS_URL."""
    settings = load_settings({"AUTOSCALER_STATE_URL": redis_url, "REDIS_URL": "redis://elsewhere:1/0", **ROUTER})
    store(redis_url, router_line(NEWEST, 10))
    source = build_sources(settings)["web"]
    assert isinstance(source, RouterSource)
    assert 1 / 60 == source.read(NOW).rate
    source.close()


def test_without_any_redis_url_the_problem_names_the_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(dict(ROUTER))
    assert [
        "AUTOSCALER_PROCESSES__WEB__URL: required: set it, or AUTOSCALER_STATE_URL / REDIS_TLS_URL / REDIS_URL"
    ] == caught.value.problems


def test_only_the_web_process_type_gets_router_lines() -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    env |= {key.replace("__WEB__", "__API__"): value for key, value in ROUTER.items()}
    with pytest.raises(ConfigError, match="sends requests only to the 'web' process type"):
        build_sources(load_settings(env))


def test_router_fields_of_a_reading() -> None:
    reading = Reading(at=1.0, rate=2.0, response_time_p95=300.0, errors={"H12": 1}, memory_mb={"web.1": 100.0})
    fields = reading.router_fields()
    assert ROUTER_FIELDS == tuple(fields)
    assert (2.0, 300.0, {"H12": 1}, {"web.1": 100.0}, None) == (
        fields["rate"],
        fields["response_time_p95"],
        fields["errors"],
        fields["memory_mb"],
        fields["load"],
    )


# --- check --json -----------------------------------------------------------------------------------

TOKEN = "HRKU-router-test-token-123456789"
APP = "router-app"


@pytest.fixture
def heroku() -> Iterator[str]:
    with running(FakeHeroku(APP, TOKEN, {"web": (2, "Standard-1X")})) as url:
        yield url


def test_check_json_shows_the_router_fields(redis_url: str, heroku: str) -> None:
    """``check --json`` of a router process reports rate, response times, errors, memory and load."""
    import time

    now = time.time()
    newest = math.floor((now - GRACE_SECONDS - wire.SLOT_SECONDS) / wire.SLOT_SECONDS) * wire.SLOT_SECONDS
    store(
        redis_url,
        *[router_line(newest, 200)] * 30,
        router_line(newest, 30_000, code="H12", status=503),
        memory_line(newest, "web.1", "300.00MB"),
        load_line(newest, "web.1", "0.80"),
        now=now,
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HEROKU_API_KEY": TOKEN,
        "HEROKU_API_URL": heroku,
        "AUTOSCALER_APP": APP,
        "REDIS_URL": redis_url,
        **ROUTER,
    }
    proc = run_command("check", "--json", env=env)
    web = json.loads(proc.stdout)["processes"]["web"]
    assert set(ROUTER_FIELDS) <= set(web), proc.stderr
    assert (31 / 60, {"H12": 1}, {"web.1": 300.0}, {"web.1": 0.8}, 2) == (
        web["rate"],
        web["errors"],
        web["memory_mb"],
        web["load"],
        web["quantity"],
    )
    assert web["response_time_p50"] == pytest.approx(200, rel=0.04)
    assert web["response_time_p99"] == pytest.approx(30_000, rel=0.04)
