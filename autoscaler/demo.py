"""``python -m autoscaler.demo``: the daemon end to end on this machine, no Heroku account needed.

It starts the local Platform API stand-in (:mod:`autoscaler.fake_heroku`) with a
``worker`` formation of one dyno, puts a real RQ backlog into the local Redis, and runs
the real daemon ticks against both: the backlog scales the worker up at once, and once
it drains the dynos stay for ``DOWNSCALE_DELAY`` and then go. Every line it prints is the
daemon's own log.
"""

from __future__ import annotations

import os
import sys
import time

import redis

from autoscaler import logs
from autoscaler.clock import SystemClock
from autoscaler.config import load_settings
from autoscaler.daemon import Daemon
from autoscaler.fake_heroku import FakeHeroku
from autoscaler.heroku import HerokuClient
from autoscaler.redact import Redactor
from autoscaler.signals.build import build_sources

REDIS_URL = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/14")
QUEUE = "autoscaler-demo"
JOBS = 120
DELAY = 6


def _backlog(client: redis.Redis, count: int) -> None:
    """A backlog made by the real rq library, as the app would enqueue it."""
    from rq import Queue  # a development dependency: the development install (`make daemon-demo`, `make test`) has it

    queue = Queue(QUEUE, connection=client)
    for number in range(count):
        queue.enqueue("builtins.print", number)


def main() -> int:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        print(f"demo: Redis is not reachable at {REDIS_URL}: start redis-server (apt-get install redis-server)")
        return 1
    fake = FakeHeroku("demo-app", "demo-token", {"worker": (1, "Standard-1X")})
    api_url = fake.start()
    env = {
        "HEROKU_API_KEY": "demo-token",
        "HEROKU_API_URL": api_url,
        "AUTOSCALER_APP": "demo-app",
        "AUTOSCALER_INTERVAL": "1",
        "AUTOSCALER_LOG_FORMAT": "logfmt",
        "REDIS_URL": REDIS_URL,
        "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
        "AUTOSCALER_PROCESSES__WORKER__QUEUES": QUEUE,
        "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
        "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "20",
        "AUTOSCALER_PROCESSES__WORKER__MAX_LATENCY": "60",
        "AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY": str(DELAY),
        "AUTOSCALER_PROCESSES__WORKER__BOOT_TIME": "2",
    }
    settings = load_settings(env)
    logs.configure("logfmt", "info", Redactor(["demo-token"]), sys.stdout)
    api = HerokuClient("demo-token", base_url=api_url)
    daemon = Daemon(settings, api, build_sources(settings), clock=SystemClock())
    try:
        print(f"# {JOBS} jobs enqueued with rq in {REDIS_URL}, queue {QUEUE!r}; worker formation: 1 dyno")
        _backlog(client, JOBS)
        daemon.tick()
        print(f"# formation now: {fake.quantities()}. The backlog drains (workers ran it) ...")
        client.delete(f"rq:queue:{QUEUE}")
        for _ in range(DELAY + 1):
            time.sleep(1)
            daemon.tick()
        print(f"# formation after DOWNSCALE_DELAY={DELAY}s: {fake.quantities()}; PATCH bodies sent: {fake.patches}")
    finally:
        daemon.close()
        api.close()
        fake.stop()
        for key in client.scan_iter(match="rq:*"):  # the demo's own database only
            client.delete(key)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
