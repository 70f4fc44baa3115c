"""The web process's drain intake, measured for real over HTTP.

    .venv/bin/python -m benchmarks.drain [--lines 300000] [--batch 100] [--seconds 30] [--connections 4]
                                         [--redis-url URL]

Starts ``python -m autoscaler web`` (uvicorn, h11, one asyncio loop) on a free loopback port,
pinned to one CPU core (the load generator runs on the others when there are any), with the
real local Redis as its state store. Sends Logplex batches of ``--batch`` router lines over
``--connections`` keep-alive connections until ``--lines`` lines were sent or ``--seconds``
passed, whichever comes first. Each batch has its own ``Logplex-Frame-Id``; the service times
are drawn from a log-normal distribution (median about 200 ms, a long tail) and every value
sent is kept. Prints Markdown:

- router lines per second through HTTP, and per second of the web process's own CPU time;
- the web process's resident memory after start-up, after a warm-up, and at the end;
- p50/p95/p99 read back from Redis by the ``router`` source, against the exact quantiles
  (nearest rank) of the lines sent.

The lines are of a process type of their own (``bench<pid>``), deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

from autoscaler.drain import wire
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.router import RouterSource

ROOT = Path(__file__).resolve().parent.parent
PROCESS = f"bench{os.getpid()}"
TOKEN = f"d.bench-{os.getpid()}"
PASSWORD = "bench-drain-password-0123456789"
DISTINCT_BATCHES = 64
WARM_UP_POSTS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers_health(url: str, proc: subprocess.Popen[bytes], seconds: float = 20) -> bool:
    """Whether the web process at ``url`` answered ``GET /health`` with 200 before it exited or
    ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _line(at: float, ms: int, number: int) -> bytes:
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")
    text = (
        f'<158>1 {stamp} host heroku router - at=info method=GET path="/api/items/{number}?page=2" '
        f'host=bench-app.herokuapp.com request_id=7a1c2e44-{number:04x}-4d5e-9f00-1b2c3d4e5f60 fwd="203.0.113.7" '
        f"dyno={PROCESS}.{number % 8 + 1} connect=0ms service={ms}ms status=200 bytes=5120 protocol=https\n"
    )
    data = text.encode()
    return str(len(data)).encode() + b" " + data


def _batches(size: int, start: float, rng: random.Random) -> list[tuple[bytes, list[int]]]:
    """DISTINCT_BATCHES bodies of ``size`` lines timed 100 to 10 s before ``start``, with their service times."""
    made = []
    for batch in range(DISTINCT_BATCHES):
        times = [max(1, round(rng.lognormvariate(math.log(200), 0.8))) for _ in range(size)]
        body = b"".join(
            _line(start - 100 + rng.uniform(0, 90), ms, batch * size + number) for number, ms in enumerate(times)
        )
        made.append((body, times))
    return made


async def _send(
    url: str, batches: list[tuple[bytes, list[int]]], lines: int, seconds: float, connections: int, phase: str
) -> tuple[int, list[int], float, int]:
    """POST batches until ``lines`` lines or ``seconds``: (lines sent, their service times, elapsed, errors).
    Frame ids are ``bench-<pid>-<phase>-<number>``: unique, so no POST is taken for a retry."""
    sent: list[int] = []
    errors = 0
    counter = 0
    deadline = time.monotonic() + seconds
    auth = "Basic " + base64.b64encode(f"drain:{PASSWORD}".encode()).decode()
    size = len(batches[0][1])

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal counter, errors
        while len(sent) + size <= lines and time.monotonic() < deadline:
            number = counter
            counter += 1
            body, times = batches[number % len(batches)]
            headers = {
                "Content-Type": "application/logplex-1",
                "Authorization": auth,
                "Logplex-Msg-Count": str(size),
                "Logplex-Frame-Id": f"bench-{os.getpid()}-{phase}-{number}",
                "Logplex-Drain-Token": TOKEN,
                "User-Agent": "Logplex/v123",
            }
            answer = await client.post(f"{url}/drain", content=body, headers=headers)
            if answer.status_code == 200 and answer.json()["router"] == size:
                sent.extend(times)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.monotonic() - started
    return len(sent), sent, elapsed, errors


def _exact(values: list[int], quantile: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _clean(client: redis.Redis) -> None:
    for pattern in (f"{wire.DEFAULT_PREFIX}:{PROCESS}:*", f"{wire.FRAME_PREFIX}:{TOKEN}:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="stop after this many router lines")
    parser.add_argument("--batch", type=int, default=100, help="router lines per POST")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop after this long at most")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    if not (0 < args.batch <= 2000 and 0 < args.lines <= 10_000_000 and 0 < args.seconds <= 600):
        parser.error("--batch 1..2000, --lines up to 10,000,000, --seconds up to 600")

    store = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    store.ping()
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PORT": str(port),
        "REDIS_URL": args.redis_url,
        "AUTOSCALER_DRAIN_PASSWORD": PASSWORD,
        "AUTOSCALER_LOG_LEVEL": "warning",
        "AUTOSCALER_PROCESSES__WEB__SOURCE": "router",
        "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "4",
        "AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS": "500",
    }
    command = [sys.executable, "-m", "autoscaler", "web", "--host", "127.0.0.1"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(proc.pid, {cores[0]})
    if len(cores) > 1:
        os.sched_setaffinity(0, set(cores[1:]))
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(url, proc):
            print("the web process did not start", file=sys.stderr)
            return 1
        rss_started = _rss_mb(proc.pid)
        start = time.time()
        batches = _batches(args.batch, start, random.Random(1))
        _, warm_times, _, warm_errors = asyncio.run(
            _send(url, batches, WARM_UP_POSTS * args.batch, args.seconds, args.connections, "warm-up")
        )
        rss_warm = _rss_mb(proc.pid)
        cpu_before = _cpu_seconds(proc.pid)
        count, times, elapsed, errors = asyncio.run(
            _send(url, batches, args.lines, args.seconds, args.connections, "measured")
        )
        cpu = _cpu_seconds(proc.pid) - cpu_before
        rss_end = _rss_mb(proc.pid)
        source = RouterSource(connect(args.redis_url), process=PROCESS, window=150)
        stats = source.stats(start + 15)
        source.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _clean(store)
        store.close()

    everything = warm_times + times
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"web process pinned to 1 core; {args.batch} lines per POST, {args.connections} connections"
    )
    print()
    print("| measure | value | goal |")
    print("|---|---|---|")
    print(f"| router lines ingested through HTTP | {count:,} in {elapsed:.1f} s ({errors} failed POSTs) | |")
    print(f"| router lines per second | {count / elapsed:,.0f} | ≥ 20,000 |")
    if cpu:
        print(f"| router lines per CPU second of the web process | {count / cpu:,.0f} | |")
    print(f"| resident memory: started / after {WARM_UP_POSTS} POSTs / at the end | "
          f"{rss_started:.1f} / {rss_warm:.1f} / {rss_end:.1f} MB | flat |")  # fmt: skip
    if stats.requests != len(everything) or warm_errors:
        print(f"| lines stored vs sent | {stats.requests:,} vs {len(everything):,} | equal |")
    for quantile in (0.5, 0.95, 0.99):
        estimate = stats.response_time(quantile)
        exact = _exact(everything, quantile)
        error = abs((estimate or 0.0) - exact) / exact * 100
        print(
            f"| p{round(quantile * 100)}: histogram vs exact | {estimate:.1f} vs {exact} ms ({error:.1f} %) | ≤ 5 % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
