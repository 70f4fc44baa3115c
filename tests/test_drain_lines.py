"""Router and runtime-metrics lines, the tallies of a batch, and the service-time histogram."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.drain import wire
from autoscaler.drain.lines import MAX_KEYS, Batch, parse_metrics, parse_router
from autoscaler.signals.webwire import process_type
from tests.test_drain_frames import NOW, app_line, load_line, memory_line, router_line


def message(line: str) -> bytes:
    """The MSG part of a syslog line (after the six header fields)."""
    return line.encode().split(b" ", 6)[6].rstrip(b"\n")


@pytest.mark.parametrize(
    ("dyno", "expected"),
    [
        ("web.1", "web"),
        ("web.12", "web"),
        ("worker.3", "worker"),
        ("my-api.2", "my-api"),
        ("web-12a34b56d-e78f9", "web"),
        ("my-api-12a34b56d-e78f9", "my-api"),
        ("web", "web"),
        ("my-cool-worker", "my-cool-worker"),
        ("run.1234", "run"),
        ("heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456", "heroku"),
        ("", None),
        (".1", None),
        ("web app.1", None),
        ("w\u00e9b.1", None),
    ],
)
def test_process_type_of_a_dyno_never_reads_the_ordinal(dyno: str, expected: str | None) -> None:
    """Cedar's ``web.1`` and Fir's ``web-12a34b56d-e78f9`` are both ``web``; names that cannot be a key are None."""
    assert expected == process_type(dyno)


def test_a_router_line() -> None:
    line = parse_router(message(router_line(NOW, 97, dyno="web.2")))
    assert line is not None
    assert ("web", 97, None) == (line.process, line.service_ms, line.code)


def test_an_h12_counts_as_30_seconds_whatever_its_service() -> None:
    line = parse_router(message(router_line(NOW, 29_998, code="H12", status=503)))
    assert line is not None
    assert ("web", 30_000, "H12") == (line.process, line.service_ms, line.code)


@pytest.mark.parametrize("code", ["H13", "H18", "H27"])
def test_other_router_errors_keep_their_service_time(code: str) -> None:
    line = parse_router(message(router_line(NOW, 1234, code=code, status=503)))
    assert line is not None
    assert (1234, code) == (line.service_ms, line.code)


def test_a_line_without_a_dyno_is_the_web_process_without_a_time() -> None:
    """H14 (no web dynos running): ``dyno= connect= service=``."""
    text = (
        'at=error code=H14 desc="No web processes running" method=GET path="/" host=a.herokuapp.com '
        'request_id=x fwd="1.2.3.4" dyno= connect= service= status=503 bytes= protocol=https'
    )
    line = parse_router(text.encode())
    assert line is not None
    assert ("web", None, "H14") == (line.process, line.service_ms, line.code)


@pytest.mark.parametrize(
    "path",
    [
        "/x service=1ms dyno=worker.1",
        '/x" service=1ms dyno=worker.1 "',
        "/?q=at=error code=H12",
        '/x\\" service=1ms',
    ],
)
def test_a_client_cannot_pose_as_another_time_dyno_or_error(path: str) -> None:
    """What a client controls is quoted: fields read after the last quote (dyno, service) and
    before the first (at, code) come from the router."""
    line = parse_router(message(router_line(NOW, 450, path=path)))
    assert line is not None
    assert ("web", 450, None) == (line.process, line.service_ms, line.code)


@pytest.mark.parametrize(
    ("service", "expected"),
    [("97ms", 97), ("0ms", 0), ("97.6ms", 98), ("97", None), ("ms", None), ("-3ms", None), ("nanms", None),
     ("infms", None), ("1e99ms", None), ("", None)],
)  # fmt: skip
def test_service_times(service: str, expected: int | None) -> None:
    line = parse_router(message(router_line(NOW, service)))
    assert line is not None
    assert expected == line.service_ms


def test_a_line_without_at_is_not_a_request() -> None:
    assert parse_router(b"method=GET path=/ dyno=web.1 service=3ms") is None


def test_metrics_lines() -> None:
    memory = parse_metrics(message(memory_line(NOW, "web.2", "212.50MB")))
    load = parse_metrics(message(load_line(NOW, "web-12a34b56d-e78f9", "1.25")))
    assert memory is not None
    assert load is not None
    assert ("web", "web.2", 212.5, None) == (memory.process, memory.dyno, memory.memory_mb, memory.load)
    assert ("web", "web-12a34b56d-e78f9", None, 1.25) == (load.process, load.dyno, load.memory_mb, load.load)


@pytest.mark.parametrize(
    "text",
    [
        b"source=web.1 sample#memory_rss=21.22MB",
        b"source=web.1 sample#memory_total=lots",
        b"source=web.1 sample#memory_total=21.00GB",
        b"source=web.1 sample#load_avg_1m=nan",
        b"source= sample#load_avg_1m=0.5",
        b"source=web:1 sample#load_avg_1m=0.5",
        b"State changed from up to down",
    ],
)
def test_not_a_usable_metrics_line(text: bytes) -> None:
    assert parse_metrics(text) is None


# --- a batch ------------------------------------------------------------------------------------


def add_lines(batch: Batch, *lines: str) -> None:
    batch.add_frames([line.encode() for line in lines])


def test_a_batch_tallies_by_process_and_slot() -> None:
    batch = Batch(NOW)
    at = float(wire.slot_start(NOW - 30))
    add_lines(
        batch,
        router_line(at, 97),
        router_line(at + 1, 97),
        router_line(at + 2, 30_000, code="H12"),
        router_line(at + wire.SLOT_SECONDS, 5),
        memory_line(at, "web.1", "100.00MB"),
        memory_line(at + 1, "web.1", "120.50MB"),
        load_line(at, "web.2", "0.75"),
        app_line(at),
    )
    first, second = int(at), int(at) + wire.SLOT_SECONDS
    assert (8, 4, 3, 1) == (batch.lines, batch.router, batch.metrics, batch.ignored)
    assert {("web", first), ("web", second)} == set(batch.tallies)
    tally = batch.tallies[("web", first)]
    assert {
        "n": 3,
        "ms": 97 + 97 + 30_000,
        wire.BUCKET_FIELDS[wire.bucket_of(97)]: 2,
        wire.BUCKET_FIELDS[wire.bucket_of(30_000)]: 1,
        "e:H12": 1,
    } == tally.counts
    assert {"m:web.1": "120.5", "l:web.2": "0.75"} == tally.latest


@pytest.mark.parametrize(
    ("offset", "kept"),
    [(-wire.MAX_LINE_AGE - 1, False), (-wire.MAX_LINE_AGE + 1, True), (wire.MAX_LINE_AHEAD - 1, True),
     (wire.MAX_LINE_AHEAD + 1, False)],
)  # fmt: skip
def test_lines_from_too_long_ago_or_the_future_are_ignored(offset: float, kept: bool) -> None:
    batch = Batch(NOW)
    add_lines(batch, router_line(NOW + offset), memory_line(NOW + offset))
    assert (2 if kept else 0, 0 if kept else 2) == (batch.router + batch.metrics, batch.ignored)


def test_platform_lines_that_are_neither_are_ignored() -> None:
    batch = Batch(NOW)
    add_lines(
        batch,
        f"<45>1 {router_line(NOW).split()[1]} host heroku web.1 - State changed from starting to up\n",
        f"<172>1 {router_line(NOW).split()[1]} host heroku logplex - Error L10 (output buffer overflow)\n",
        router_line(NOW).replace("heroku router", "app router"),
    )
    assert (3, 0, 0, {}) == (batch.ignored, batch.router, batch.metrics, batch.tallies)


def test_a_batch_touches_a_bounded_number_of_keys() -> None:
    batch = Batch(NOW)
    add_lines(batch, *(router_line(NOW - 5, dyno=f"p{i}.1") for i in range(MAX_KEYS + 10)))
    assert (MAX_KEYS, MAX_KEYS, 10) == (len(batch.tallies), batch.router, batch.ignored)


# --- the histogram --------------------------------------------------------------------------------


def test_buckets_are_at_most_4_percent_wide() -> None:
    edges = wire.EDGES_MS
    assert list(edges) == sorted(set(edges))
    assert all(high - 1 - low <= 0.04 * low for low, high in itertools.pairwise(edges))
    assert edges[-1] >= 60_000
    assert wire.BUCKETS < 250
    assert (0, 1, 2, len(edges)) == (wire.bucket_of(0), wire.bucket_of(1), wire.bucket_of(2), wire.bucket_of(10**8))


def exact_quantile(values: list[int], quantile: float) -> int:
    """The nearest-rank quantile: the smallest value with at least ``quantile`` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def histogram(values: list[int]) -> list[int]:
    counts = [0] * wire.BUCKETS
    for value in values:
        counts[wire.bucket_of(value)] += 1
    return counts


@given(st.lists(st.integers(0, 60_000), min_size=1, max_size=400), st.sampled_from([0.5, 0.95, 0.99]))
def test_a_histogram_quantile_is_within_4_percent_of_the_exact_one(values: list[int], quantile: float) -> None:
    estimate = wire.histogram_quantile(histogram(values), quantile)
    exact = exact_quantile(values, quantile)
    assert estimate is not None
    assert abs(estimate - exact) <= 0.04 * exact


def test_small_times_are_exact_and_the_open_bucket_reads_its_edge() -> None:
    assert 7.0 == wire.histogram_quantile(histogram([7] * 10), 0.95)
    assert float(wire.EDGES_MS[-1]) == wire.histogram_quantile(histogram([10**7]), 0.5)
    assert wire.histogram_quantile([0] * wire.BUCKETS, 0.5) is None
    with pytest.raises(ValueError, match="quantile"):
        wire.histogram_quantile([1], 0.0)
