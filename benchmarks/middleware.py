"""What the request-queue-time middleware adds to each request, and proof that the request
path never talks to Redis.

    .venv/bin/python -m benchmarks.middleware [--iterations 200000] [--redis-url URL]

A trivial WSGI app (and a trivial ASGI app) is called directly, bare and wrapped, in
alternation, ``--iterations`` times each; every call is timed with ``perf_counter_ns``
around everything a server would do (call, iterate the body, close; for ASGI, run the
request's coroutine to its end, which needs no event loop since nothing waits). The added
time is the wrapped figure minus the bare one, at the median and at p99. The wrapped calls
go through a real :class:`autoscaler.middleware.Recorder` whose Redis client counts every
packet it sends: the count during the requests must be 0; one ``flush`` afterwards shows
the same client does reach Redis, in one round trip (when ``--redis-url`` answers; the
client connects before the timing starts, and the keys written are deleted after).
Prints Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.connection import Connection

from autoscaler.middleware.asgi import AutoscalerASGIMiddleware, Message, Receive, Scope, Send
from autoscaler.middleware.recorder import Recorder
from autoscaler.middleware.wsgi import AutoscalerWSGIMiddleware
from autoscaler.signals.webwire import slot_key, slot_start

PROCESS = f"bench{os.getpid()}"


def bare_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def bare_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def counting_client(url: str) -> tuple[redis.Redis, list[bytes]]:
    """A real redis-py client whose connections note each packet sent (one per round trip)."""
    sent: list[bytes] = []

    class CountingConnection(Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
            super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection, socket_connect_timeout=2)
    return redis.Redis(connection_pool=pool), sent


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def alternate(bare: Any, wrapped: Any, iterations: int, serve: Callable[[Any], None]) -> tuple[list[int], list[int]]:
    """``serve(bare)`` and ``serve(wrapped)`` in turn, ``iterations`` times each: the
    nanoseconds of every call, bare ones first."""
    clock = time.perf_counter_ns
    bare_ns: list[int] = []
    wrapped_ns: list[int] = []
    for _ in range(iterations):
        for app, out in ((bare, bare_ns), (wrapped, wrapped_ns)):
            started = clock()
            serve(app)
            out.append(clock() - started)
    return bare_ns, wrapped_ns


def time_wsgi(bare: Any, wrapped: Any, iterations: int) -> tuple[list[int], list[int]]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "HTTP_X_REQUEST_START": str(int(time.time() * 1000) - 25),
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    def serve(app: Any) -> None:
        """What a WSGI server does: call, iterate the body, close it."""
        result = app(environ, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    return alternate(bare, wrapped, iterations, serve)


def time_asgi(bare: Any, wrapped: Any, iterations: int) -> tuple[list[int], list[int]]:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"host", b"bench"), (b"x-request-start", str(int(time.time() * 1000) - 25).encode())],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    def serve(app: Any) -> None:
        """Run one request to its end. Nothing here waits for I/O, so the coroutine finishes
        at its first step: no event loop is needed (nor measured)."""
        request = app(scope, receive, send)
        try:
            request.send(None)
        except StopIteration:
            return
        request.close()
        raise RuntimeError("the ASGI app waited for I/O, which this benchmark's apps never do")

    return alternate(bare, wrapped, iterations, serve)


def rows(name: str, bare_ns: list[int], wrapped_ns: list[int]) -> list[str]:
    bare_ns.sort()
    wrapped_ns.sort()
    b50, b99 = statistics.median(bare_ns) / 1000.0, percentile(bare_ns, 0.99)
    w50, w99 = statistics.median(wrapped_ns) / 1000.0, percentile(wrapped_ns, 0.99)
    return [
        f"| bare {name} app | {b50:.2f} | {b99:.2f} | | |",
        f"| Autoscaler{name}Middleware | {w50:.2f} | {w99:.2f} | **{w50 - b50:.2f}** | {w99 - b99:.2f} |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=200_000, help="calls per variant (default 200000)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the flush afterwards (default REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    args = parser.parse_args(argv)

    client, sent = counting_client(args.redis_url)
    # Connect now, so that the flush below is one round trip and nothing else.
    with contextlib.suppress(redis.RedisError):
        client.ping()
    sent.clear()
    recorder = Recorder(client=client, process=PROCESS, dyno="bench.1", flush_interval=3600)
    wsgi = AutoscalerWSGIMiddleware(bare_wsgi, recorder=recorder)
    asgi = AutoscalerASGIMiddleware(bare_asgi, recorder=recorder)
    # Warm up both paths (first calls allocate the slot's counts, fill caches).
    time_wsgi(bare_wsgi, wsgi, 1000)
    time_asgi(bare_asgi, asgi, 1000)

    gc.collect()
    wsgi_times = time_wsgi(bare_wsgi, wsgi, args.iterations)
    gc.collect()
    asgi_times = time_asgi(bare_asgi, asgi, args.iterations)
    during = len(sent)
    counted = recorder.pending_requests()

    first_slot = slot_start(time.time()) - 600
    flushed = recorder.flush(timeout=5)
    after = len(sent) - during
    recorder.close(timeout=1, flush=False)
    if flushed:
        client.delete(*(slot_key(recorder.prefix, PROCESS, s) for s in range(first_slot, int(time.time()) + 10, 5)))
    client.close()

    print("## autoscaler.middleware: added time per request\n")
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {args.iterations:,} calls per variant, bare and "
        "wrapped alternating, a trivial app called directly (no server, no network), X-Request-Start set. "
        "Times in µs per request.\n"
    )
    print("| variant | median | p99 | added median | added p99 |")
    print("|---|---|---|---|---|")
    for line in rows("WSGI", *wsgi_times) + rows("ASGI", *asgi_times):
        print(line)
    print("\n| Redis traffic | count |")
    print("|---|---|")
    print(f"| requests counted in memory | {counted:,} |")
    print(f"| Redis round trips during the requests | {during} |")
    flush_text = str(after) if flushed else f"not measured: Redis at {args.redis_url} did not answer"
    print(f"| Redis round trips of one flush afterwards | {flush_text} |")
    return 0 if during == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
