"""The Redis backends: rq, Celery on Redis, Dramatiq and plain lists, in db 8 of the local
Redis by default (``--redis-url``).

Each is filled with raw pipelined writes in the library's own layout; rq and Celery first
publish one real job themselves, read back as the template of the copies, and Dramatiq's
messages are encoded by Dramatiq. Every key carries the run's tag (the harness unlinks them
at the end); rq's ``rq:queues`` set, which does not, loses this run's members.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from autoscaler.signals.celery import build as build_celery
from autoscaler.signals.dramatiq import build as build_dramatiq
from autoscaler.signals.redis_list import build as build_redis_list
from autoscaler.signals.rq import build as build_rq
from benchmarks.sources.celery_tasks import send_templates, stamped
from benchmarks.sources.harness import Bench, Result

WORKERS = 20
"""Dramatiq worker processes (heartbeats), each holding one running message."""
PIPELINE_CHUNK = 5000
"""Commands sent per pipeline round trip while filling Redis."""
PUSH_CHUNK = 1000
"""Values per RPUSH/LPUSH while filling Redis."""
NOOP = f"{__name__}.noop"


def noop() -> None:
    """The job rq enqueues for the template; never run."""


def redis_version(url: str) -> str:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return f"Redis {client.info('server').get('redis_version')}"
    finally:
        client.close()


def flush_if_full(pipe: redis.client.Pipeline) -> None:
    if len(pipe) >= PIPELINE_CHUNK:
        pipe.execute()


def push(pipe: redis.client.Pipeline, key: str, values: list[str], left: bool = False) -> None:
    """RPUSH (LPUSH if ``left``) ``values`` onto ``key``, :data:`PUSH_CHUNK` at a time, in order."""
    command = pipe.lpush if left else pipe.rpush
    for i in range(0, len(values), PUSH_CHUNK):
        command(key, *values[i : i + PUSH_CHUNK])
        flush_if_full(pipe)


# --- rq -----------------------------------------------------------------------------------


def rq_time(at: float) -> str:
    """A time as rq writes ``enqueued_at``: UTC, microseconds, a literal Z."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rq(bench: Bench) -> list[Result]:
    from rq import Queue

    registry = [f"rq:queue:{name}" for name in bench.queues]
    bench.cleanup.callback(bench.redis.srem, "rq:queues", *registry)
    started = bench.begin_fill()
    # One real job, by rq itself: the layout of the copies.
    job = Queue(bench.queues[0], connection=bench.redis).enqueue(NOOP, job_id=f"{bench.tag}-template")
    template: dict[Any, Any] = {_text(key): value for key, value in bench.redis.hgetall(f"rq:job:{job.id}").items()}
    bench.redis.delete(f"rq:job:{job.id}", registry[0])
    pipe = bench.redis.pipeline(transaction=False)
    for q, (name, stamps) in enumerate(bench.waiting()):
        pipe.sadd("rq:queues", f"rq:queue:{name}")
        ids = [f"{bench.tag}-{q}-{j}" for j in range(len(stamps))]
        for job_id, stamp in zip(ids, stamps, strict=True):
            at = rq_time(stamp)
            mapping = template | {"origin": name, "created_at": at, "enqueued_at": at, "description": f"{NOOP}()"}
            pipe.hset(f"rq:job:{job_id}", mapping=mapping)
            flush_if_full(pipe)
        push(pipe, f"rq:queue:{name}", ids)
    now = time.time()
    for k, name in enumerate(bench.running()):
        job_id = f"{bench.tag}-running-{k}"
        mapping = template | {"origin": name, "status": "started", "started_at": rq_time(now - 5)}
        pipe.hset(f"rq:job:{job_id}", mapping=mapping)
        pipe.zadd(f"rq:wip:{name}", {f"{job_id}:{uuid.uuid4().hex}": now + 3600})
    pipe.execute()
    fill = time.perf_counter() - started
    source = bench.build(build_rq, "worker", source="rq", url=bench.args.redis_url, queues=bench.queues)
    return [bench.measure_redis("rq", "RQ 3.0 layout, prefix rq", source, fill)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- Celery on Redis ----------------------------------------------------------------------


def celery_copy(template: dict[str, Any], stamp: float) -> dict[str, Any]:
    """A copy of a task message as kombu stores it, with a new task id, delivery tag and
    publish stamp."""
    headers, properties = stamped(template["headers"], template["properties"], stamp)
    return template | {"headers": headers, "properties": properties | {"delivery_tag": str(uuid.uuid4())}}


def celery_redis(bench: Bench) -> list[Result]:
    started = bench.begin_fill()
    prefix = f"{bench.tag}:celery:"
    send_templates(bench.args.redis_url, bench.queues, {"global_keyprefix": prefix})
    templates: dict[str, dict[str, Any]] = {}
    for name in bench.queues:
        templates[name] = json.loads(bench.redis.lrange(f"{prefix}{name}", 0, -1)[0])
        bench.redis.delete(f"{prefix}{name}")
    pipe = bench.redis.pipeline(transaction=False)
    for name, stamps in bench.waiting():
        # Oldest first: kombu LPUSHes, the oldest ends at the tail.
        push(pipe, f"{prefix}{name}", [json.dumps(celery_copy(templates[name], s)) for s in stamps], left=True)
    now = time.time()
    for name in bench.running():  # prefetched or running (acks_late): in unacked, as kombu keeps them
        message = celery_copy(templates[name], now - 5)
        info = message["properties"]["delivery_info"]
        tag = message["properties"]["delivery_tag"]
        pipe.hset(f"{prefix}unacked", tag, json.dumps([message, info["exchange"], info["routing_key"]]))
        pipe.zadd(f"{prefix}unacked_index", {tag: now})
    pipe.execute()
    fill = time.perf_counter() - started
    source = bench.build(
        build_celery, "worker", source="celery", url=bench.args.redis_url, queues=bench.queues, prefix=prefix
    )
    setup = "kombu layout, 4 priority steps per queue, publish stamp"
    return [bench.measure_redis("celery (Redis)", setup, source, fill)]


# --- Dramatiq -----------------------------------------------------------------------------


def dramatiq_message(queue: str, redis_id: str, timestamp_ms: int) -> bytes:
    """A message as dramatiq's RedisBroker.enqueue stores it: its own JSON encoding, with the
    per-enqueue ``redis_message_id`` option."""
    import dramatiq

    encoded: bytes = dramatiq.Message(
        queue_name=queue,
        actor_name="noop",
        args=(),
        kwargs={},
        options={"redis_message_id": redis_id},
        message_timestamp=timestamp_ms,
    ).encode()
    return encoded


def dramatiq(bench: Bench) -> list[Result]:
    started = bench.begin_fill()
    ns = f"{bench.tag}:dramatiq"
    pipe = bench.redis.pipeline(transaction=False)
    for name, stamps in bench.waiting():
        ids = [str(uuid.uuid4()) for _ in stamps]
        for redis_id, stamp in zip(ids, stamps, strict=True):
            pipe.hset(f"{ns}:{name}.msgs", redis_id, dramatiq_message(name, redis_id, int(stamp * 1000)))
            flush_if_full(pipe)
        push(pipe, f"{ns}:{name}", ids)
    now_ms = int(time.time() * 1000)
    workers = [str(uuid.uuid4()) for _ in range(WORKERS)]
    pipe.zadd(f"{ns}:__heartbeats__", dict.fromkeys(workers, now_ms))
    for worker, name in zip(workers, bench.running(), strict=False):  # the first RUNNING workers hold one
        redis_id = str(uuid.uuid4())
        pipe.hset(f"{ns}:{name}.msgs", redis_id, dramatiq_message(name, redis_id, now_ms - 5000))
        pipe.sadd(f"{ns}:__acks__.{worker}.{name}", redis_id)
    pipe.execute()
    fill = time.perf_counter() - started
    source = bench.build(
        build_dramatiq, "worker", source="dramatiq", url=bench.args.redis_url, queues=bench.queues, prefix=ns
    )
    return [bench.measure_redis("dramatiq", f"dramatiq 2.2 layout, {WORKERS} worker heartbeats", source, fill)]


# --- plain lists --------------------------------------------------------------------------


def redis_list(bench: Bench) -> list[Result]:
    started = bench.begin_fill()
    keys = [f"{bench.tag}:list:{i}" for i in range(len(bench.queues))]
    pipe = bench.redis.pipeline(transaction=False)
    for key, count in zip(keys, bench.counts, strict=True):
        push(pipe, key, [f"job-{j}" for j in range(count)])
    pipe.execute()
    fill = time.perf_counter() - started
    source = bench.build(build_redis_list, "worker", source="redis_list", url=bench.args.redis_url, queues=keys)
    return [bench.measure_redis("redis_list", "LLEN of each list, one pipeline", source, fill)]
