"""Time per reading of every signal source, against the real local Redis, PostgreSQL and
RabbitMQ, with ``--queues`` queues holding ``--jobs`` waiting jobs in total.

The command: parses the options, runs every backend's case in turn inside one clean-up
stack (also unwound on Ctrl-C and SIGTERM) and prints the Markdown report.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType

from benchmarks.sources import http_json, postgres, rabbitmq, redis_backends, web
from benchmarks.sources.harness import OLDEST_AGE, RUNNING, Bench, Result, run_case, table

TAG_RE = re.compile(r"bench_[a-z0-9]{1,20}")

CASES: list[tuple[str, Callable[[Bench], list[Result]]]] = [
    ("rq", redis_backends.rq),
    ("celery (Redis)", redis_backends.celery_redis),
    ("dramatiq", redis_backends.dramatiq),
    ("redis_list", redis_backends.redis_list),
    ("web", web.web),
    ("celery (RabbitMQ)", rabbitmq.celery_amqp),
    ("sql procrastinate", postgres.procrastinate),
    ("sql pgqueuer", postgres.pgqueuer),
    ("sql custom query", postgres.custom_sql),
    ("http_json", http_json.http_json),
]
"""Every backend's case, in the order of the table."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sources", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="waiting jobs in total (default 100000)")
    parser.add_argument("--queues", type=int, default=10, help="queues they are spread over (default 10)")
    parser.add_argument("--reads", type=int, default=30, help="timed reads per source (default 30)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8", help="default db 8 of the local Redis")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL (default TEST_DATABASE_URL or the local test database)",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//", help="RabbitMQ")
    parser.add_argument(
        "--management-url", default="http://127.0.0.1:15672", help="RabbitMQ management API (guest/guest)"
    )
    parser.add_argument("--tag", default=None, help="name part of everything written (default bench_<random>)")
    args = parser.parse_args(argv)
    if args.jobs < args.queues or args.queues < 1 or args.reads < 1:
        parser.error("need --queues >= 1, --jobs >= --queues and --reads >= 1")
    if args.tag is None:
        args.tag = f"bench_{uuid.uuid4().hex[:8]}"
    elif not TAG_RE.fullmatch(args.tag):
        parser.error("--tag: bench_ followed by up to 20 lower-case letters or digits")
    return args


def server_versions(args: argparse.Namespace) -> str:
    """The versions of the services that answer, e.g. ``Redis 7.0.15, PostgreSQL 15.2``."""
    probes = [
        (redis_backends.redis_version, args.redis_url),
        (postgres.postgres_version, args.database_url),
        (rabbitmq.rabbitmq_version, args.amqp_url),
    ]
    found: list[str] = []
    for probe, url in probes:
        with contextlib.suppress(Exception):
            found.append(probe(url))
    return ", ".join(found)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up


def measure_all(args: argparse.Namespace) -> list[Result]:
    """Every case's rows; everything written is removed before this returns."""
    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    results: list[Result] = []
    try:
        with contextlib.ExitStack() as cleanup:
            bench = Bench(args, cleanup)
            for name, case in CASES:
                results += run_case(name, functools.partial(case, bench))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its Markdown; 1 when a source could not be measured."""
    args = parse_args(argv)
    started = time.perf_counter()
    results = measure_all(args)
    elapsed = time.perf_counter() - started

    print("## Signal sources: time per reading\n")
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}); {server_versions(args)}, all on this machine (loopback).\n"
    )
    print(
        f"{args.jobs:,} waiting jobs over {args.queues} queues (the oldest {OLDEST_AGE:.0f} s old), plus "
        f"{RUNNING} running where the backend has them. One warm-up read, then {args.reads} reads timed one by one "
        f"(wall clock, `time.perf_counter`); p95 is the nearest rank. Redis sources share one client, as in the "
        f"daemon; fills are raw writes in each library's layout. Total run {elapsed:.0f} s (fills included).\n"
    )
    for line in table(results):
        print(line)
    print(
        "\nRound trips / read: Redis, packets the client sent (a pipeline or an EVALSHA is one); RabbitMQ passive, "
        "AMQP frames sent (each queue.declare waits for its reply); HTTP, requests; PostgreSQL, from a libpq trace of "
        "one more read: runs of client messages followed by the server's replies. SQL statements: Parse/Query "
        "messages in that trace. Fill: the raw writes (RabbitMQ: publishing, then waiting until the broker holds "
        "every message; its two rows share one fill; SQL: COPY, triggers, VACUUM ANALYZE)."
    )
    return 1 if any(r.error is not None for r in results) else 0
