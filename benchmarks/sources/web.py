"""The ``web`` source: request-count slots in Redis, as the middleware of :data:`DYNOS` web
dynos leaves them (the layout of :mod:`autoscaler.signals.webwire`), filled for a little
more than one reading's window."""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_right
from typing import Any

from autoscaler.signals.web import build as build_web
from autoscaler.signals.webwire import (
    EDGES_MS,
    FIELD_APP_US,
    FIELD_BUCKET,
    FIELD_DYNO,
    FIELD_QUEUED,
    FIELD_REQUESTS,
    KEY_TTL,
    SLOT_SECONDS,
    slot_key,
    slot_start,
)
from benchmarks.sources.harness import Bench, Result
from benchmarks.sources.redis_backends import flush_if_full

DYNOS = 20
"""Web dynos whose middleware wrote the request-count slots."""
WEB_WINDOW = 600.0
"""Seconds of slots behind one web reading (the longest window, 120 slots)."""
WEB_RATE = 20.0
"""Requests per second per web dyno."""


def web_slot(rng: random.Random) -> dict[Any, int]:
    """One slot hash as the middleware of DYNOS dynos leaves it (merged counts)."""
    per_dyno = [max(0, round(rng.gauss(WEB_RATE * SLOT_SECONDS, 10))) for _ in range(DYNOS)]
    requests = sum(per_dyno)
    histogram: dict[int, int] = {}
    for _ in range(requests):
        index = bisect_right(EDGES_MS, rng.lognormvariate(math.log(8.0), 1.0))
        histogram[index] = histogram.get(index, 0) + 1
    slot: dict[Any, int] = {
        FIELD_REQUESTS: requests,
        FIELD_QUEUED: requests,
        FIELD_APP_US: requests * rng.randint(40_000, 90_000),
    }
    slot |= {f"{FIELD_BUCKET}{index}": count for index, count in histogram.items()}
    slot |= {f"{FIELD_DYNO}web.{d + 1}": count for d, count in enumerate(per_dyno)}
    return slot


def web(bench: Bench) -> list[Result]:
    started = bench.begin_fill()
    rng = random.Random(7)  # the same slots in every run
    prefix = f"{bench.tag}:web"
    now = time.time()
    # The window read ends 3–8 s before now; slots up to 5 minutes ahead keep it whole for
    # reads made later in the run.
    first = slot_start(now - WEB_WINDOW - 100)
    last = slot_start(now + 300)
    pipe = bench.redis.pipeline(transaction=False)
    for slot in range(first, last + 1, SLOT_SECONDS):
        pipe.hset(slot_key(prefix, "web", slot), mapping=web_slot(rng))
        pipe.expire(slot_key(prefix, "web", slot), KEY_TTL)
        flush_if_full(pipe)
    pipe.execute()
    fill = time.perf_counter() - started
    source = bench.build(build_web, "web", source="web", url=bench.args.redis_url, window=WEB_WINDOW, prefix=prefix)
    slots = WEB_WINDOW / SLOT_SECONDS
    setup = f"{WEB_WINDOW / 60:.0f} min of {SLOT_SECONDS} s slots ({slots:.0f} hashes), {DYNOS} dynos"
    return [bench.measure_redis("web", setup, source, fill)]
