"""``PREDICT=true`` against the daemon without it, on the built-in week of weekday morning rushes;
and what prediction costs the daemon.

    .venv/bin/python -m benchmarks.predict [--seeds 1,2,3] [--kind web]
    .venv/bin/python -m benchmarks.predict --cost [--redis-url URL]

Runs ``python -m autoscaler simulate --scenario weekday-rush --kind K --seed N --json`` in-process
for each seed (every policy of the kind, ``ours`` and ``ours-predict`` included) and prints, per
seed, the SLO-violation minutes and cost of both, the change, and the baselines (if any) that
dominate ``ours-predict``. Markdown, for the docs.

``--cost`` records 8 days of one process type's history in Redis (``BENCH_REDIS_URL``, default db 13,
flushed) and times what the daemon's predictor does: the first forecast (reading the 8 days and
judging the last day's forecasts), a forecast each new minute, and a tick within a minute (the
cached forecast); and the memory its recorded demand takes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from typing import Any

import redis

from autoscaler.config import load_settings
from autoscaler.history import RedisHistory, Sample, Status, TickRecord
from autoscaler.history.demand import Predictor
from autoscaler.policy import Decision, Observation, Reason
from autoscaler.signals import Reading
from benchmarks.dashboard import silent
from benchmarks.scenarios import run

START = 1_704_067_200.0
"""A Monday, 00:00 UTC."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--kind", default="web", choices=["web", "worker"])
    parser.add_argument("--cost", action="store_true", help="time the daemon's predictor instead")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    if args.cost:
        return cost(args.redis_url)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(
        "| seed | ours SLO min | ours USD | ours-predict SLO min | ours-predict USD | SLO minutes | cost | "
        "ours-predict dominated by |"
    )
    print("|---" * 8 + "|")
    start = time.monotonic()
    for seed in seeds:
        result: dict[str, Any] = run("weekday-rush", args.kind, seed)
        rows = {p["policy"]: p for p in result["policies"]}
        ours, ahead = rows["ours"], rows["ours-predict"]
        fewer = (
            f"{(ahead['slo_minutes'] - ours['slo_minutes']) / ours['slo_minutes'] * 100:+.0f} %"
            if ours["slo_minutes"]
            else "–"
        )
        dearer = f"{(ahead['cost_usd'] - ours['cost_usd']) / ours['cost_usd'] * 100:+.1f} %"
        dominated = ", ".join((result.get("verdict_predict") or {}).get("dominated_by", [])) or "none"
        print(
            f"| {seed} | {ours['slo_minutes']} | {ours['cost_usd']:.2f} | {ahead['slo_minutes']} | "
            f"{ahead['cost_usd']:.2f} | {fewer} | {dearer} | {dominated} |"
        )
    print(
        f"\nweekday-rush ({args.kind}), a week at the daemon's 2 s tick; {len(seeds)} seeds in "
        f"{time.monotonic() - start:.0f} s"
    )
    return 0


def demand_at(minute: int) -> int:
    """Weekday rushes: 2 dynos, 12 from 09:00 to 18:00 on weekdays."""
    day, of_day = divmod(minute, 1440)
    return 12 if day % 7 < 5 and 540 <= of_day < 1080 else 2


def decision(quantity: int) -> Decision:
    return Decision("web", quantity, quantity, "Standard-2X", "Standard-2X", Reason.WITHIN_TARGET, "", quantity)


def cost(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    store = RedisHistory(client, "bench-app")
    days = 8
    started = time.perf_counter()
    for minute in range(days * 1440):
        at = START + minute * 60
        sample = Sample("web", 2, "Standard-2X", 2, "Standard-2X", "within_target", demand=demand_at(minute))
        store.write(TickRecord(at, (sample,), (), Status(at, "bench", True, False, 2.0)))
    print(f"recorded {days} days of one process type in {time.perf_counter() - started:.1f} s")
    env = {
        "HEROKU_API_KEY": "bench-token-0123456789",
        "AUTOSCALER_APP": "bench-app",
        "REDIS_URL": redis_url,
        "AUTOSCALER_PROCESSES__WEB__SOURCE": "web",
        "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "20",
        "AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS": "50",
        "AUTOSCALER_PROCESSES__WEB__PREDICT": "true",
    }
    settings = load_settings(env)
    now = START + days * 86400 + 8 * 3600  # Tuesday 08:00 of the second week
    tracemalloc.start()
    predictor = Predictor(settings.processes, store, silent())
    observations = {"web": Observation("web", 2, "Standard-2X", Reading(at=now, rate=10.0))}
    started = time.perf_counter()
    predictor.attach(observations, now)
    first = time.perf_counter() - started
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_minute: list[float] = []
    per_tick: list[float] = []
    found = None
    for second in range(0, 2 * 3600, 2):  # two hours of 2 s ticks: 08:00 to 10:00
        at = now + second
        new_minute = second % 60 == 0
        started = time.perf_counter()
        forecast = predictor.attach(observations, at)["web"].forecast
        if second == 59 * 60:
            found = forecast
        (per_minute if new_minute else per_tick).append(time.perf_counter() - started)
        predictor.note([decision(demand_at(int(at // 60 - START // 60)))], at)
    print(f"first forecast (reads {days} days, judges the last day's forecasts): {first * 1000:.0f} ms")
    median, most = statistics.median(per_minute) * 1000, max(per_minute) * 1000
    print(f"a forecast each new minute: median {median:.2f} ms, max {most:.2f} ms")
    print(f"a tick within a minute (cached): median {statistics.median(per_tick) * 1e6:.1f} µs")
    print(f"memory of {days} days of recorded demand and the forecast state: {memory / 1024:.0f} KiB")
    assert found is not None
    print(f"forecast at 08:59 on the second Tuesday: {found.status} ({found.message})")
    client.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
