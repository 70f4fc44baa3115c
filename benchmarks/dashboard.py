"""The status page's costs: server time to render it, and what recording the history adds to a tick.

    .venv/bin/python -m benchmarks.dashboard [--days 8] [--redis-url URL] [--repeat 20]

It fills the real local Redis with ``--days`` of history for three process types (``web``,
``worker``, ``mailer``) recorded by the real daemon (:class:`autoscaler.daemon.Daemon` with its
engine, a stand-in formation and signal sources that follow a daily curve with bursts), then
prints a Markdown table:

- Redis memory the history takes (``MEMORY USAGE`` of every history key);
- server time of one view of ``GET /``: the read from Redis and the rendering, for 24 hours and for
  the whole ``--days``, medians over ``--repeat`` views; the page's size;
- the Redis round trips one tick makes with the history recorded and without (the state store
  counted too), so the difference is what recording adds.

Writing ``--days`` of ticks (a tick a minute of simulated time) takes a few seconds for 8 days.
:func:`record` and :func:`demo_settings` are also what the browser test and the screenshot use.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import redis
import structlog
from structlog.typing import FilteringBoundLogger

from autoscaler import queueing
from autoscaler.config import Settings, load_settings
from autoscaler.daemon import Daemon
from autoscaler.heroku import Formation, FormationUpdate
from autoscaler.history import HistoryStore, RedisHistory
from autoscaler.signals import Reading, Source
from autoscaler.state import MemoryState, RedisState
from autoscaler.web.render import render_page

APP = "bench-app"
DAY = 86400
START = 1_767_225_600.0
"""2026-01-01 00:00 UTC: the first simulated tick (the browser test ends its day at the real now)."""


PROCESS_ENV = {
    "AUTOSCALER_PROCESSES__WEB__SOURCE": "web",
    "AUTOSCALER_PROCESSES__WEB__MIN_DYNOS": "2",
    "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "12",
    "AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS": "40",
    "AUTOSCALER_PROCESSES__WEB__PROCESSES_PER_DYNO": "4",
    "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
    "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
    "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "100",
    "AUTOSCALER_PROCESSES__MAILER__SOURCE": "rq",
    "AUTOSCALER_PROCESSES__MAILER__QUEUES": "mail",
    "AUTOSCALER_PROCESSES__MAILER__MAX_DYNOS": "4",
    "AUTOSCALER_PROCESSES__MAILER__MAX_LATENCY": "120",
}
"""The three process types as environment variables: ``web`` on p95 queue time, ``worker`` on waiting
jobs per dyno, ``mailer`` on the oldest job's wait (the tests' settings of the status page use them too)."""


def demo_settings(redis_url: str, app: str = APP, **extra: str) -> Settings:
    """Three process types: ``web`` sized on p95 queue time, ``worker`` on waiting jobs per dyno,
    ``mailer`` on the oldest job's wait."""
    env = {
        "HEROKU_API_KEY": "bench-token-0123456789",
        "AUTOSCALER_APP": app,
        "REDIS_URL": redis_url,
        "AUTOSCALER_INTERVAL": "15",
        **PROCESS_ENV,
        "AUTOSCALER_PROCESSES__MAILER__MIN_DYNOS": "1",
        "AUTOSCALER_PROCESSES__MAILER__DOWNSCALE_DELAY": "600",
        **extra,
    }
    return load_settings(env)


def silent() -> FilteringBoundLogger:
    """A logger that writes nothing."""
    bound: Any = structlog.make_filtering_bound_logger(logging.CRITICAL)
    logger: FilteringBoundLogger = bound(structlog.ReturnLogger(), [], {})
    return logger


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class StubFormation:
    """The Platform API in memory: the formation is what was last PATCHed."""

    def __init__(self, formation: dict[str, tuple[int, str]]) -> None:
        self.current = dict(formation)

    def formation(self, app: str, *, deadline: float | None = None) -> list[Formation]:
        return [Formation(type=name, quantity=q, size=size) for name, (q, size) in self.current.items()]

    def update_formation(
        self, app: str, updates: Sequence[FormationUpdate], *, deadline: float | None = None
    ) -> list[Formation]:
        for update in updates:
            quantity, size = self.current[update.type]
            self.current[update.type] = (quantity if update.quantity is None else update.quantity, update.size or size)
        return self.formation(app)

    def pause_hint(self) -> float:
        return 0.0


def daily(at: float) -> float:
    """Traffic's shape over a day, 0.15 at night to 1 at 15:00 UTC."""
    hour = (at % DAY) / 3600
    return 0.15 + 0.85 * math.exp(-(((hour - 15) / 4.5) ** 2))


class WebCurve:
    """A web process's request queue time: a daily rate, 4 processes per dyno, random routing."""

    def __init__(self, api: StubFormation, clock: Clock, rng: random.Random, shift: float = 0.0) -> None:
        self.api, self.clock, self.rng, self.shift = api, clock, rng, shift

    def read(self, now: float) -> Reading:
        dynos = self.api.current["web"][0]
        rate = 220 * daily(now + self.shift) * self.rng.uniform(0.9, 1.1)
        service = 0.06
        try:
            wait = queueing.wait_quantile(4, rate / max(dynos, 1), service) * 1000
        except ValueError:
            wait = math.inf
        p95 = min(wait, 5000.0) + self.rng.uniform(0, 2)
        return Reading(
            at=now, rate=rate, queue_time_p50=p95 / 3, queue_time_p95=p95, queue_time_p99=p95 * 1.4, app_time=60
        )

    def close(self) -> None:
        pass


class QueueCurve:
    """A job queue: a steady trickle plus bursts; each dyno works ``per_dyno`` jobs a second."""

    def __init__(
        self,
        api: StubFormation,
        name: str,
        rng: random.Random,
        *,
        trickle: float,
        per_dyno: float,
        bursts: int,
        shift: float = 0.0,
    ) -> None:
        self.api, self.name, self.rng, self.shift = api, name, rng, shift
        self.trickle, self.per_dyno, self.bursts = trickle, per_dyno, bursts
        self.depth = 0.0
        self.last: float | None = None

    def read(self, now: float) -> Reading:
        dt = 0.0 if self.last is None else now - self.last
        self.last = now
        dynos = self.api.current[self.name][0]
        arrivals = self.trickle * daily(now + self.shift) * dt
        if self.rng.random() < self.bursts * dt / DAY:
            arrivals += self.rng.uniform(800, 3000)
        self.depth = max(0.0, self.depth + arrivals - dynos * self.per_dyno * dt)
        latency = self.depth / max(dynos * self.per_dyno, 0.5) if self.depth else 0.0
        busy = min(round(self.depth), dynos)
        return Reading(at=now, depth=round(self.depth), latency=latency, busy=busy)

    def close(self) -> None:
        pass


def record(
    settings: Settings,
    store: HistoryStore | None,
    *,
    start: float,
    seconds: float,
    interval: float = 60.0,
    seed: int = 7,
    state: Any = None,
    shift: float = 0.0,
) -> Daemon:
    """Run the real daemon from ``start`` for ``seconds`` of simulated time, a tick every ``interval``,
    recording into ``store``; the load follows the hour of the day ``shift`` seconds later than the
    clock's (a test recording up to now picks the hour its day ends at). Returns the daemon (its
    ``api`` is the stand-in formation)."""
    rng = random.Random(seed)
    clock = Clock(start)
    api = StubFormation({"web": (2, "Standard-1X"), "worker": (1, "Standard-1X"), "mailer": (1, "Standard-1X")})
    sources: dict[str, Source] = {
        "web": WebCurve(api, clock, rng, shift),
        "worker": QueueCurve(api, "worker", rng, trickle=1.5, per_dyno=2.0, bursts=5, shift=shift),
        "mailer": QueueCurve(api, "mailer", rng, trickle=0.5, per_dyno=1.0, bursts=3, shift=shift),
    }
    daemon = Daemon(settings, api, sources, clock=clock, state=state or MemoryState(), logger=silent(), history=store)
    for _ in range(int(seconds // interval)):
        daemon.tick()
        clock.now += interval
    return daemon


class CountingConnection(redis.Connection):
    """A connection that counts what it sends: one count per round trip (a pipeline is one)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def round_trips(redis_url: str, settings: Settings, *, with_history: bool, ticks: int = 20) -> float:
    """Redis round trips per tick of a daemon keeping its state in Redis, recording or not."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    try:
        store = RedisHistory(client, f"{APP}-trips") if with_history else None
        daemon = record(settings, store, start=START, seconds=60, state=RedisState(client, f"{APP}-trips"))
        CountingConnection.sent = 0
        for _ in range(ticks):
            daemon.tick()
            daemon.clock.now += 15  # type: ignore[attr-defined]
        return CountingConnection.sent / ticks
    finally:
        client.close()


def history_bytes(client: redis.Redis, app: str) -> int:
    total = 0
    for key in client.scan_iter(match=f"autoscaler:{app}:history:*", count=1000):
        total += int(client.memory_usage(key) or 0)
    return total


def view_ms(settings: Settings, store: HistoryStore, now: float, hours: int, repeat: int) -> tuple[float, float, int]:
    """Median milliseconds of one view's read and of its rendering, and the page's size in bytes."""
    reads, renders = [], []
    size = 0
    for _ in range(repeat):
        begin = time.perf_counter()
        history = store.read(now - hours * 3600, now, list(settings.processes), events=30)
        read = time.perf_counter()
        page = render_page(settings, history, now=now, hours=hours)
        reads.append((read - begin) * 1000)
        renders.append((time.perf_counter() - read) * 1000)
        size = len(page.encode())
    return statistics.median(reads), statistics.median(renders), size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args(argv)
    settings = demo_settings(args.redis_url)
    client = redis.Redis.from_url(args.redis_url)
    for key in client.scan_iter(match=f"autoscaler:{APP}*"):
        client.delete(key)
    store = RedisHistory(client, APP)
    begin = time.perf_counter()
    seconds = args.days * DAY
    record(settings, store, start=START, seconds=seconds, interval=60.0)
    filled = time.perf_counter() - begin
    now = START + seconds
    memory = history_bytes(client, APP)
    all_hours = int(min(math.ceil(args.days * 24), 216))
    views = [(hours, *view_ms(settings, store, now, hours, args.repeat)) for hours in sorted({24, all_hours})]
    with_history = round_trips(args.redis_url, settings, with_history=True)
    without = round_trips(args.redis_url, settings, with_history=False)
    for key in client.scan_iter(match=f"autoscaler:{APP}*"):
        client.delete(key)
    client.close()
    cpu = platform.processor() or platform.machine()
    print(f"Python {platform.python_version()} on {platform.system()} {cpu}, {os.cpu_count()} CPUs; Redis local\n")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| history of {args.days:g} days × 3 process types in Redis | {memory / 1e6:.2f} MB | a few MB |")
    print(f"| writing those days, a tick a minute (one round trip each) | {filled:.1f} s | |")
    for hours, read, render, size in views:
        print(
            f"| one view of the page over {hours} hours: read + render (page size) | {read:.0f} + {render:.0f} ms "
            f"({size / 1000:.0f} kB) | < 200 ms |"
        )
    print(f"| Redis round trips per tick, history recorded | {with_history:g} | |")
    print(f"| Redis round trips per tick, not recorded | {without:g} | |")
    print(f"| round trips recording adds to a tick | {with_history - without:g} | 1 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
