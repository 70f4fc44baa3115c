"""The daemon's own costs, measured against the local stand-in API and the real local Redis.

    .venv/bin/python -m benchmarks.daemon [--ticks 1800] [--reaction-trials 7] [--redis-url URL]

Prints a Markdown table with the machine it ran on. Everything runs at the default
``AUTOSCALER_INTERVAL``:

- resident memory after ``--ticks`` ticks with three managed processes (rq sources on real Redis,
  each with a backlog), measured in a separate process that runs only the daemon, on a simulated
  clock (``--ticks`` at the default interval of 2 s is one simulated hour);
- CPU time per tick (``time.process_time``, which excludes waiting on the network);
- Redis round trips per source read (packets the sources' clients sent, per read);
- Platform API calls per hour of a quiet app (nothing to change), from those ticks, without and
  with ``AUTOSCALER_MAX_MONTHLY_COST`` (which adds the read of the running dynos);
- start-up: from spawning ``python -m autoscaler run`` to its first formation request;
- reaction time: from a backlog crossing its target to the PATCH, with ``run`` at the default
  interval, over ``--reaction-trials`` trials (the backlog lands at a random moment of the cycle),
  and whether each PATCH followed a formation read made after the backlog landed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from autoscaler.fake_heroku import FakeHeroku

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
APP = "bench-app"
PROCESSES = ("worker", "mailer", "reports")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _env(api_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "HEROKU_API_KEY": TOKEN,
        "HEROKU_API_URL": api_url,
        "AUTOSCALER_APP": APP,
        "REDIS_URL": redis_url,
        "AUTOSCALER_STATE_URL": redis_url,
        **extra,
    }
    for name in PROCESSES:
        prefix = f"AUTOSCALER_PROCESSES__{name.upper()}__"
        env |= {
            prefix + "SOURCE": "rq",
            prefix + "QUEUES": f"bench-{name}",
            prefix + "MAX_DYNOS": "10",
            prefix + "JOBS_PER_DYNO": "100",
        }
    return env


def child(ticks: int) -> None:
    """Run ``ticks`` ticks of the real daemon (fake clock, real HTTP and Redis); print JSON."""
    from autoscaler import logs
    from autoscaler.config import load_settings
    from autoscaler.daemon import Daemon
    from autoscaler.heroku import HerokuClient
    from autoscaler.signals import Source
    from autoscaler.signals.build import Connections
    from autoscaler.state import RedisState

    class CountingConnections(Connections):
        """The sources' Redis clients, counting every packet sent (one per round trip). Kept here rather
        than imported from benchmarks.sources, whose imports would weigh on the memory measured."""

        sent = 0

        def redis(self, url: str, verify_tls: bool = False) -> redis.Redis:
            client = super().redis(url, verify_tls)
            pool = client.connection_pool
            if not getattr(pool.connection_class, "counted", False):
                base: Any = pool.connection_class
                owner = self

                def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
                    owner.sent += 1
                    base.send_packed_command(conn, command, check_health)

                pool.connection_class = type(
                    "Counted" + base.__name__, (base,), {"send_packed_command": send_packed_command, "counted": True}
                )
            return client

    class Clock:
        now, mono = time.time(), 0.0

        def time(self) -> float:
            return self.now

        def monotonic(self) -> float:
            return self.mono

    settings = load_settings(os.environ)
    interval = settings.interval
    with open(os.devnull, "w") as sink:
        logs.configure("logfmt", "info", stream=sink)
        clock = Clock()
        api = HerokuClient(TOKEN, base_url=settings.heroku_api_url)
        client = redis.Redis.from_url(settings.redis_url or "")
        connections = CountingConnections()  # the sources' clients, as build_sources makes them, counted
        sources: dict[str, Source] = {
            name: importlib.import_module(process.MODULE).build(name, process, settings, connections)
            for name, process in settings.processes.items()
        }
        daemon = Daemon(settings, api, sources, clock=clock, state=RedisState(client, APP))
        rss_start = _rss_mb()
        daemon.tick()  # the first tick sizes the formation (one PATCH); steady state follows
        clock.now += interval
        clock.mono += interval
        cpu_start = time.process_time()
        calls_start, sent_start = api.calls, connections.sent
        for _ in range(ticks - 1):
            daemon.tick()
            clock.now += interval
            clock.mono += interval
        cpu = time.process_time() - cpu_start
        result = {
            "interval_s": interval,
            "rss_start_mb": rss_start,
            "rss_end_mb": _rss_mb(),
            "cpu_ms_per_tick": cpu / (ticks - 1) * 1000,
            "api_calls_per_hour": (api.calls - calls_start) / ((ticks - 1) * interval) * 3600,
            "trips_per_read": (connections.sent - sent_start) / ((ticks - 1) * len(sources)),
        }
        daemon.close()
        api.close()
    print(json.dumps(result))


def _fill(client: redis.Redis, queue: str, jobs: int) -> None:
    """A backlog in RQ's layout (what rq's enqueue writes), so no rq import is needed here."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    pipe = client.pipeline(transaction=False)
    for number in range(jobs):
        job_id = f"{queue}-{number}"
        pipe.hset(f"rq:job:{job_id}", mapping={"enqueued_at": now, "status": "queued", "origin": queue})
        pipe.rpush(f"rq:queue:{queue}", job_id)
    pipe.sadd("rq:queues", f"rq:queue:{queue}")
    pipe.execute()


def _clean(client: redis.Redis) -> None:
    for key in client.scan_iter(match="rq:*bench-*"):
        client.delete(key)
    for key in client.scan_iter(match=f"autoscaler:{APP}:*"):
        client.delete(key)


def measure_ticks(api_url: str, redis_url: str, ticks: int, **extra: str) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    for name in PROCESSES:
        _fill(client, f"bench-{name}", 150)  # 2 dynos' worth: steady, nothing to change after the first tick
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.daemon", "--child", str(ticks)],
        env=_env(api_url, redis_url, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    _clean(client)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_startup(fake: FakeHeroku, api_url: str, redis_url: str) -> float:
    fake.requests.clear()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run"],
        env=_env(api_url, redis_url),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not any(path.endswith("/formation") for _, path in fake.requests):
            time.sleep(0.005)
        return time.monotonic() - start
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def measure_reaction(
    fake: FakeHeroku, api_url: str, redis_url: str, trials: int, interval: float
) -> tuple[list[float], int]:
    """Seconds from each backlog to its PATCH, and in how many trials a formation read made after the
    backlog landed came before that PATCH."""
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(3)
    times = []
    fresh = 0
    for _ in range(trials):
        _clean(client)
        for name in PROCESSES:
            fake.set(name, 1, "Standard-1X")
        patches = len(fake.patches)
        proc = subprocess.Popen(
            [sys.executable, "-m", "autoscaler", "run"],
            env=_env(api_url, redis_url),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3 + rng.uniform(0, interval))  # started, then the backlog lands anywhere in a cycle
            crossed = time.monotonic()
            seen = len(fake.requests)
            _fill(client, "bench-worker", 500)  # 5 dynos' worth: over the target of 1 dyno
            while len(fake.patches) == patches:
                time.sleep(0.01)
            times.append(time.monotonic() - crossed)
            after = fake.requests[seen:]
            patch_at = after.index(("PATCH", f"/apps/{APP}/formation"))
            fresh += ("GET", f"/apps/{APP}/formation") in after[:patch_at]
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    _clean(client)
    return times, fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1800)
    parser.add_argument("--reaction-trials", type=int, default=7)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    fake = FakeHeroku(APP, TOKEN, {name: (1, "Standard-1X") for name in PROCESSES})
    api_url = fake.start()
    try:
        ticks = measure_ticks(api_url, args.redis_url, args.ticks)
        budgeted = measure_ticks(api_url, args.redis_url, args.ticks, AUTOSCALER_MAX_MONTHLY_COST="1000")
        startup = [measure_startup(fake, api_url, args.redis_url) for _ in range(3)]
        interval = ticks["interval_s"]
        reaction, fresh = measure_reaction(fake, api_url, args.redis_url, args.reaction_trials, interval)
    finally:
        fake.stop()
    hour = f"{args.ticks} ticks ({args.ticks * interval / 3600:g} h simulated)"
    rows = [
        (f"resident memory after {args.ticks} ticks, 3 processes", f"{ticks['rss_end_mb']:.1f} MB", "≤ 64 MB"),
        ("resident memory before the first tick", f"{ticks['rss_start_mb']:.1f} MB", ""),
        ("CPU per tick (3 processes, excluding network waits)", f"{ticks['cpu_ms_per_tick']:.2f} ms", ""),
        ("Redis round trips per source read", f"{ticks['trips_per_read']:.2f}", "1"),
        ("start-up to the first tick (median of 3)", f"{statistics.median(startup):.2f} s", ""),
        (
            f"Platform API calls per hour, quiet app, {interval:g} s interval, {hour}",
            f"{ticks['api_calls_per_hour']:.0f} (no PATCH)",
            "≤ 160",
        ),
        (
            "the same with AUTOSCALER_MAX_MONTHLY_COST (running dynos read once a minute)",
            f"{budgeted['api_calls_per_hour']:.0f} (no PATCH)",
            "≤ 160",
        ),
        (
            f"reaction: backlog over target → PATCH ({len(reaction)} trials, {interval:g} s interval)",
            f"median {statistics.median(reaction):.1f} s, max {max(reaction):.1f} s",
            "median ≤ 3 s",
        ),
        ("PATCHes decided on a formation read made after the backlog", f"{fresh} of {len(reaction)}", "all"),
    ]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measure | value | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
