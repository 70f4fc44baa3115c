"""What the engine learns from successive readings: the arrival rate, the per-dyno throughput of a
worker, the correction of a web app's time that makes the random-routing model predict the queue
time actually observed, and for a ``router`` process the app time (from quiet readings) and the
correction that makes the response-time model (:mod:`.response`) predict the p95 observed. Each is
a smoothed (EWMA) value kept in :class:`ProcessState`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from autoscaler import queueing
from autoscaler.policy.decision import ProcessState
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.response import ResponseModel, fit_app, fit_correction
from autoscaler.signals import Reading

EWMA_WEIGHT = 0.3
"""Weight of the newest sample in the smoothed arrival rate, throughput and model correction."""
CORRECTION_RANGE = (0.5, 4.0)
"""Bounds of the web model's online correction of the app time."""
MIN_ARRIVAL_SAMPLE = 5
MIN_ARRIVAL_WINDOW = 10.0
"""Waiting jobs, and seconds the oldest has waited, before ``depth / latency`` is used as an arrival
rate: a handful of jobs over a few seconds is a Poisson burst, not a rate."""
HEAD_STUCK = 0.9
"""The oldest job aged by at least this share of the interval: the head of the queue did not move."""
MIN_OBSERVED_WAIT = 0.001
"""Seconds of p95 queue wait below which an observation says nothing about the app time."""


def per_dyno_rate(config: EngineConfig, state: ProcessState) -> float | None:
    """Jobs a second one dyno does: from JOB_DURATION when set, else as measured."""
    if config.job_duration is not None:
        return config.concurrency / config.job_duration
    return state.per_dyno_rate


def ewma(old: float | None, sample: float) -> float:
    return sample if old is None else (1 - EWMA_WEIGHT) * old + EWMA_WEIGHT * sample


def learn(reading: Reading, state: ProcessState, serving: int, config: EngineConfig) -> ProcessState:
    """Update the measured arrival rate and per-dyno throughput from successive readings.

    Arrivals: while some workers are idle, Little's law on the workers (busy = arrivals × job time,
    and job time = CONCURRENCY / per-dyno throughput); while every worker is busy, Little's law on
    the queue (what waits arrived within the oldest job's wait), once enough jobs have waited long
    enough for that to be a rate rather than a burst, and only while the head of the queue moves.
    Per-dyno throughput: from two readings with every worker busy, as what arrived minus what the
    backlog grew, per serving dyno. A batch dump (the head does not move: every waiting job was
    enqueued at once) is no arrival rate; its drain alone measures the throughput, from below.
    """
    if state.previous is not None and reading.at <= state.previous[0]:
        return state  # a reading already learned from (or an older one) teaches nothing new
    sample = _Sample.of(reading, state, serving * config.concurrency)
    previous = (reading.at, reading.depth, reading.latency or 0.0) if reading.depth is not None else state.previous
    learned = learn_response(reading, config, state, serving)
    return replace(
        learned,
        arrival_rate=_arrivals(sample, state, config),
        per_dyno_rate=_throughput(sample, state, serving),
        previous=previous,
        correction=correct_model(reading, config, learned, serving),
    )


@dataclass(frozen=True, slots=True)
class _Sample:
    """One reading next to the one before it (``elapsed`` seconds earlier, 0 without one)."""

    reading: Reading
    saturated: bool
    """Every worker busy (or, without a busy count, twice as many jobs waiting as workers)."""
    elapsed: float
    head_stuck: bool
    queue_rate: float | None
    """``depth / latency`` when it is an arrival rate (Little's law on the queue)."""

    @classmethod
    def of(cls, reading: Reading, state: ProcessState, workers: int) -> _Sample:
        depth, latency, busy = reading.depth, reading.latency, reading.busy
        saturated = busy >= workers if busy is not None else (depth is not None and depth >= 2 * workers)
        previous = state.previous
        elapsed = reading.at - previous[0] if previous is not None else 0.0
        head_stuck = (
            previous is not None
            and elapsed > 0
            and latency is not None
            and latency - previous[2] >= HEAD_STUCK * elapsed
        )
        queue_rate = None
        if (
            depth is not None
            and depth >= MIN_ARRIVAL_SAMPLE
            and latency is not None
            and latency >= MIN_ARRIVAL_WINDOW
            and not reading.latency_is_lower_bound
            and not head_stuck
        ):
            queue_rate = depth / latency
        return cls(reading, saturated, elapsed, head_stuck, queue_rate)


def _arrivals(sample: _Sample, state: ProcessState, config: EngineConfig) -> float | None:
    busy = sample.reading.busy
    rate = per_dyno_rate(config, state)
    if sample.saturated or busy is None:
        new = sample.queue_rate
    else:
        new = busy * rate / config.concurrency if rate is not None else None
    return state.arrival_rate if new is None else ewma(state.arrival_rate, new)


def _throughput(sample: _Sample, state: ProcessState, serving: int) -> float | None:
    depth, previous = sample.reading.depth, state.previous
    if not sample.saturated or previous is None or sample.elapsed <= 0 or depth is None:
        return state.per_dyno_rate
    if previous[1] <= 0 or serving <= 0:
        return state.per_dyno_rate
    drained = (previous[1] - depth) / sample.elapsed
    if sample.queue_rate is not None:
        return ewma(state.per_dyno_rate, max(0.0, sample.queue_rate + drained) / serving)
    if sample.head_stuck and drained > 0:
        return ewma(state.per_dyno_rate, drained / serving)
    return state.per_dyno_rate


def correct_model(reading: Reading, config: EngineConfig, state: ProcessState, serving: int) -> float:
    """Move the app-time correction so the model predicts the p95 queue time observed now."""
    if (
        config.queue_time_ms is None
        or reading.rate is None
        or reading.rate <= 0
        or not reading.app_time
        or reading.queue_time_p95 is None
        or serving <= 0
    ):
        return state.correction
    model = _Model(config.processes_per_dyno or 1, reading.rate / serving, reading.app_time)
    observed = reading.queue_time_p95 / 1000
    if observed < MIN_OBSERVED_WAIT and model.wait(state.correction) <= config.queue_time_ms / 1000:
        # No queueing visible and the model agrees the target is met: a p95 of 0 says only that fewer
        # than 5 % waited, not how fast the app is, so there is nothing to learn from it.
        return state.correction
    fitted = model.fit(observed)
    return math.exp((1 - EWMA_WEIGHT) * math.log(state.correction) + EWMA_WEIGHT * math.log(fitted))


@dataclass(frozen=True, slots=True)
class _Model:
    """One dyno under random routing: ``k`` processes fed ``per_dyno`` requests a second of
    ``app_time`` ms each (times the correction factor)."""

    k: int
    per_dyno: float
    app_time: float

    def wait(self, factor: float) -> float:
        """The p95 queue wait in seconds with the app time times ``factor`` (inf: saturated)."""
        service_s = self.app_time / 1000 * factor
        if self.per_dyno * service_s >= self.k:
            return math.inf
        return queueing.wait_quantile(self.k, self.per_dyno, service_s, 0.95)

    def fit(self, observed: float) -> float:
        """The factor, within :data:`CORRECTION_RANGE`, at which the model predicts ``observed``."""
        low, high = CORRECTION_RANGE
        for _ in range(40):  # bisection on the factor: wait() grows with it
            mid = math.sqrt(low * high)
            if self.wait(mid) < observed:
                low = mid
            else:
                high = mid
        return math.sqrt(low * high)


def learn_response(reading: Reading, config: EngineConfig, state: ProcessState, serving: int) -> ProcessState:
    """A router process: learn the app time from a quiet reading, else the correction, so the
    response-time model predicts the p95 observed at the ``serving`` dynos (see :mod:`.response`).
    The first reading gives the app time whatever the load (too high under load: more dynos, and
    the next quiet readings bring it down)."""
    p95 = reading.response_time_p95
    if config.response_time_ms is None or reading.rate is None or reading.rate <= 0 or not p95 or serving <= 0:
        return state
    k = config.processes_per_dyno or 1
    per_dyno = reading.rate / serving
    observed = p95 / 1000
    if state.app_time is None:
        return replace(state, app_time=fit_app(k, per_dyno, state.correction, observed) * 1000)
    model = ResponseModel(k, state.app_time / 1000, state.correction)
    if model.quiet(per_dyno) or observed <= model.app_p95:
        app_ms = fit_app(k, per_dyno, state.correction, observed) * 1000
        return replace(state, app_time=ewma(state.app_time, app_ms))
    fitted = fit_correction(k, per_dyno, model.app_s, observed)
    return replace(
        state, correction=math.exp((1 - EWMA_WEIGHT) * math.log(state.correction) + EWMA_WEIGHT * math.log(fitted))
    )
