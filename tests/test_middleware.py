"""autoscaler.middleware: header parsing, the recorder, and the middleware under real servers.

Servers are real and on loopback: werkzeug's threaded WSGI server and uvicorn in a thread
of this process (so a test can hand the middleware a recorder whose Redis traffic it
counts), and gunicorn and uvicorn as subprocesses serving the examples in ``examples/``
(Flask, FastAPI, Django under WSGI and ASGI), which use the middleware exactly as an app
would: the default process name, REDIS_URL from the environment, the 2 s flush. What they
wrote is read back with :class:`autoscaler.signals.web.WebSource`.
"""

from __future__ import annotations

import ast
import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
import uvicorn
from werkzeug.serving import WSGIRequestHandler, make_server

from autoscaler.errors import SignalError
from autoscaler.middleware import (
    AutoscalerASGIMiddleware,
    AutoscalerWSGIMiddleware,
    Message,
    Receive,
    Recorder,
    Scope,
    Send,
    make_client,
    parse_request_start,
    queue_time_ms,
    shared_recorder,
)
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.web import GRACE_SECONDS, WebSource, WebStats, bucket_bounds
from autoscaler.signals.webwire import EDGES_MS, KEY_TTL, SLOT_SECONDS, slot_key, slot_start
from tests.conftest import ROOT, FakeClock
from tests.faultproxy import FaultProxy
from tests.test_signal_web import counting_client, recorder_factory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

NOW = 1_700_000_000.0
NOW_MS = NOW * 1000


# --- parsing ----------------------------------------------------------------------------------

PARSE_CASES = [
    # (id, header, epoch ms)
    ("Heroku: integer milliseconds", "1700000000123", 1700000000123.0),
    ("bytes, as ASGI servers pass headers", b"1700000000123", 1700000000123.0),
    ("surrounding spaces", "  1700000000123 ", 1700000000123.0),
    ("nginx: t= seconds with decimals", "t=1700000000.123", pytest.approx(1700000000123.0)),
    ("seconds without t=", "1700000000", 1700000000000.0),
    ("Apache: t= microseconds", "t=1700000000123456", pytest.approx(1700000000123.456)),
    ("microseconds without t=", "1700000000123456", pytest.approx(1700000000123.456)),
    ("Render: nanoseconds", "1700000000123456789", pytest.approx(1700000000123.4568)),
    ("capital T=", "T=1700000000123", 1700000000123.0),
    ("only the first token is read", "t=1700000000123456 D=42", pytest.approx(1700000000123.456)),
    ("missing", None, None),
    ("empty", "", None),
    ("only t=", "t=", None),
    ("garbage", "yesterday", None),
    ("hex", "0x1a", None),
    ("negative", "-1700000000123", None),
    ("zero", "0", None),
    ("before 2000 in any unit", "123456", None),
    ("NaN", "nan", None),
    ("infinity", "inf", None),
    ("overflowing exponent", "1e999", None),
    ("not latin-1 text", "１７００", None),
]


@pytest.mark.parametrize(("header", "expected"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse_request_start(header: str | bytes | None, expected: object) -> None:
    """The unit is picked by magnitude (2000-01-01 in ns, µs, ms, s); garbage is None, never
    an exception."""
    assert expected == parse_request_start(header)


QUEUE_CASES = [
    # (id, header, queue time in ms at NOW)
    ("250 ms ago", str(int(NOW_MS - 250)), 250.0),
    ("250 ms ago, in seconds with t=", f"t={NOW - 0.25:.3f}", pytest.approx(250.0, abs=0.01)),
    ("250 ms ago, in microseconds", str(int(NOW_MS * 1000 - 250_000)), pytest.approx(250.0, abs=0.01)),
    ("250 ms ago, in nanoseconds", str(int(NOW_MS * 1_000_000 - 250_000_000)), pytest.approx(250.0, abs=0.01)),
    ("now", str(int(NOW_MS)), 0.0),
    ("a little in the future (clock skew): 0", str(int(NOW_MS + 40)), 0.0),
    ("59 minutes ago", str(int(NOW_MS - 59 * 60_000)), 59 * 60_000.0),
    ("more than an hour ago: garbage, no sample", str(int(NOW_MS - 3_600_001)), None),
    ("more than an hour in the future: garbage, no sample", str(int(NOW_MS + 3_600_001)), None),
    ("missing", None, None),
    ("garbage", "soon", None),
]


@pytest.mark.parametrize(("header", "expected"), [c[1:] for c in QUEUE_CASES], ids=[c[0] for c in QUEUE_CASES])
def test_queue_time(header: str | None, expected: object) -> None:
    """Queue time = now − X-Request-Start, clamped at 0; no sample for a missing, garbage or
    absurd header."""
    assert expected == queue_time_ms(header, NOW)


# --- helpers ------------------------------------------------------------------------------------


def start_header(waited_ms: float) -> str:
    """X-Request-Start as Heroku's router writes it, ``waited_ms`` ago."""
    return str(int(time.time() * 1000 - waited_ms))


def bucket_of(ms: float) -> int:
    return bisect_right(EDGES_MS, ms)


def read_after_flush(source: WebSource, requests: int, timeout: float = 8.0) -> WebStats:
    """The stats including the current slot, once ``requests`` requests have been flushed."""
    deadline = time.monotonic() + timeout
    stats: WebStats | None = None
    while True:
        try:
            stats = source.stats(time.time() + SLOT_SECONDS + GRACE_SECONDS)
        except SignalError:
            stats = None
        if stats is not None and stats.requests >= requests:
            return stats
        if time.monotonic() > deadline:
            pytest.fail(f"the middleware did not flush {requests} requests within {timeout}s: {stats}")
        time.sleep(0.05)


class Traffic:
    """Requests sent with X-Request-Start ``waited_ms`` ago: the bounds the measured queue
    time must fall in (at least ``waited_ms``, at most that plus the request's round trip)
    and therefore the histogram buckets any quantile must be reported in."""

    def __init__(self) -> None:
        self.sent = 0
        self.low_ms = float("inf")
        self.high_ms = 0.0

    def get(self, http: httpx.Client, url: str, waited_ms: float | None = None) -> httpx.Response:
        headers = {} if waited_ms is None else {"X-Request-Start": start_header(waited_ms)}
        started = time.perf_counter()
        response = http.get(url, headers=headers)
        took_ms = (time.perf_counter() - started) * 1000
        self.sent += 1
        if waited_ms is not None:
            self.low_ms = min(self.low_ms, waited_ms)
            self.high_ms = max(self.high_ms, waited_ms + took_ms + 1)  # +1: the header is whole ms
        return response

    def allows(self, queue_ms: float | None) -> bool:
        """Is a reported quantile within the buckets of the queue times that were possible?"""
        low = bucket_bounds(bucket_of(self.low_ms))[0]
        high = bucket_bounds(bucket_of(self.high_ms))[1]
        return queue_ms is not None and low <= queue_ms <= high


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=15.0) as client:
        yield client


@pytest.fixture
def recorders(redis_url: str) -> Iterator[Callable[..., Recorder]]:
    """Real recorders (flusher threads running), closed without a last flush afterwards."""
    with recorder_factory(redis_url, 0.2) as make:
        yield make


@pytest.fixture
def source(redis_url: str) -> Iterator[WebSource]:
    """The daemon's side: the web source reading process ``web`` over 60 s."""
    client = connect(redis_url)
    try:
        yield WebSource(client, "web", window=60)
    finally:
        client.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    """werkzeug's threaded WSGI server in a thread of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def asgi_server(app: Any) -> Iterator[str]:
    """uvicorn in a thread of this process, with the lifespan protocol on."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def server_process(args: list[str], redis_url: str, log: Path) -> Iterator[str]:
    """A web server subprocess serving on a free loopback port (``{port}`` in ``args``), with
    REDIS_URL set as Heroku sets it and no DYNO (so each process is its own hostname-pid
    dyno). Waits until it answers."""
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DYNO", "REDIS_URL", "REDIS_TLS_URL"}}
    env["REDIS_URL"] = redis_url
    command = [sys.executable, "-m", *(a.format(port=port) for a in args)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command)} did not start:\n{log.read_text()}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def plain_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI app: ``/`` answers at once; ``/stream`` sends 3 chunks 50 ms apart; ``/boom``
    raises."""
    path = environ.get("PATH_INFO", "/")
    if path == "/boom":
        raise RuntimeError("boom")
    start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/stream":
        return streamed()
    return [b"ok"]


def streamed() -> Iterator[bytes]:
    for _ in range(3):
        time.sleep(0.05)
        yield b"chunk"


async def plain_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app with lifespan support: ``/`` answers at once; ``/stream`` sends two more
    body chunks 50 ms apart."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/stream":
        for _ in range(2):
            await asyncio.sleep(0.05)
            await send({"type": "http.response.body", "body": b"chunk", "more_body": True})
    await send({"type": "http.response.body", "body": b"ok"})


# --- the recorder ---------------------------------------------------------------------------------


def test_flush_writes_the_documented_layout(
    recorders: Callable[..., Recorder], redis_client: redis.Redis, clock: FakeClock
) -> None:
    """One hash per process type and slot: request count, count with a queue time, summed app
    time in µs, one field per non-empty histogram bucket and one per dyno, with a TTL."""
    slot = slot_start(time.time()) - 60
    clock.now = slot + 3
    recorder = recorders(process="web", dyno="web.7", clock=clock.time, flush_interval=3600)
    recorder.record(slot + 1.5, 0.010, 0.5)
    recorder.record(slot + 2.5, 0.030, 300.0)
    recorder.record(slot + 4.9, 0.002, None)

    assert recorder.flush()

    key = slot_key("autoscaler:web", "web", slot)
    expected = {
        b"n": b"3",
        b"qn": b"2",
        b"app_us": b"42000",
        b"q:0": b"1",
        f"q:{bucket_of(300.0)}".encode(): b"1",
        b"d:web.7": b"3",
    }
    assert (expected, True) == (redis_client.hgetall(key), 0 < redis_client.ttl(key) <= KEY_TTL)


def test_idle_process_marks_its_slot(recorders: Callable[..., Recorder], redis_client: redis.Redis) -> None:
    """A process with no request writes n += 0 and its dyno field once per slot, so the
    autoscaler can tell an idle app (rate 0) from one without the middleware (unknown)."""
    recorder = recorders(process="web", dyno="web.2", flush_interval=3600)
    recorder.start()
    before = slot_start(time.time())

    assert recorder.flush()

    keys = {slot_key("autoscaler:web", "web", s) for s in (before, slot_start(time.time()))}
    assert [{b"n": b"0", b"d:web.2": b"0"}] == [redis_client.hgetall(k) for k in keys if redis_client.exists(k)]


def test_request_path_makes_no_redis_call(
    redis_url: str, http: httpx.Client, source: WebSource, recorders: Callable[..., Recorder]
) -> None:
    """50 requests, 8 at a time, through a real server: the Redis client sent nothing and did
    not even connect until the flush; then the flush (after the connection handshake) is one
    MULTI/EXEC round trip with all 50."""
    client, sent = counting_client(redis_url)
    recorder = recorders(client=client, process="web", flush_interval=3600)
    app = AutoscalerWSGIMiddleware(plain_app, recorder=recorder)
    with wsgi_server(app) as url, ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: http.get(url).status_code, range(50)))
    during = list(sent)

    assert recorder.flush()

    stats = read_after_flush(source, 50)
    writes = [packet for packet in sent if b"HINCRBY" in packet]
    assert ([200] * 50, [], 50, b"<connect>", 1) == (codes, during, stats.requests, sent[0], len(writes))
    assert (True, True) == (b"MULTI" in writes[0], b"EXEC" in writes[0])
    client.close()


def test_counts_survive_a_redis_outage(
    redis_url: str, recorders: Callable[..., Recorder], source: WebSource, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis goes away: flushes fail and the counts wait in memory; Redis comes back: the
    next flush writes them all, and the recovery is logged."""
    proxy = FaultProxy("127.0.0.1", 6379)
    proxy.start()
    recorder = recorders(proxy.redis_url(redis_url), process="web", flush_interval=3600)
    try:
        recorder.record(time.time(), 0.01, 12.0)
        assert recorder.flush()
        proxy.stop()
        for _ in range(4):
            recorder.record(time.time(), 0.01, 12.0)
        failed = recorder.flush()
        waiting = recorder.pending_requests()
        proxy.start()
        recovered = recorder.flush()
    finally:
        proxy.stop()

    stats = read_after_flush(source, 5)
    logged = [r.getMessage() for r in caplog.records if r.name == "autoscaler.middleware"]
    assert (False, 4, True, 5) == (failed, waiting, recovered, stats.requests)
    assert "works again after 1 failed attempts" in logged[-1]


def test_counts_older_than_the_buffer_are_dropped(
    recorders: Callable[..., Recorder], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis stays down, counts older than RETAIN_SECONDS (10 min) are dropped, so
    memory stays bounded; the number dropped is kept."""
    clock.now = time.time()
    recorder = recorders(f"redis://127.0.0.1:{closed_port()}/0", clock=clock.time, flush_interval=3600)
    for _ in range(7):
        recorder.record(clock.now, 0.01, 5.0)
    recorder.flush()
    clock.advance(601)
    recorder.record(clock.now, 0.01, 5.0)

    recorder.flush()

    assert (1, 7) == (recorder.pending_requests(), recorder.dropped)


def test_failing_flushes_warn_once_a_minute(
    recorders: Callable[..., Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    """Five failed flushes in a row give one warning naming the server (password masked),
    not five."""
    port = closed_port()
    recorder = recorders(f"redis://:s3cret@127.0.0.1:{port}/0", flush_interval=3600)
    recorder.record(time.time(), 0.01, 5.0)

    results = [recorder.flush() for _ in range(5)]

    logged = [r.getMessage() for r in caplog.records if r.name == "autoscaler.middleware"]
    assert ([False] * 5, 1) == (results, len(logged))
    assert f"cannot flush request counts to redis://:***@127.0.0.1:{port}/0: ConnectionError" in logged[0]
    assert "s3cret" not in logged[0]


def test_outage_warning_reaches_stderr_without_logging_set_up() -> None:
    """An app that configured no logging still sees the outage warning, on stderr."""
    code = (
        "import time\n"
        "from autoscaler.middleware import Recorder\n"
        f"recorder = Recorder('redis://127.0.0.1:{closed_port()}/0', flush_interval=3600)\n"
        "recorder.record(time.time(), 0.01, 1.0)\n"
        "recorder.flush()\n"
        "recorder.close(timeout=0.1, flush=False)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30)

    assert (0, "", True) == (result.returncode, result.stdout, "cannot flush request counts" in result.stderr)


def test_forked_child_starts_clean(redis_url: str, source: WebSource) -> None:
    """A child forked while the parent's flusher held both locks (gunicorn --preload can fork
    at any moment) gets fresh locks, drops the parent's unflushed counts instead of writing
    them twice, and flushes its own under its own hostname-pid; the parent's counts are its
    own to flush."""
    recorder = Recorder(redis_url, process="web", flush_interval=3600)
    parent_dyno = recorder.dyno
    try:
        recorder.start()
        for _ in range(3):
            recorder.record(time.time(), 0.01, 5.0)
        with recorder._lock, recorder._flush_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
            if pid == 0:  # the child: never returns into pytest
                code = 3
                try:
                    clean = recorder.pending_requests() == 0
                    recorder.record(time.time(), 0.01, 5.0)
                    code = 0 if clean and recorder.flush(timeout=5) else 1
                finally:
                    os._exit(code)
        deadline = time.monotonic() + 15
        while (status := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung: it inherited a held lock")
            time.sleep(0.02)
        child_only = read_after_flush(source, 1).dynos
        assert recorder.flush()
        both = read_after_flush(source, 4).dynos
    finally:
        recorder.close(timeout=1.0, flush=False)

    child_dyno = f"{socket.gethostname()}-{pid}"
    assert (0, {child_dyno: 1}, {child_dyno: 1, parent_dyno: 3}) == (
        os.waitstatus_to_exitcode(status[1]),
        {d: n for d, n in child_only.items() if n},
        {d: n for d, n in both.items() if n},
    )


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: a hung Redis."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.mark.parametrize("outage", ["connection refused", "server hangs"])
def test_requests_are_fast_and_succeed_while_redis_is_down(
    outage: str, hanging_port: int, http: httpx.Client, recorders: Callable[..., Recorder]
) -> None:
    """With the flusher failing (or stuck for its 2 s socket timeout) every 50 ms, requests
    still answer 200, each far quicker than one Redis timeout: they never wait on Redis."""
    port = closed_port() if outage == "connection refused" else hanging_port
    recorder = recorders(f"redis://127.0.0.1:{port}/0", flush_interval=0.05)
    app = AutoscalerWSGIMiddleware(plain_app, recorder=recorder)
    durations: list[float] = []
    codes: list[int] = []
    with wsgi_server(app) as url:
        for _ in range(40):
            started = time.perf_counter()
            codes.append(http.get(url, headers={"X-Request-Start": start_header(5)}).status_code)
            durations.append(time.perf_counter() - started)

    # The server closes the last response (which records it) just after the client has it: wait for that.
    deadline = time.monotonic() + 5
    while recorder.pending_requests() < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ([200] * 40, True, 40) == (codes, max(durations) < 0.5, recorder.pending_requests())


# --- WSGI and ASGI under real servers -----------------------------------------------------------


def test_wsgi_under_a_threaded_server(
    http: httpx.Client, source: WebSource, recorders: Callable[..., Recorder]
) -> None:
    """90 requests that waited 20 ms and 10 that waited 400 ms at the router: p50 reads 20 ms
    and p95/p99 400 ms, within the histogram's buckets; rate = requests / observed seconds."""
    recorder = recorders(process="web", flush_interval=0.1)
    fast, slow = Traffic(), Traffic()
    with wsgi_server(AutoscalerWSGIMiddleware(plain_app, recorder=recorder)) as url:
        for i in range(100):
            (slow.get(http, url, 400) if i % 10 == 9 else fast.get(http, url, 20))

    stats = read_after_flush(source, 100)

    reading = source.read(time.time() + SLOT_SECONDS + GRACE_SECONDS)
    assert (100, 100, True, True, True) == (
        stats.requests,
        stats.queued,
        fast.allows(reading.queue_time_p50),
        slow.allows(reading.queue_time_p95),
        slow.allows(reading.queue_time_p99),
    )
    assert stats.requests / stats.seconds == reading.rate


def test_wsgi_app_time_lasts_until_the_body_is_sent(
    http: httpx.Client, source: WebSource, recorders: Callable[..., Recorder]
) -> None:
    """A WSGI response streamed in 3 chunks 50 ms apart counts 150 ms or more of app time:
    the worker is busy until the server closes the response."""
    recorder = recorders(process="web", flush_interval=0.1)
    with wsgi_server(AutoscalerWSGIMiddleware(plain_app, recorder=recorder)) as url:
        body = http.get(f"{url}/stream").content

    stats = read_after_flush(source, 1)

    assert (b"chunk" * 3, True) == (body, stats.app_time is not None and 150 <= stats.app_time < 1000)


def test_wsgi_request_that_raises_is_counted(
    http: httpx.Client, source: WebSource, recorders: Callable[..., Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    """An app that raises still counts for the rate and queue time; the exception goes on to
    the server (which answers 500)."""
    recorder = recorders(process="web", flush_interval=0.1)
    with wsgi_server(AutoscalerWSGIMiddleware(plain_app, recorder=recorder)) as url:
        status = http.get(f"{url}/boom", headers={"X-Request-Start": start_header(30)}).status_code

    stats = read_after_flush(source, 1)

    assert (500, 1, 1) == (status, stats.requests, stats.queued)


def test_asgi_under_uvicorn(http: httpx.Client, source: WebSource, recorders: Callable[..., Recorder]) -> None:
    """Under uvicorn: queue time from the x-request-start header, app time until the last
    body chunk is sent (2 chunks 50 ms apart: ≥ 100 ms), lifespan messages not counted."""
    recorder = recorders(process="web", flush_interval=0.1)
    traffic = Traffic()
    with asgi_server(AutoscalerASGIMiddleware(plain_asgi, recorder=recorder)) as url:
        for _ in range(19):
            traffic.get(http, url, 250)
        traffic.get(http, f"{url}/stream", 250)

    stats = read_after_flush(source, 20)

    reading = source.read(time.time() + SLOT_SECONDS + GRACE_SECONDS)
    assert (20, True, True) == (stats.requests, traffic.allows(reading.queue_time_p95), stats.app_us >= 100_000)


def test_asgi_passes_other_scopes_through(recorders: Callable[..., Recorder]) -> None:
    """A websocket (or lifespan) scope goes to the app untouched and is not counted."""
    recorder = recorders(process="web", flush_interval=3600)
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    asyncio.run(AutoscalerASGIMiddleware(app, recorder=recorder)({"type": "websocket"}, receive, send))

    assert (["websocket"], 0) == (seen, recorder.pending_requests())


# --- the examples under the servers an app runs -------------------------------------------------


def test_flask_example_under_gunicorn_preload_two_workers(
    redis_url: str, http: httpx.Client, source: WebSource, tmp_path: Path
) -> None:
    """gunicorn --preload builds the app (and starts a flusher) in the master, then forks 2
    workers: each worker counts and flushes its own requests under its own hostname-pid,
    and nothing is counted twice."""
    args = ["gunicorn", "--preload", "-w", "2", "-b", "127.0.0.1:{port}", "--no-control-socket"]
    args += ["--log-level", "warning", "examples.flask_app:app"]
    served: dict[int, int] = {}
    with server_process(args, redis_url, tmp_path / "gunicorn.log") as url, ThreadPoolExecutor(2) as pool:
        for _ in range(3):  # two slow requests at once: one per worker
            for response in pool.map(lambda _: http.get(f"{url}/slow"), range(2)):
                pid = response.json()["pid"]
                served[pid] = served.get(pid, 0) + 1
        stats = read_after_flush(source, 6)

    host = socket.gethostname()
    assert (2, {f"{host}-{pid}": n for pid, n in served.items()}) == (
        len(served),
        {d: n for d, n in stats.dynos.items() if n},
    )
    assert (6, True) == (stats.requests, stats.app_time is not None and stats.app_time >= 200)


def test_fastapi_example_under_uvicorn(redis_url: str, http: httpx.Client, source: WebSource, tmp_path: Path) -> None:
    """The FastAPI example (app.add_middleware) under uvicorn: requests that waited 250 ms at
    the router read as a p95 of 250 ms, and the rate covers every request."""
    args = ["uvicorn", "examples.fastapi_app:app", "--port", "{port}", "--log-level", "warning", "--no-access-log"]
    traffic = Traffic()
    with server_process(args, redis_url, tmp_path / "uvicorn.log") as url:
        traffic.get(http, url)  # warm-up, no header
        for _ in range(20):
            traffic.get(http, url, 250)
        stats = read_after_flush(source, 21)

    reading = source.read(time.time() + SLOT_SECONDS + GRACE_SECONDS)
    assert (21, 20, True, True) == (
        stats.requests,
        stats.queued,
        traffic.allows(reading.queue_time_p95),
        reading.rate == stats.requests / stats.seconds,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["gunicorn", "-w", "1", "-b", "127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"],
        ["uvicorn", "--port", "{port}", "--log-level", "warning", "--no-access-log"],
    ],
    ids=["WSGI under gunicorn", "ASGI under uvicorn"],
)
def test_django_example(args: list[str], redis_url: str, http: httpx.Client, source: WebSource, tmp_path: Path) -> None:
    """The Django example (the MIDDLEWARE entry) works under WSGI and ASGI (where Django calls
    it as async middleware) and records queue time."""
    target = "examples.django_settings_snippet:" + ("application" if args[0] == "gunicorn" else "asgi_application")
    traffic = Traffic()
    with server_process([*args, target], redis_url, tmp_path / "server.log") as url:
        traffic.get(http, url)  # warm-up, no header
        bodies = [traffic.get(http, url, 250).json()["hello"] for _ in range(10)]
        stats = read_after_flush(source, 11)

    reading = source.read(time.time() + SLOT_SECONDS + GRACE_SECONDS)
    assert (["world"] * 10, 11, 10, True) == (
        bodies,
        stats.requests,
        stats.queued,
        traffic.allows(reading.queue_time_p95),
    )


# --- set-up -------------------------------------------------------------------------------------


def test_without_a_redis_url_requests_pass_through(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No URL anywhere: an error is logged once at start-up and the app runs unchanged."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_TLS_URL", raising=False)
    app = AutoscalerWSGIMiddleware(plain_app)
    statuses: list[str] = []

    body = b"".join(app({"PATH_INFO": "/"}, lambda status, headers, exc_info=None: statuses.append(status)))  # type: ignore[arg-type]

    logged = [r.getMessage() for r in caplog.records if r.name == "autoscaler.middleware"]
    assert (None, b"ok", ["200 OK"]) == (app.recorder, body, statuses)
    assert ["autoscaler.middleware: no Redis URL"] == [m[: len("autoscaler.middleware: no Redis URL")] for m in logged]


def test_unusable_url_argument_raises() -> None:
    """A URL written in code that redis-py cannot use is a programming error: ValueError at
    start-up, password masked."""
    with pytest.raises(ValueError, match=r"invalid Redis URL redis://:\*\*\*@127.0.0.1:6379/0") as caught:
        AutoscalerWSGIMiddleware(plain_app, "redis://:pw@127.0.0.1:6379/0?socket_timeout=soon")

    assert "pw@" not in str(caught.value)


def test_unusable_url_from_the_environment_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad REDIS_URL must not stop the app from booting: logged, and recording is off."""
    monkeypatch.delenv("REDIS_TLS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "mysql://127.0.0.1/0")

    recorder = shared_recorder()

    logged = [r.getMessage() for r in caplog.records if r.name == "autoscaler.middleware"]
    assert (None, 1) == (recorder, len(logged))
    assert "invalid Redis URL mysql://127.0.0.1/0" in logged[0]


def test_redis_tls_url_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heroku Key-Value Store: REDIS_TLS_URL is used before REDIS_URL."""
    monkeypatch.setenv("REDIS_TLS_URL", "rediss://:pw@127.0.0.1:1/0")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DYNO", "web.1")

    recorder = shared_recorder(flush_interval=3600.5)
    try:
        assert "Recorder(rediss://:***@127.0.0.1:1/0, process='web', dyno='web.1')" == repr(recorder)
    finally:
        assert recorder is not None
        recorder.close(timeout=0.2, flush=False)


@pytest.mark.parametrize(("verify_tls", "expected"), [(False, None), (True, "required")])
def test_rediss_certificate_checks_are_off_unless_asked(verify_tls: bool, expected: str | None) -> None:
    """Heroku's Redis certificates are self-signed: ``rediss://`` skips the check by default,
    ``verify_tls=True`` turns it on."""
    client = make_client("rediss://:pw@127.0.0.1:6380/0", verify_tls=verify_tls)

    assert expected == client.connection_pool.connection_kwargs["ssl_cert_reqs"]


def test_process_and_dyno_come_from_DYNO(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    """On Heroku ``DYNO=web.3``: process type ``web``, dyno ``web.3``; elsewhere ``web`` and
    hostname-pid."""
    monkeypatch.setenv("DYNO", "web.3")
    on_heroku = Recorder(redis_url)
    monkeypatch.delenv("DYNO")
    elsewhere = Recorder(redis_url)

    assert (("web", "web.3"), ("web", f"{socket.gethostname()}-{os.getpid()}")) == (
        (on_heroku.process, on_heroku.dyno),
        (elsewhere.process, elsewhere.dyno),
    )
    on_heroku.close(flush=False)
    elsewhere.close(flush=False)


@pytest.mark.parametrize(
    ("dyno", "process"),
    [("worker.12", "worker"), ("web-12a34b56d-e78f9", "web"), ("api-gateway-7f9c2b1a4-x2k9q", "api-gateway")],
    ids=["cedar", "fir", "fir with a dash in the type"],
)
def test_process_type_comes_from_DYNO_on_both_generations(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, dyno: str, process: str
) -> None:
    """Fir names dynos without an ordinal (``web-12a34b56d-e78f9``): the process type is still what
    comes before the random parts, so every dyno of a type records under one name."""
    monkeypatch.setenv("DYNO", dyno)
    recorder = Recorder(redis_url)
    try:
        assert (process, dyno) == (recorder.process, recorder.dyno)
    finally:
        recorder.close(flush=False)


def test_middleware_instances_share_one_recorder(redis_url: str) -> None:
    """Two middleware objects with the same settings (an app built twice, WSGI and Django
    middleware together) share one recorder and one flusher thread."""
    first = AutoscalerWSGIMiddleware(plain_app, redis_url, flush_interval=3600.25)
    second = AutoscalerASGIMiddleware(plain_asgi, redis_url, flush_interval=3600.25)
    try:
        assert first.recorder is second.recorder
    finally:
        assert first.recorder is not None
        first.recorder.close(timeout=0.2, flush=False)


def imported_after(statement: str) -> list[str]:
    """The project's modules and the heavy libraries a fresh interpreter has loaded after
    ``statement``."""
    code = (
        f"import sys\n{statement}\n"
        "heavy = {'pydantic', 'pydantic_settings', 'structlog', 'httpx', 'apscheduler', 'django', 'flask',"
        " 'starlette', 'fastapi', 'werkzeug'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('autoscaler.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    modules: list[str] = ast.literal_eval(out.strip())
    return modules


def test_middleware_import_is_light() -> None:
    """Importing the middleware in a web app loads redis, the standard library and the small
    modules it shares with the daemon (errors, redaction, the Redis client, the wire format)
    only: none of the daemon's other modules, pydantic, structlog, httpx or a web framework."""
    middleware = ["asgi", "django", "recorder", "request_start", "wsgi"]
    shared = ["autoscaler.errors", "autoscaler.redact", "autoscaler.signals"]
    shared += ["autoscaler.signals.redis_conn", "autoscaler.signals.webwire"]
    expected = sorted(["autoscaler.middleware", *(f"autoscaler.middleware.{m}" for m in middleware), *shared])

    assert expected == imported_after("import autoscaler.middleware")


def test_daemon_does_not_import_the_middleware() -> None:
    """The web source shares only the wire format with the middleware: importing it loads no
    middleware module (which would install fork and exit hooks in the daemon)."""
    loaded = imported_after("import autoscaler.signals.web")

    middleware = [m for m in loaded if m.startswith("autoscaler.middleware")]
    assert ([], True) == (middleware, "autoscaler.signals.webwire" in loaded)


def test_hooks_are_installed_by_the_first_recorder_not_by_the_import() -> None:
    """Importing the middleware registers no fork or exit hook; building a recorder registers
    its exit flush once, however many recorders follow (the libraries it uses are imported
    first: logging registers its own exit hook)."""
    code = (
        "import atexit, logging, redis\n"
        "counts = [atexit._ncallbacks()]\n"
        "from autoscaler.middleware import Recorder\n"
        "counts.append(atexit._ncallbacks())\n"
        "for _ in range(2):\n"
        "    Recorder('redis://127.0.0.1:1/0', flush_interval=3600).close(timeout=0.1, flush=False)\n"
        "    counts.append(atexit._ncallbacks())\n"
        "print(counts[1] - counts[0], counts[2] - counts[1], counts[3] - counts[2])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout

    assert "0 1 0" == out.strip()


def test_benchmark_runs_and_reports_no_redis_call(redis_url: str) -> None:
    """``python -m benchmarks.middleware`` prints its table; the request path made 0 Redis
    calls and the flush afterwards made 1 round trip."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.middleware", "--iterations", "2000", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    ).stdout

    assert ("| AutoscalerWSGIMiddleware |" in out, "| Redis round trips during the requests | 0 |" in out) == (
        True,
        True,
    )
    assert "| Redis round trips of one flush afterwards | 1 |" in out
