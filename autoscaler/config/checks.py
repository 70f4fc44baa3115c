"""The checks that look at several values at once, run once every value parses: bounds
against Heroku's limits and the schedules, a target per process type, each source's URL and
needs, and global values a tick could not use."""

from __future__ import annotations

import re

from autoscaler import sizes
from autoscaler.config.process import (
    PROCESS_TYPE_PATTERN,
    REDIS_SCHEMES,
    ProcessConfig,
    RedisListSettings,
    SQLSettings,
)
from autoscaler.config.settings import Settings, process_var, url_needed
from autoscaler.policy import size_limit
from autoscaler.urls import url_problem

PREDICT_MAX_INTERVAL = 30.0
"""Seconds between ticks at most with ``PREDICT``: every minute must record the demand."""


def process_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    for name, process in settings.processes.items():
        var = process_var(name)
        if not re.match(PROCESS_TYPE_PATTERN, name):
            problems.append(f"{var}: {name!r} is not a Heroku process type name")
        if process.max_dynos < process.min_dynos:
            problems.append(f"{var}__MAX_DYNOS: must be >= MIN_DYNOS ({process.min_dynos})")
        if process.source == "web":
            if process.queue_time_ms is None:
                problems.append(f"{var}: a web process needs a target: set {var}__QUEUE_TIME_MS")
        elif process.source == "router":
            if process.response_time_ms is None:
                problems.append(f"{var}: a router process needs a target: set {var}__RESPONSE_TIME_MS")
        elif process.jobs_per_dyno is None and process.max_latency is None:
            problems.append(f"{var}: needs at least one target: set {var}__JOBS_PER_DYNO or {var}__MAX_LATENCY")
        if process.predict and settings.interval > PREDICT_MAX_INTERVAL:
            problems.append(
                f"{var}__PREDICT: the forecast learns and judges minute by minute and needs a tick at least every "
                f"{PREDICT_MAX_INTERVAL:g}s; AUTOSCALER_INTERVAL is {settings.interval:g}"
            )
        problems += _foreign_targets(name, process)
        problems += _limit_problems(name, process)
        problems += _source_problems(name, process, settings)
    return problems


_WORKER_ONLY = ("jobs_per_dyno", "max_latency", "job_duration")
_READS: dict[str, tuple[str, ...]] = {
    "web": ("queue_time_ms", "processes_per_dyno"),
    "router": ("response_time_ms", "processes_per_dyno"),
}
"""The web-side settings each web source reads; a worker source reads the worker ones instead."""


def _foreign_targets(name: str, process: ProcessConfig) -> list[str]:
    """A target of another kind of process would be ignored without a word: refuse it instead."""
    reads = _READS.get(process.source, _WORKER_ONLY)
    web_side = {field for fields in _READS.values() for field in fields}
    foreign = (web_side | set(_WORKER_ONLY)) - set(reads)
    return [
        f"{process_var(name, field)}: not read by the {process.source} source, which reads "
        f"{', '.join(target.upper() for target in reads)}"
        for field in sorted(foreign)
        if getattr(process, field) is not None
    ]


def _limit_problems(name: str, process: ProcessConfig) -> list[str]:
    """Bounds Heroku would refuse, found at start-up rather than on the first PATCH."""
    problems: list[str] = []
    if process.size is not None:
        limit = size_limit(process.size, process.size_limit)
        if limit is not None and process.max_dynos > limit:
            problems.append(
                f"{process_var(name, 'max_dynos')}: {process.max_dynos} is more than Heroku runs of {process.size} "
                f"dynos per process type ({limit}); lower MAX_DYNOS or choose another SIZE"
            )
        generation = sizes.generation_of(process.size)
        if (limit is None or limit > generation.app_limit) and process.max_dynos > generation.app_limit:
            problems.append(
                f"{process_var(name, 'max_dynos')}: {process.max_dynos} is more than Heroku runs in one "
                f"{generation.value.capitalize()} app ({generation.app_limit}), and SIZE {process.size} "
                f"is a {generation.value.capitalize()} size"
            )
    # Above Cedar's 100 only a Fir app may go; the generation is known at the first formation
    # read, which logs an error and keeps a Cedar app within 100 (autoscaler.appview).
    if process.max_dynos > sizes.FIR_DYNO_LIMIT:
        problems.append(
            f"{process_var(name, 'max_dynos')}: {process.max_dynos} is more than Heroku runs in one app "
            f"({sizes.APP_DYNO_LIMIT} on Cedar, {sizes.FIR_DYNO_LIMIT} on Fir)"
        )
    for number, window in enumerate(process.schedules, 1):
        if window.min_dynos is not None and window.min_dynos > process.max_dynos:
            problems.append(
                f"{process_var(name, 'schedules')}: schedule {number} ({window.cron}) asks for "
                f"min_dynos {window.min_dynos}, more than MAX_DYNOS ({process.max_dynos})"
            )
        if window.min_dynos is not None and window.max_dynos is not None and window.max_dynos < window.min_dynos:
            problems.append(
                f"{process_var(name, 'schedules')}: schedule {number} ({window.cron}) has max_dynos "
                f"{window.max_dynos} below its min_dynos {window.min_dynos}"
            )
    return problems


def _source_problems(name: str, process: ProcessConfig, settings: Settings) -> list[str]:
    """What a source needs beyond the common fields, each named by the variable the user set."""
    problems: list[str] = []
    url = settings.source_url(process)
    if url is None:
        problems.append(f"{process_var(name, 'url')}: required: {url_needed(process)}")
    else:
        problem = url_problem(url, process.SCHEMES)
        if problem:
            var = settings.url_variable(name, process)
            used = "" if var == process_var(name, "url") else f" (read by process type {name!r})"
            problems.append(f"{var}{used}: {problem}")
    if isinstance(process, SQLSettings) and (process.query is None) == (process.preset is None):
        problems.append(
            f"{process_var(name, 'query')}: set either QUERY (a query of your own) "
            "or PRESET (procrastinate, pgqueuer, django_q2)"
        )
    if isinstance(process, RedisListSettings) and not process.queues:
        problems.append(f"{process_var(name, 'queues')}: required: the Redis list keys to count")
    return problems


def global_problems(settings: Settings) -> list[str]:
    """Global settings that parse but that a tick could not use."""
    problems: list[str] = []
    state_url = settings.effective_state_url
    source_urls = {settings.source_url(process) for process in settings.processes.values()}
    if state_url is not None and (settings.state_url or state_url not in source_urls):  # else said once, below
        problem = url_problem(state_url, REDIS_SCHEMES)
        if problem:
            var = (
                "AUTOSCALER_STATE_URL"
                if settings.state_url
                else next(v for v in ("REDIS_TLS_URL", "REDIS_URL") if settings.addon_url(v))
            )
            problems.append(f"{var}: {problem} (the state store is Redis)")
    if settings.notify_url is not None:
        problem = url_problem(settings.notify_url.get_secret_value(), ("https", "http"))
        if problem:  # the webhook URL is a secret: say what is wrong, not what it is
            problems.append("AUTOSCALER_NOTIFY_URL: must be an https:// (or http://) webhook URL with a host")
    for size_name in settings.prices:
        if sizes.lookup(size_name) is None:
            problems.append(
                f"AUTOSCALER_PRICES: unknown dyno size {size_name!r}; known sizes: {', '.join(sizes.known_names())}"
            )
    return problems
