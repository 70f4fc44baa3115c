"""The daemon's own costs, measured against the local stand-in API and the real local Redis.

    .venv/bin/python -m benchmarks.daemon [--ticks 1000] [--reaction-trials 3] [--redis-url URL]

Prints a Markdown table with the machine it ran on:

- resident memory after ``--ticks`` ticks with three managed processes (rq sources on real Redis,
  each with a backlog), measured in a separate process that runs only the daemon;
- CPU time per tick (``time.process_time``, which excludes waiting on the network);
- start-up: from spawning ``python -m autoscaler run`` to its first formation request;
- Platform API calls per hour at the default 15 s interval in steady state (nothing to change);
- reaction time: from a backlog crossing its target to the PATCH, with ``run`` at the default
  interval, over ``--reaction-trials`` trials (the backlog lands at a random moment of the cycle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def _env(api_url: str, redis_url: str, interval: str = "15") -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "HEROKU_API_KEY": TOKEN,
        "HEROKU_API_URL": api_url,
        "AUTOSCALER_APP": APP,
        "AUTOSCALER_INTERVAL": interval,
        "REDIS_URL": redis_url,
        "AUTOSCALER_STATE_URL": redis_url,
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
    from autoscaler.signals.build import build_sources
    from autoscaler.state import RedisState

    class Clock:
        now, mono = time.time(), 0.0

        def time(self) -> float:
            return self.now

        def monotonic(self) -> float:
            return self.mono

    settings = load_settings(os.environ)
    with open(os.devnull, "w") as sink:
        logs.configure("logfmt", "info", stream=sink)
        clock = Clock()
        api = HerokuClient(TOKEN, base_url=settings.heroku_api_url)
        client = redis.Redis.from_url(settings.redis_url or "")
        daemon = Daemon(settings, api, build_sources(settings), clock=clock, state=RedisState(client, APP))
        rss_start = _rss_mb()
        daemon.tick()  # the first tick sizes the formation (one PATCH); steady state follows
        clock.now += 15
        clock.mono += 15
        cpu_start = time.process_time()
        calls_start = api.calls
        for _ in range(ticks - 1):
            daemon.tick()
            clock.now += 15
            clock.mono += 15
        cpu = time.process_time() - cpu_start
        result = {
            "rss_start_mb": rss_start,
            "rss_end_mb": _rss_mb(),
            "cpu_ms_per_tick": cpu / (ticks - 1) * 1000,
            "api_calls_per_tick": (api.calls - calls_start) / (ticks - 1),
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


def measure_ticks(api_url: str, redis_url: str, ticks: int) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    for name in PROCESSES:
        _fill(client, f"bench-{name}", 150)  # 2 dynos' worth: steady, nothing to change after the first tick
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.daemon", "--child", str(ticks)],
        env=_env(api_url, redis_url),
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


def measure_reaction(fake: FakeHeroku, api_url: str, redis_url: str, trials: int) -> list[float]:
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(3)
    times = []
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
            time.sleep(3 + rng.uniform(0, 15))  # started, then the backlog lands anywhere in a cycle
            crossed = time.monotonic()
            _fill(client, "bench-worker", 500)  # 5 dynos' worth: over the target of 1 dyno
            while len(fake.patches) == patches:
                time.sleep(0.01)
            times.append(time.monotonic() - crossed)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    _clean(client)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--reaction-trials", type=int, default=3)
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
        startup = [measure_startup(fake, api_url, args.redis_url) for _ in range(3)]
        reaction = measure_reaction(fake, api_url, args.redis_url, args.reaction_trials)
    finally:
        fake.stop()
    rows = [
        (f"resident memory after {args.ticks} ticks, 3 processes", f"{ticks['rss_end_mb']:.1f} MB", "≤ 64 MB"),
        ("resident memory before the first tick", f"{ticks['rss_start_mb']:.1f} MB", ""),
        ("CPU per tick (3 processes, excluding network waits)", f"{ticks['cpu_ms_per_tick']:.2f} ms", ""),
        ("start-up to the first tick (median of 3)", f"{statistics.median(startup):.2f} s", ""),
        (
            "Platform API calls per hour, steady state, 15 s interval",
            f"{ticks['api_calls_per_tick'] * 240:.0f} (no PATCH)",
            "≤ 4,500",
        ),
        (
            f"reaction: backlog over target → PATCH ({len(reaction)} trials)",
            f"median {statistics.median(reaction):.1f} s, max {max(reaction):.1f} s",
            "≤ 15 s (one interval)",
        ),
    ]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measure | value | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
