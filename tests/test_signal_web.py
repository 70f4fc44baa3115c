"""WebSource: request rate, queue-time percentiles and app time from the middleware's counts.

The counts are written by the real :class:`autoscaler.middleware.Recorder` into the real
Redis (database of the ``redis_url`` fixture), with request end times chosen by the test so
that slots and rates are exact; the middleware under real web servers is in
``test_middleware.py``. Only the malformed-data cases write hashes by hand, because the
recorder cannot produce them.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis.connection import Connection

from autoscaler.config import Settings, WebSettings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.middleware import Recorder
from autoscaler.signals import Reading
from autoscaler.signals.build import Connections
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.web import (
    GRACE_SECONDS,
    MAX_WINDOW,
    WebSource,
    WebStats,
    bucket_bounds,
    build,
    histogram_quantile,
)
from autoscaler.signals.webwire import EDGES_MS, SLOT_SECONDS, slot_key, slot_start
from tests.conftest import FakeClock
from tests.faultproxy import FaultProxy

# --- helpers shared with test_middleware.py -------------------------------------------------


def counting_client(url: str) -> tuple[redis.Redis, list[bytes]]:
    """A real client whose connections note every packet they send (each send is one round
    trip's request: a pipeline is one send) and every connect."""
    sent: list[bytes] = []

    class CountingConnection(Connection):
        def connect(self) -> None:
            if not self.is_connected:
                sent.append(b"<connect>")
            super().connect()

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    return redis.Redis(connection_pool=pool), sent


@contextmanager
def recorder_factory(redis_url: str, close_timeout: float, **defaults: Any) -> Iterator[Callable[..., Recorder]]:
    """Builds real Recorders writing to ``redis_url`` (or ``url=``), with ``defaults`` unless a
    call says otherwise; all closed without a last flush afterwards."""
    made: list[Recorder] = []

    def make(url: str | None = None, **kwargs: Any) -> Recorder:
        recorder = Recorder(url or redis_url, **(defaults | kwargs))
        made.append(recorder)
        return recorder

    try:
        yield make
    finally:
        for recorder in made:
            recorder.close(timeout=close_timeout, flush=False)


@pytest.fixture
def recorders(redis_url: str, clock: FakeClock) -> Iterator[Callable[..., Recorder]]:
    """Real Recorders of process ``web``, dyno ``web.1`` unless told otherwise, driven by the
    fake clock (their flusher thread sleeps; tests flush explicitly)."""
    options = {"process": "web", "dyno": "web.1", "clock": clock.time, "flush_interval": 3600}
    with recorder_factory(redis_url, 1.0, **options) as make:
        yield make


@pytest.fixture
def base(clock: FakeClock) -> int:
    """A slot start two minutes ago (recent enough for the recorder to keep its counts); the
    fake clock stands in it."""
    start = slot_start(time.time()) - 120
    clock.now = start + 1.0
    return start


def complete(slot: int) -> float:
    """The earliest ``now`` at which ``slot`` is the newest complete slot."""
    return slot + SLOT_SECONDS + GRACE_SECONDS


def in_bucket(ms: float, quantile_fraction: float) -> float:
    """What interpolation reports for a quantile falling ``quantile_fraction`` of the way into
    the bucket that holds ``ms``."""
    index = next(i for i in range(len(EDGES_MS) + 1) if bucket_bounds(i)[0] <= ms < bucket_bounds(i)[1])
    low, high = bucket_bounds(index)
    return low + (high - low) * quantile_fraction


# --- histogram maths --------------------------------------------------------------------------


def hist(**buckets: int) -> list[int]:
    """A histogram with the given counts at the given bucket indexes (``b3=5``)."""
    counts = [0] * (len(EDGES_MS) + 1)
    for name, count in buckets.items():
        counts[int(name[1:])] = count
    return counts


QUANTILE_CASES = [
    # (id, histogram, quantile, expected ms)
    ("empty histogram: no value", hist(), 0.95, None),
    ("one sample in [0, 1 ms): interpolated half-way for p50", hist(b0=1), 0.5, 0.5),
    ("one bucket, 10 samples: p95 at 95 % of its width", hist(b21=10), 0.95, 10.0 + (EDGES_MS[21] - 10.0) * 0.95),
    (
        "90 fast + 10 slow: p50 inside the fast bucket",
        hist(b21=90, b49=10),
        0.5,
        10.0 + (EDGES_MS[21] - 10.0) * 50 / 90,
    ),
    ("90 fast + 10 slow: p95 half-way into the slow bucket", hist(b21=90, b49=10), 0.95, in_bucket(260.0, 0.5)),
    ("90 fast + 10 slow: p99 90 % into the slow bucket", hist(b21=90, b49=10), 0.99, in_bucket(260.0, 0.9)),
    ("p100 is the top edge of the highest non-empty bucket", hist(b0=3, b5=1), 1.0, EDGES_MS[5]),
    ("the open last bucket (>= 31.6 s) reads as its lower edge", hist(b91=4), 0.5, EDGES_MS[90]),
    ("empty buckets between samples are skipped", hist(b1=1, b60=1), 0.75, in_bucket(EDGES_MS[59], 0.5)),
]


@pytest.mark.parametrize(
    ("counts", "quantile", "expected"), [c[1:] for c in QUANTILE_CASES], ids=[c[0] for c in QUANTILE_CASES]
)
def test_histogram_quantile(counts: list[int], quantile: float, expected: float | None) -> None:
    """Quantiles come from the cumulative counts, linearly interpolated within the bucket."""
    actual = histogram_quantile(counts, quantile)
    if expected is None:
        assert expected == actual
    else:
        assert expected == pytest.approx(actual)


@pytest.mark.parametrize("quantile", [0.0, -0.5, 1.5, math.nan])
def test_histogram_quantile_refuses_quantiles_outside_0_1(quantile: float) -> None:
    """A quantile outside (0, 1] is a programming error, not a reading."""
    with pytest.raises(ValueError, match="quantile"):
        histogram_quantile(hist(b1=1), quantile)


def test_bucket_edges_are_log_spaced_from_1ms_to_31_6s() -> None:
    """The bucket layout the middleware and the source share: 20 per decade, 1 ms .. 31.6 s."""
    ratios = {round(EDGES_MS[i + 1] / EDGES_MS[i], 9) for i in range(len(EDGES_MS) - 1)}
    assert (1.0, 31622.777, {round(10 ** (1 / 20), 9)}) == (EDGES_MS[0], round(EDGES_MS[-1], 3), ratios)


# --- reading ------------------------------------------------------------------------------------


def test_reading_from_recorded_requests(recorders: Callable[..., Recorder], client: redis.Redis, base: int) -> None:
    """Rate = requests / observed seconds; percentiles from the merged histogram; app time is
    the mean. 90 requests waited 10 ms and 10 waited 260 ms, each spent 40 ms in the app."""
    recorder = recorders()
    for i in range(100):
        at = base + (0.5 if i < 50 else SLOT_SECONDS + 0.5)
        recorder.record(at, 0.040, 10.0 if i % 10 else 260.0)
    assert recorder.flush()

    reading = WebSource(client, "web", window=10).read(complete(base + SLOT_SECONDS))

    expected = Reading(
        at=complete(base + SLOT_SECONDS),
        rate=100 / 10,
        queue_time_p50=pytest.approx(in_bucket(10.0, 50 / 90)),  # type: ignore[arg-type]
        queue_time_p95=pytest.approx(in_bucket(260.0, 0.5)),  # type: ignore[arg-type]
        queue_time_p99=pytest.approx(in_bucket(260.0, 0.9)),  # type: ignore[arg-type]
        app_time=40.0,
    )
    assert expected == reading


def test_worker_signals_are_not_reported(recorders: Callable[..., Recorder], client: redis.Redis, base: int) -> None:
    """A web reading has no depth, latency or busy count."""
    recorder = recorders()
    recorder.record(base + 1, 0.01, 5.0)
    recorder.flush()

    reading = WebSource(client).read(complete(base))

    assert (None, None, None, True) == (reading.depth, reading.latency, reading.busy, reading.ok)


def test_only_complete_slots_are_read(recorders: Callable[..., Recorder], client: redis.Redis, base: int) -> None:
    """A slot is read once it ended GRACE_SECONDS ago, so a half-flushed slot never lowers
    the rate: just before that its requests are not counted, just after they are."""
    recorder = recorders()
    recorder.record(base - SLOT_SECONDS + 1, 0.01, 5.0)  # the slot before: complete
    for _ in range(4):
        recorder.record(base + 1, 0.01, 5.0)
    recorder.flush()
    source = WebSource(client, window=60)

    before = source.stats(complete(base) - 0.01)
    after = source.stats(complete(base))

    assert (1, 5) == (before.requests, after.requests)


def test_idle_app_reads_zero(
    recorders: Callable[..., Recorder], client: redis.Redis, base: int, clock: FakeClock
) -> None:
    """Processes that are alive but got no request mark their slots: rate 0, nobody waited
    (percentiles 0.0), and there is no app time to average (None)."""
    recorder = recorders()
    recorder.start()
    for slot in (base, base + SLOT_SECONDS):
        clock.now = slot + 2.0
        assert recorder.flush()

    reading = WebSource(client, window=10).read(complete(base + SLOT_SECONDS))

    assert (0.0, 0.0, 0.0, 0.0, None) == (
        reading.rate,
        reading.queue_time_p50,
        reading.queue_time_p95,
        reading.queue_time_p99,
        reading.app_time,
    )


def test_requests_without_the_header_have_no_queue_time(
    recorders: Callable[..., Recorder], client: redis.Redis, base: int
) -> None:
    """Requests that did not come through a router setting X-Request-Start count for the
    rate and app time, but give no queue time (None, not 0)."""
    recorder = recorders()
    for _ in range(5):
        recorder.record(base + 1, 0.020, None)
    recorder.flush()

    reading = WebSource(client, window=5).read(complete(base))

    assert (1.0, None, None, None, 20.0) == (
        reading.rate,
        reading.queue_time_p50,
        reading.queue_time_p95,
        reading.queue_time_p99,
        reading.app_time,
    )


def test_no_slot_written_is_unknown(client: redis.Redis, base: int) -> None:
    """No key for any slot of the window: no middleware ran (or it writes elsewhere). That is
    an unknown reading with a hint, never rate 0."""
    with pytest.raises(SignalError, match=r"no request counts .* is the middleware installed"):
        WebSource(client, "web", window=60).read(complete(base))


def test_slots_nobody_wrote_are_left_out_of_the_rate(
    recorders: Callable[..., Recorder], client: redis.Redis, base: int, clock: FakeClock
) -> None:
    """The middleware was deployed 10 s ago: the rate is over the 10 s it was running, not
    diluted over the whole 60 s window; an idle mark counts as observed time."""
    recorder = recorders()
    clock.now = base - SLOT_SECONDS + 1
    recorder.start()
    recorder.flush()  # alive, idle, in the slot before
    for _ in range(30):
        recorder.record(base + 2, 0.01, 1.0)
    recorder.flush()

    stats = WebSource(client, window=60).stats(complete(base))

    assert (30, 10.0, 12, 3.0) == (stats.requests, stats.seconds, stats.slots, stats.rate)


def test_dynos_are_merged_and_listed(recorders: Callable[..., Recorder], client: redis.Redis, base: int) -> None:
    """Several dynos (and several processes per dyno) add into the same fields; each dyno's
    request count is kept too."""
    web1a, web1b, web2 = recorders(dyno="web.1"), recorders(dyno="web.1"), recorders(dyno="web.2")
    for recorder, count in ((web1a, 2), (web1b, 3), (web2, 4)):
        for _ in range(count):
            recorder.record(base + 1, 0.01, 3.0)
        recorder.flush()

    stats = WebSource(client, window=5).stats(complete(base))

    assert (9, {"web.1": 5, "web.2": 4}) == (stats.requests, dict(stats.dynos))


def test_reading_is_one_round_trip_and_writes_nothing(
    recorders: Callable[..., Recorder], redis_url: str, redis_client: redis.Redis, base: int
) -> None:
    """All slots of the window come back in one pipeline, and reading changes no key."""
    recorder = recorders()
    recorder.record(base + 1, 0.01, 3.0)
    recorder.flush()
    counting, sent = counting_client(redis_url)
    source = WebSource(counting, window=600)
    source.read(complete(base))  # connects
    before = {key: (redis_client.dump(key), redis_client.ttl(key)) for key in redis_client.scan_iter()}
    sent.clear()

    source.read(complete(base))

    after = {key: (redis_client.dump(key), redis_client.ttl(key)) for key in redis_client.scan_iter()}
    assert (1, before) == (len(sent), after)
    counting.close()


def test_window_is_rounded_up_to_whole_slots(client: redis.Redis) -> None:
    """A 7 s window reads two 5 s slots, the newest complete one first."""
    source = WebSource(client, window=7)

    assert (10.0, [1000, 995]) == (source.window, source.slot_starts(1000 + SLOT_SECONDS + GRACE_SECONDS))


CONFIG_CASES = [
    ("zero window", {"window": 0.0}, "window: must be > 0"),
    ("window longer than the keys live", {"window": MAX_WINDOW + 1}, "window: must be > 0 and <= 600"),
    ("NaN window", {"window": math.nan}, "window:"),
    ("process with a space", {"process": "web 1"}, "process: invalid process type name"),
    ("empty process", {"process": ""}, "process: invalid"),
    ("prefix with a space", {"prefix": "my app"}, "prefix: invalid key prefix"),
]


@pytest.mark.parametrize(("kwargs", "message"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_invalid_configuration_is_refused(client: redis.Redis, kwargs: dict[str, object], message: str) -> None:
    """Bad settings are a ConfigError at start-up, naming the field."""
    with pytest.raises(ConfigError, match=message):
        WebSource(client, **kwargs)  # type: ignore[arg-type]


MALFORMED_CASES = [
    ("count not a number", {"n": "many"}, "field 'n' is not an integer"),
    ("negative count", {"n": "-3"}, "field 'n' is out of range"),
    ("absurd count", {"n": str(10**12)}, "field 'n' is out of range"),
    ("unknown bucket from another version", {"n": "1", "qn": "1", "q:200": "1"}, "bucket '200'"),
    ("histogram does not add up", {"n": "5", "qn": "3", "q:4": "1"}, "inconsistent web request counts"),
    ("more with a queue time than requests", {"n": "1", "qn": "2", "q:4": "2"}, "inconsistent web request counts"),
]


@pytest.mark.parametrize(("fields", "message"), [c[1:] for c in MALFORMED_CASES], ids=[c[0] for c in MALFORMED_CASES])
def test_malformed_counts_are_unknown(
    redis_client: redis.Redis, client: redis.Redis, base: int, fields: dict[str, str], message: str
) -> None:
    """Values no middleware writes make the reading unknown, never a number."""
    for field, value in fields.items():
        redis_client.hset(slot_key("autoscaler:web", "web", base), field, value)

    with pytest.raises(SignalError, match=message):
        WebSource(client, window=5).read(complete(base))


def test_fields_of_a_newer_middleware_are_ignored(redis_client: redis.Redis, client: redis.Redis, base: int) -> None:
    """A field this version does not know (a later middleware may add some) is skipped."""
    redis_client.hset(slot_key("autoscaler:web", "web", base), mapping={"n": "5", "x:new": "whatever"})

    assert 1.0 == WebSource(client, window=5).read(complete(base)).rate


def test_redis_outage_is_unknown_and_recovers(recorders: Callable[..., Recorder], redis_url: str, base: int) -> None:
    """Redis goes away mid-run: the reading becomes unknown (not 0); once Redis is back the
    same source reads again, with the same long-lived client."""
    recorder = recorders()
    recorder.record(base + 1, 0.01, 2.0)
    recorder.flush()
    proxy = FaultProxy("127.0.0.1", 6379)
    proxy.start()
    source_client = connect(proxy.redis_url(redis_url), timeout=1.0)
    source = WebSource(source_client, window=5)
    try:
        first = source.read(complete(base)).rate
        proxy.stop()
        with pytest.raises(SignalError, match="cannot read web request counts of 'web'"):
            source.read(complete(base))
        proxy.start()
        again = source.read(complete(base)).rate
    finally:
        proxy.stop()
        source.close()

    assert (0.2, 0.2) == (first, again)


def test_read_error_masks_the_password(base: int) -> None:
    """The error names the server with its password masked."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    source = WebSource(connect(f"redis://:s3cret-pw@127.0.0.1:{port}/0", timeout=0.5))

    with pytest.raises(SignalError) as caught:
        source.read(complete(base))

    assert ("s3cret-pw" not in str(caught.value), f"redis://:***@127.0.0.1:{port}/0" in str(caught.value)) == (
        True,
        True,
    )


def test_build_reads_the_process_named_in_the_configuration(
    recorders: Callable[..., Recorder], redis_url: str, base: int
) -> None:
    """``build`` reads the keys of the configured process type name, with its PREFIX and
    WINDOW, from REDIS_URL."""
    recorder = Recorder(redis_url, process="api", dyno="api.1", prefix="shop:web", flush_interval=3600)
    try:
        for _ in range(3):
            recorder.record(base + 1, 0.01, 2.0)
        recorder.flush()
    finally:
        recorder.close(timeout=1.0, flush=False)
    process = WebSettings(source="web", max_dynos=5, queue_time_ms=50, window=9, prefix="shop:web")
    settings = Settings(processes={"api": process}, REDIS_URL=redis_url)

    source = build("api", process, settings, Connections())
    try:
        stats = source.stats(complete(base))
    finally:
        source.close()

    assert (10.0, 3, {"api.1": 3}) == (source.window, stats.requests, dict(stats.dynos))


def test_stats_properties_without_requests() -> None:
    """Empty stats: rate 0, queue time 0 (nobody waited), app time unknown."""
    stats = WebStats(requests=0, queued=0, app_us=0, seconds=5.0, slots=1, dynos={}, histogram=tuple(hist()))

    assert (0.0, 0.0, None) == (stats.rate, stats.queue_time(0.95), stats.app_time)
