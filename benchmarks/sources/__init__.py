"""Time per reading of every signal source, against the real local Redis, PostgreSQL and
RabbitMQ, with ``--queues`` queues holding ``--jobs`` waiting jobs in total.

    .venv/bin/python -m benchmarks.sources [--jobs 100000] [--queues 10] [--reads 30]

Each backend is filled fast, with raw writes in the library's own layout: one job per
queue is first published by the library itself (rq ``enqueue``, Celery ``send_task``),
read back and used as the template of the copies, which go in by pipelines (Redis),
``basic_publish`` without waiting (RabbitMQ) or ``COPY`` (PostgreSQL, into tables made by
procrastinate's and pgqueuer's own schema installers). The oldest job of each queue has
waited :data:`~benchmarks.sources.harness.OLDEST_AGE` seconds, and where a backend knows
running jobs there are :data:`~benchmarks.sources.harness.RUNNING` of them (rq started jobs,
Celery ``unacked`` entries, Dramatiq acks of worker heartbeats, procrastinate ``doing`` and
pgqueuer ``picked`` rows).

Every source is built with its module's real ``build(...)`` from a ``ProcessConfig`` and one
shared :class:`~autoscaler.signals.build.Connections`, as the daemon does. One read warms it
up (connects, loads the Lua script), then ``--reads`` reads are timed one by one with
``time.perf_counter``; the table gives the median and the 95th percentile (nearest rank).
Round trips per read are counted, not guessed: Redis by a connection class that counts the
packets it sends (a pipeline or an EVALSHA is one), RabbitMQ by py-amqp's count of frames
written, HTTP by a request hook (management API) or the local server's own count
(``http_json``), PostgreSQL with a libpq protocol trace of one more read.

Everything written carries a random tag (``bench_<hex>``): Redis keys in db 8 (scanned by
the tag and unlinked at the end, plus this run's members of rq's ``rq:queues`` set), the
PostgreSQL schemas ``bench_<hex>_*`` (dropped) and the RabbitMQ queues and exchanges
(deleted), also when a step fails or the run is interrupted (Ctrl-C, SIGTERM).
Prints Markdown; exits 1 when a source could not be measured.

Modules: :mod:`~benchmarks.sources.harness` (shared run state, timing, the table),
:mod:`~benchmarks.sources.cli` (options, the run, the report), and one per backend:
:mod:`~benchmarks.sources.redis_backends` (rq, Celery on Redis, Dramatiq, plain lists),
:mod:`~benchmarks.sources.web`, :mod:`~benchmarks.sources.rabbitmq` (Celery on RabbitMQ),
:mod:`~benchmarks.sources.postgres` (procrastinate, pgqueuer, a custom query) and
:mod:`~benchmarks.sources.http_json`; :mod:`~benchmarks.sources.celery_tasks` holds what
both Celery backends share.
"""

from benchmarks.sources.cli import main

__all__ = ["main"]
