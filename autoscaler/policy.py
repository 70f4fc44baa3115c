"""The decision engine: a pure function from what was observed to the formation wanted.

:func:`decide` takes (observation, state, config, now) for one process type and returns a
:class:`Decision` and the next :class:`ProcessState`; :func:`decide_formation` runs it for
every managed process type and then applies the app-wide bounds (Heroku's 100 dynos per
app, ``AUTOSCALER_MAX_MONTHLY_COST``). Nothing here reads a clock, does I/O or touches a
global, so every rule is tested with plain values (tests/test_policy.py).

One process type, in order:

1. **Readiness of the data.** A reading that failed or is older than ``STALE_AFTER`` is
   unknown. Unknown data never lowers the formation: hold, and after ``FALLBACK_AFTER``
   unknown readings in a row raise to ``FALLBACK_QUANTITY`` if one is set.
2. **Recommendations**, the largest wins:
   - backlog: ``ceil(waiting / JOBS_PER_DYNO)``;
   - latency: with a measured (or configured) per-dyno throughput, the dynos that drain
     the backlog within ``MAX_LATENCY`` after booting (Little's law, and the backlog plus
     what arrives meanwhile divided by what a dyno clears in the time left); without one,
     ``ceil(ready × latency / MAX_LATENCY)``;
   - web, proportional: ``ceil(ready × p95 / QUEUE_TIME_MS)``;
   - web, model: the fewest dynos that keep the p95 queue wait under the target when
     Heroku's router sends each request to a random dyno (N independent M/M/k queues,
     :mod:`autoscaler.queueing`), with the app time corrected online so the model
     predicts the queue time actually observed;
   - running jobs: ``ceil(busy / CONCURRENCY)``: never remove dynos busy jobs need.
   A proportional rule within ``TOLERANCE`` of its target recommends no change.
3. **Stabilisation.** Scale up at once, at most ``max(SCALE_UP_DYNOS, SCALE_UP_PERCENT %)``
   per tick. Scale down only to the highest recommendation of the last
   ``DOWNSCALE_DELAY`` seconds, never while new dynos boot (``BOOT_TIME``) or a burst is
   on (a signal at twice its target: "panic", as Knative does), and at most
   ``SCALE_DOWN_PER_MINUTE`` dynos a minute when set.
4. **Floors and bounds.** A manual change (someone ran ``heroku ps:scale``) is the floor
   for ``MANUAL_HOLD`` seconds. Then ``[MIN_DYNOS, MAX_DYNOS]`` as changed by active
   schedules, then Heroku's per-type limit of the size (Eco/Basic 1, Performance 10
   unless ``SIZE_LIMIT`` says more).

Every decision carries a reason code (:class:`Reason`), a human message and the inputs
it used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from autoscaler import queueing, sizes
from autoscaler.config import ProcessConfig, size_limit
from autoscaler.schedule import window_active
from autoscaler.signals import Reading

PANIC_FACTOR = 2.0
"""A signal at this multiple of its target is a burst: no scale-down until it settles."""
PANIC_WINDOW = 60.0
"""Seconds a burst must stay away before scale-down may resume (at most DOWNSCALE_DELAY)."""
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
MAX_WEB_STEP = 2.0
"""The proportional web rule at most doubles the dynos per tick: queue time grows without bound near
saturation, so its ratio to the target overstates the capacity missing (the model sizes the rest)."""


class Reason(StrEnum):
    """Why a decision came out as it did. Logged as ``reason=``."""

    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    WITHIN_TARGET = "within_target"
    HELD_DOWNSCALE_DELAY = "held_downscale_delay"
    HELD_BOOTING = "held_booting"
    HELD_PANIC = "held_panic"
    HELD_MANUAL = "held_manual"
    HELD_SIGNAL_UNKNOWN = "held_signal_unknown"
    FALLBACK = "fallback"
    CLAMPED_TO_MAX = "clamped_to_max"
    CLAMPED_TO_MIN = "clamped_to_min"
    CLAMPED_TO_HEROKU_LIMIT = "clamped_to_heroku_limit"
    CLAMPED_TO_APP_LIMIT = "clamped_to_app_limit"
    CLAMPED_TO_BUDGET = "clamped_to_budget"
    SCALE_UP_LIMITED = "scale_up_limited"
    SCALE_DOWN_LIMITED = "scale_down_limited"
    RESIZE = "resize"


CLAMP_REASONS = frozenset(
    {
        Reason.CLAMPED_TO_MAX,
        Reason.CLAMPED_TO_MIN,
        Reason.CLAMPED_TO_HEROKU_LIMIT,
        Reason.CLAMPED_TO_APP_LIMIT,
        Reason.CLAMPED_TO_BUDGET,
    }
)


@dataclass(frozen=True, slots=True)
class Observation:
    """One process type as the daemon found it this tick."""

    process: str
    quantity: int
    size: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the engine remembers about one process type between ticks (all of it plain data,
    so the daemon can store it anywhere).

    ``history``: (time, recommendation) pairs of the downscale window, oldest first.
    ``ups``/``downs``: (time, dynos added/removed) of recent applied changes, for boot
    tracking and the scale-down rate. ``last_set``: the quantity the daemon last applied.
    """

    history: tuple[tuple[float, int], ...] = ()
    ups: tuple[tuple[float, int], ...] = ()
    downs: tuple[tuple[float, int], ...] = ()
    last_set: int | None = None
    manual_floor: int | None = None
    manual_until: float = 0.0
    failures: int = 0
    panic_until: float = 0.0
    previous: tuple[float, int, float] | None = None
    """(time, depth, latency) of the last good worker reading."""
    arrival_rate: float | None = None
    per_dyno_rate: float | None = None
    correction: float = 1.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one process type."""

    process: str
    current: int
    desired: int
    current_size: str
    desired_size: str
    reason: Reason
    message: str
    recommendation: int | None = None
    """The raw recommendation from the signals alone, before stabilisation and bounds."""
    inputs: dict[str, float | int | None] = field(default_factory=dict)
    manual_change: bool = False
    """The formation differed from what the daemon last set: someone scaled by hand."""

    @property
    def changed(self) -> bool:
        return self.desired != self.current or sizes.normalize(self.desired_size) != sizes.normalize(self.current_size)


@dataclass(frozen=True, slots=True)
class AppLimits:
    """The app-wide bounds :func:`decide_formation` applies across process types."""

    max_dynos: int = sizes.APP_DYNO_LIMIT
    other_dynos: int = 0
    """Dynos of process types this daemon does not manage (they count against the app limit)."""
    max_monthly_cost: float | None = None
    other_monthly_cost: float = 0.0
    prices: Mapping[str, float] = field(default_factory=dict)
    """USD per month by size key, overriding the catalogue."""


def monthly_price(size_name: str, prices: Mapping[str, float]) -> float | None:
    """USD per month of one dyno of ``size_name``: an override, else the catalogue."""
    key = sizes.normalize(size_name)
    if key in prices:
        return prices[key]
    size = sizes.lookup(size_name)
    return size.monthly_usd if size else None


# --- recommendations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Want:
    dynos: int
    why: str
    burst: bool = False


def _within(ratio: float, tolerance: float) -> bool:
    """For load-per-dyno targets (backlog): no change within the band on either side."""
    return abs(ratio - 1.0) <= tolerance


def _below_within(ratio: float, tolerance: float) -> bool:
    """For time targets (p95 queue time, oldest job): anything above the target breaches the SLO, so the
    band lies below it only: no scale-down while within TOLERANCE under the target."""
    return 1.0 - tolerance <= ratio <= 1.0


def _backlog(reading: Reading, config: ProcessConfig, ready: int) -> _Want | None:
    if config.jobs_per_dyno is None or reading.depth is None:
        return None
    need = math.ceil(reading.depth / config.jobs_per_dyno)
    capacity = max(ready, 1) * config.jobs_per_dyno
    burst = reading.depth >= PANIC_FACTOR * capacity and reading.depth > 0
    if ready > 0 and need != ready and _within(reading.depth / (ready * config.jobs_per_dyno), config.tolerance):
        return _Want(ready, f"{reading.depth} waiting is within {config.tolerance:.0%} of {ready} dynos' target")
    return _Want(need, f"{reading.depth} waiting / {config.jobs_per_dyno:g} per dyno → {need}", burst)


def _latency(reading: Reading, config: ProcessConfig, ready: int, state: ProcessState) -> _Want | None:
    target = config.max_latency
    if target is None or reading.latency is None:
        return None
    latency = reading.latency
    ratio = latency / target
    burst = ratio >= PANIC_FACTOR
    rate = _per_dyno_rate(config, state)
    depth = reading.depth
    if rate is not None and rate > 0 and depth is not None:
        return _Want(
            _drain(depth, latency, state.arrival_rate or 0.0, rate, ready, config),
            _drain_why(latency, depth, state, rate, config),
            burst,
        )
    if ready == 0:  # from zero: one dyno, or as many as the latency says one dyno would need
        need = max(1, math.ceil(ratio)) if (depth or 0) > 0 or latency > 0 else 0
        return _Want(need, f"oldest job {latency:.1f}s with no dyno running → {need}", burst)
    if _below_within(ratio, config.tolerance):
        return _Want(ready, f"oldest job {latency:.1f}s within {config.tolerance:.0%} of target {target:g}s")
    need = math.ceil(ready * ratio)
    if ratio > 1:
        need = max(need, ready + 1)
    verb = "over" if ratio > 1 else "under"
    return _Want(need, f"oldest job {latency:.1f}s {verb} target {target:g}s → {need}", burst)


def _drain(depth: int, latency: float, arrivals: float, rate: float, ready: int, config: ProcessConfig) -> int:
    """Dynos that keep up with arrivals and finish the backlog before its oldest job breaches
    MAX_LATENCY: ``(depth + arrivals × T) / (rate × T)`` with T the time left before that breach
    (Little's law for the steady part), counting that running dynos work the whole time while new
    ones help only after BOOT_TIME."""
    target = config.max_latency or 0.0
    remaining = max(target - latency, target / 4)  # until the oldest waiting job breaches
    steady = math.ceil(arrivals / rate) if arrivals > 0 else 0
    if ready > 0 and steady > ready and _within(arrivals / (ready * rate), config.tolerance):
        steady = ready  # arrivals within the band of what the running dynos do: no change for noise
    work = depth + arrivals * remaining
    if work <= ready * rate * remaining:
        return max(steady, math.ceil(work / (rate * remaining)) if work > 0 else 0)
    horizon = max(remaining - config.boot_time, target / 2)
    return max(steady, ready + math.ceil((work - ready * rate * remaining) / (rate * horizon)))


def _drain_why(latency: float, depth: int, state: ProcessState, rate: float, config: ProcessConfig) -> str:
    return (
        f"oldest job {latency:.1f}s (target {config.max_latency:g}s): {depth} waiting, "
        f"{state.arrival_rate or 0.0:.2f}/s arriving, {rate:.3g} jobs/s per dyno"
    )


def _per_dyno_rate(config: ProcessConfig, state: ProcessState) -> float | None:
    if config.job_duration is not None:
        return config.concurrency / config.job_duration
    return state.per_dyno_rate


def _web(reading: Reading, config: ProcessConfig, ready: int, state: ProcessState) -> list[_Want]:
    target = config.queue_time_ms
    if target is None:
        return []
    wants: list[_Want] = []
    p95 = reading.queue_time_p95
    if p95 is not None:
        ratio = p95 / target
        if ready == 0:
            wants.append(_Want(1, "web needs at least one dyno", ratio >= PANIC_FACTOR))
        elif _below_within(ratio, config.tolerance):
            wants.append(_Want(ready, f"p95 queue time {p95:.0f}ms within {config.tolerance:.0%} of {target:g}ms"))
        else:
            need = math.ceil(ready * min(ratio, MAX_WEB_STEP))
            wants.append(
                _Want(need, f"p95 queue time {p95:.0f}ms vs target {target:g}ms → {need}", ratio >= PANIC_FACTOR)
            )
    model = _web_model(reading, config, state)
    if model is not None:
        wants.append(model)
    return wants


def _web_model(reading: Reading, config: ProcessConfig, state: ProcessState) -> _Want | None:
    """Dynos needed under random routing: N independent M/M/k queues each fed rate/N."""
    if config.queue_time_ms is None or reading.rate is None or not reading.app_time or reading.rate <= 0:
        return None
    k = config.processes_per_dyno or 1
    service_s = reading.app_time / 1000 * state.correction
    need = queueing.dynos_for_random_routing(
        reading.rate, service_s, k, config.queue_time_ms / 1000, quantile=0.95, max_dynos=max(config.max_dynos, 1) * 4
    )
    if need is None:  # not reachable within 4 × MAX_DYNOS: ask for everything allowed
        need = config.max_dynos
    why = (
        f"model: {reading.rate:.1f} req/s × {service_s * 1000:.0f}ms on {k} processes/dyno, "
        f"random routing → {need} for p95 wait ≤ {config.queue_time_ms:g}ms"
    )
    return _Want(need, why)


def _correct_model(reading: Reading, config: ProcessConfig, state: ProcessState, serving: int) -> float:
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
    k = config.processes_per_dyno or 1
    per_dyno = reading.rate / serving
    observed = reading.queue_time_p95 / 1000

    def predicted(factor: float) -> float:
        service_s = reading.app_time / 1000 * factor if reading.app_time else 0.0
        if per_dyno * service_s >= k:
            return math.inf
        return queueing.wait_quantile(k, per_dyno, service_s, 0.95)

    low, high = CORRECTION_RANGE
    if observed < MIN_OBSERVED_WAIT and predicted(state.correction) <= config.queue_time_ms / 1000:
        # No queueing visible and the model agrees the target is met: a p95 of 0 says only that fewer
        # than 5 % waited, not how fast the app is, so there is nothing to learn from it.
        return state.correction
    for _ in range(40):  # bisection on the factor: predicted() grows with it
        mid = math.sqrt(low * high)
        if predicted(mid) < observed:
            low = mid
        else:
            high = mid
    fitted = math.sqrt(low * high)
    return math.exp((1 - EWMA_WEIGHT) * math.log(state.correction) + EWMA_WEIGHT * math.log(fitted))


def _busy(reading: Reading, config: ProcessConfig) -> _Want | None:
    if reading.busy is None or reading.busy <= 0:
        return None
    need = math.ceil(reading.busy / config.concurrency)
    return _Want(need, f"{reading.busy} running jobs keep {need}")


def _ewma(old: float | None, sample: float) -> float:
    return sample if old is None else (1 - EWMA_WEIGHT) * old + EWMA_WEIGHT * sample


def _learn(reading: Reading, state: ProcessState, serving: int, config: ProcessConfig) -> ProcessState:
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
    arrival, per_dyno = state.arrival_rate, state.per_dyno_rate
    depth, latency, busy = reading.depth, reading.latency, reading.busy
    workers = serving * config.concurrency
    saturated = busy >= workers if busy is not None else (depth is not None and depth >= 2 * workers)
    previous = state.previous
    elapsed = reading.at - previous[0] if previous is not None else 0.0
    head_stuck = (
        previous is not None and elapsed > 0 and latency is not None and latency - previous[2] >= HEAD_STUCK * elapsed
    )
    queue_sample = None
    if (
        depth is not None
        and depth >= MIN_ARRIVAL_SAMPLE
        and latency is not None
        and latency >= MIN_ARRIVAL_WINDOW
        and not reading.latency_is_lower_bound
        and not head_stuck
    ):
        queue_sample = depth / latency
    rate = _per_dyno_rate(config, state)
    sample = None
    if saturated or busy is None:
        sample = queue_sample
    elif rate is not None:
        sample = busy * rate / config.concurrency
    if sample is not None:
        arrival = _ewma(arrival, sample)
    if saturated and previous is not None and elapsed > 0 and depth is not None and previous[1] > 0 and serving > 0:
        drained = (previous[1] - depth) / elapsed
        if queue_sample is not None:
            per_dyno = _ewma(per_dyno, max(0.0, queue_sample + drained) / serving)
        elif head_stuck and drained > 0:
            per_dyno = _ewma(per_dyno, drained / serving)
    previous = (reading.at, depth, latency or 0.0) if depth is not None else state.previous
    correction = _correct_model(reading, config, state, serving)
    return replace(state, arrival_rate=arrival, per_dyno_rate=per_dyno, previous=previous, correction=correction)


# --- bounds -------------------------------------------------------------------------------


def bounds(config: ProcessConfig, now: float) -> tuple[int, int]:
    """``(min, max)`` after the schedules active at ``now``."""
    low, high = config.min_dynos, config.max_dynos
    scheduled_max: list[int] = []
    for window in config.schedules:
        if window_active(window.cron, window.timezone, window.duration, now):
            if window.min_dynos is not None:
                low = max(low, window.min_dynos)
            if window.max_dynos is not None:
                scheduled_max.append(window.max_dynos)
    if scheduled_max:
        high = max(scheduled_max)
    return low, max(low, high)


def heroku_limit(config: ProcessConfig, size_name: str) -> int | None:
    """Heroku's per-process-type quantity limit for the size (or the configured raise)."""
    return size_limit(size_name, config.size_limit)


def _booting(state: ProcessState, config: ProcessConfig, now: float) -> int:
    return sum(added for t, added in state.ups if now - t < config.boot_time)


# --- the decision ---------------------------------------------------------------------------


def decide(obs: Observation, state: ProcessState, config: ProcessConfig, now: float) -> tuple[Decision, ProcessState]:
    """Decide the quantity (and size) of one process type. Pure."""
    current = obs.quantity
    size = config.size or obs.size
    reading = obs.reading
    low, high = bounds(config, now)
    limit = heroku_limit(config, size)
    inputs = _inputs(reading, config, low, high)

    # Manual changes: the formation is not what we last set.
    manual_change = state.last_set is not None and current != state.last_set
    if manual_change:
        state = replace(state, manual_floor=current, manual_until=now + config.manual_hold, last_set=current)
    manual_floor = state.manual_floor if now < state.manual_until else None

    def make(desired: int, reason: Reason, message: str, recommendation: int | None) -> Decision:
        return Decision(
            process=obs.process,
            current=current,
            desired=desired,
            current_size=obs.size,
            desired_size=size,
            reason=reason,
            message=message,
            recommendation=recommendation,
            inputs=inputs,
            manual_change=manual_change,
        )

    stale = reading.ok and now - reading.at > config.stale_after
    if not reading.ok or stale:
        return _hold_unknown(obs, state, config, now, low, high, limit, make, stale)

    booting = _booting(state, config, now)
    ready = max(0, current - booting)
    state = _learn(reading, replace(state, failures=0), ready, config)
    wants = [
        w
        for w in (
            _backlog(reading, config, ready),
            _latency(reading, config, ready, state),
            *_web(reading, config, ready, state),
            _busy(reading, config),
        )
        if w is not None
    ]
    needed_signals = _missing(reading, config)
    if not wants or (needed_signals and max(w.dynos for w in wants) <= current):
        why = f"{', '.join(needed_signals) or 'signal'} unknown: holding"
        return make(_clamp(current, low, high, limit), Reason.HELD_SIGNAL_UNKNOWN, why, None), state
    best = max(wants, key=lambda w: w.dynos)
    raw = best.dynos
    if any(w.burst for w in wants):  # re-armed while the burst lasts; never longer than the downscale delay
        state = replace(state, panic_until=now + min(PANIC_WINDOW, config.downscale_delay))

    # Stabilisation: rolling maximum over the downscale window.
    previous = state.history or ((now, current),)  # start-up counts as a recommendation of what runs now
    history = (*(entry for entry in previous if now - entry[0] < config.downscale_delay), (now, raw))
    state = replace(state, history=history)
    ceiling = max(value for _, value in history)

    reason, message = Reason.WITHIN_TARGET, best.why
    if raw > current:
        desired, reason, message = _scale_up(current, raw, config, best.why)
    elif raw < current:
        desired, reason, message = _scale_down(current, raw, ceiling, booting, state, config, now, best.why)
    else:
        desired = current

    if manual_floor is not None and desired < manual_floor:
        desired, reason = manual_floor, Reason.HELD_MANUAL
        message += f"; manual change to {manual_floor} holds for {state.manual_until - now:.0f}s more"

    clamped = _clamp(desired, low, high, limit)
    if clamped != desired:
        reason, message = _clamp_reason(desired, clamped, current, low, high, limit, size, message)
        desired = clamped
    if reason is Reason.WITHIN_TARGET and sizes.normalize(size) != sizes.normalize(obs.size):
        reason = Reason.RESIZE
    return make(desired, reason, message, raw), state


def _inputs(reading: Reading, config: ProcessConfig, low: int, high: int) -> dict[str, float | int | None]:
    """The signal values and bounds a decision used, for its log line."""
    inputs: dict[str, float | int | None] = {"depth": reading.depth, "latency": reading.latency, "busy": reading.busy}
    if config.source == "web":
        inputs.update(rate=reading.rate, queue_time_p95=reading.queue_time_p95, app_time=reading.app_time)
    inputs.update(min=low, max=high)
    return inputs


def _scale_up(current: int, raw: int, config: ProcessConfig, why: str) -> tuple[int, Reason, str]:
    up_limit = current + max(config.scale_up_dynos, math.ceil(current * config.scale_up_percent / 100))
    if raw <= up_limit:
        return raw, Reason.SCALE_UP, why
    return up_limit, Reason.SCALE_UP_LIMITED, f"{why}; at most +{up_limit - current} per tick"


def _missing(reading: Reading, config: ProcessConfig) -> list[str]:
    missing = []
    if config.jobs_per_dyno is not None and reading.depth is None:
        missing.append("depth")
    if config.max_latency is not None and reading.latency is None:
        missing.append("latency")
    if config.queue_time_ms is not None and reading.queue_time_p95 is None and reading.rate is None:
        missing.append("queue_time_p95")
    return missing


def _scale_down(
    current: int,
    raw: int,
    ceiling: int,
    booting: int,
    state: ProcessState,
    config: ProcessConfig,
    now: float,
    why: str,
) -> tuple[int, Reason, str]:
    if booting > 0:
        return current, Reason.HELD_BOOTING, f"{why}; {booting} new dynos still booting: no scale-down"
    if now < state.panic_until:
        return current, Reason.HELD_PANIC, f"{why}; burst seen in the last {PANIC_WINDOW:g}s: no scale-down"
    target = min(current, ceiling)
    if target >= current:
        last = max(t for t, v in state.history if v == ceiling)
        return (
            current,
            Reason.HELD_DOWNSCALE_DELAY,
            f"{why}; holding {current}: {ceiling} was recommended {now - last:.0f}s ago, "
            f"scale-down possible in {max(1, math.ceil(last + config.downscale_delay - now))}s",
        )
    if config.scale_down_per_minute is not None:
        removed = sum(n for t, n in state.downs if now - t < 60)
        allowed = max(0, config.scale_down_per_minute - removed)
        if current - target > allowed:
            return current - allowed, Reason.SCALE_DOWN_LIMITED, f"{why}; at most {config.scale_down_per_minute}/min"
    return target, Reason.SCALE_DOWN, why


def _hold_unknown(
    obs: Observation,
    state: ProcessState,
    config: ProcessConfig,
    now: float,
    low: int,
    high: int,
    limit: int | None,
    make: Callable[[int, Reason, str, int | None], Decision],
    stale: bool,
) -> tuple[Decision, ProcessState]:
    current = obs.quantity
    failures = state.failures + 1
    state = replace(state, failures=failures)
    why = (
        f"reading is {now - obs.reading.at:.0f}s old (STALE_AFTER {config.stale_after:g}s)"
        if stale
        else (obs.reading.error or "no value")
    )
    if config.fallback_quantity is not None and failures >= config.fallback_after:
        desired = _clamp(max(current, config.fallback_quantity), low, high, limit)
        message = f"signal unknown {failures} times in a row ({why}): fallback to {config.fallback_quantity}"
        if desired > current:
            return make(desired, Reason.FALLBACK, message, None), state
    held = _clamp(current, low, high, limit)
    reason = Reason.HELD_SIGNAL_UNKNOWN
    if held > current:
        reason = Reason.CLAMPED_TO_MIN
    elif held < current:
        reason = Reason.CLAMPED_TO_MAX if limit is None or held == high else Reason.CLAMPED_TO_HEROKU_LIMIT
    return make(held, reason, f"signal unknown ({why}): holding", None), state


def _clamp(value: int, low: int, high: int, limit: int | None) -> int:
    value = min(max(value, low), high)
    return min(value, limit) if limit is not None else value


def _clamp_reason(
    wanted: int, clamped: int, current: int, low: int, high: int, limit: int | None, size: str, message: str
) -> tuple[Reason, str]:
    if limit is not None and clamped == limit and wanted > limit:
        return Reason.CLAMPED_TO_HEROKU_LIMIT, f"{message}; Heroku allows {limit} {size} dynos per process type"
    if wanted > high:
        return Reason.CLAMPED_TO_MAX, f"{message}; at MAX_DYNOS {high}"
    # Below the minimum: coming down to the floor is a scale-down, being raised to it a clamp.
    if clamped < current:
        return Reason.SCALE_DOWN, f"{message}; at MIN_DYNOS {low}"
    if clamped == current:
        return Reason.WITHIN_TARGET, f"{message}; at MIN_DYNOS {low}"
    return Reason.CLAMPED_TO_MIN, f"{message}; raised to MIN_DYNOS {low}"


def mark_applied(state: ProcessState, previous: int, quantity: int, now: float, boot_time: float) -> ProcessState:
    """Record that the formation was set to ``quantity`` (after a successful PATCH)."""
    ups = tuple((t, n) for t, n in state.ups if now - t < boot_time)
    downs = tuple((t, n) for t, n in state.downs if now - t < 60)
    if quantity > previous:
        ups += ((now, quantity - previous),)
    elif quantity < previous:
        downs += ((now, previous - quantity),)
    return replace(state, ups=ups, downs=downs, last_set=quantity)


# --- the whole formation ----------------------------------------------------------------


def decide_formation(
    observations: Mapping[str, Observation],
    states: Mapping[str, ProcessState],
    configs: Mapping[str, ProcessConfig],
    now: float,
    limits: AppLimits | None = None,
) -> tuple[dict[str, Decision], dict[str, ProcessState]]:
    """:func:`decide` for every process type, then the app-wide bounds: Heroku's dynos per
    app and the monthly budget. Both trim the processes with the lowest ``PRIORITY`` first,
    never below their own floor (``MIN_DYNOS``, or the current quantity when their signal
    is unknown, since unknown data never lowers a formation). Pure."""
    limits = limits or AppLimits()
    decisions: dict[str, Decision] = {}
    new_states: dict[str, ProcessState] = {}
    for name, obs in observations.items():
        decisions[name], new_states[name] = decide(obs, states.get(name, ProcessState()), configs[name], now)

    def floor(name: str) -> int:
        d = decisions[name]
        low = bounds(configs[name], now)[0]
        unknown = not observations[name].reading.ok
        return min(d.desired, max(low, d.current if unknown else 0))

    order = sorted(decisions, key=lambda n: (configs[n].priority, n))

    def trim(excess: Mapping[str, float], reason: Reason, what: str, over: float) -> None:
        for name in order:
            if over <= 0:
                return
            d = decisions[name]
            unit = excess[name]
            if unit <= 0:
                continue
            removable = d.desired - floor(name)
            cut = min(removable, math.ceil(over / unit))
            if cut > 0:
                decisions[name] = replace(
                    d, desired=d.desired - cut, reason=reason, message=f"{d.message}; {what}: -{cut}"
                )
                over -= cut * unit

    total = limits.other_dynos + sum(d.desired for d in decisions.values())
    if total > limits.max_dynos:
        trim(
            {n: 1.0 for n in decisions},
            Reason.CLAMPED_TO_APP_LIMIT,
            f"Heroku allows {limits.max_dynos} dynos per app",
            total - limits.max_dynos,
        )

    if limits.max_monthly_cost is not None:
        unit_price = {n: monthly_price(d.desired_size, limits.prices) or 0.0 for n, d in decisions.items()}
        cost = limits.other_monthly_cost + sum(d.desired * unit_price[n] for n, d in decisions.items())
        if cost > limits.max_monthly_cost:
            trim(
                unit_price,
                Reason.CLAMPED_TO_BUDGET,
                f"AUTOSCALER_MAX_MONTHLY_COST ${limits.max_monthly_cost:g}",
                cost - limits.max_monthly_cost,
            )
    return decisions, new_states
