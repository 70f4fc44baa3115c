"""The clairvoyant demand d_t: the fewest dynos that meet the target, minute by minute.

This is the reference line of the SPEC RG elasticity metrics (the demand curve they
compare supply with) and the ``clairvoyant`` row of the report: a scaler that knows the load in advance
and whose dynos serve the moment they are asked for. It is computed from the workload
alone, so it is the same for every policy, and clamped to ``[MIN_DYNOS, MAX_DYNOS]``.

* **Web**: per second, the fewest dynos N for which N random-routed M/M/k queues keep
  P(queue wait > target) ≤ 5 % (:func:`autoscaler.queueing.dynos_for_random_routing`).
  Per minute, the fewest constant N whose share of requests above the target over the
  minute is ≤ 5 %, i.e. whose 1-minute p95 meets the SLO. With the router's signal the target is
  the p95 response time (queue wait plus app time, :class:`autoscaler.policy.response.ResponseModel`)
  and the share is that of requests whose response time is above it.
* **Workers**: each second's work (jobs × job duration) must start within MAX_LATENCY of
  its arrival, so it is spread evenly over the MAX_LATENCY after it; work beyond
  ``MAX_DYNOS`` is carried to the next second. Per minute, the largest second.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from autoscaler import queueing
from autoscaler.policy.response import ResponseModel
from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.workloads import Workload


def _clamp(value: int, config: SimConfig) -> int:
    return min(max(value, config.min_dynos), config.max_dynos)


def web_per_second(workload: Workload, config: SimConfig) -> list[int]:
    cache: dict[tuple[float, float], int] = {}
    needs = []
    for rate, service_s in zip(workload.rate, workload.service_s, strict=True):
        key = (rate, service_s)
        if key not in cache:
            if config.router:
                model = ResponseModel(config.per_dyno, service_s)
                found = model.dynos(rate, config.slo_target_s, queueing.MAX_DYNOS_SEARCHED) if rate > 0 else 1
            else:
                found = queueing.dynos_for_random_routing(rate, service_s, config.per_dyno, config.slo_target_s)
            cache[key] = _clamp(config.max_dynos if found is None else found, config)
        needs.append(cache[key])
    return needs


def _minute_share(dynos: int, seconds: Sequence[tuple[float, float]], config: SimConfig) -> float:
    total = sum(rate for rate, _ in seconds)
    if total <= 0:
        return 0.0
    over = 0.0
    for rate, service_s in seconds:
        if config.router:
            over += rate * queueing.response_tail(config.per_dyno, rate / dynos, service_s, config.slo_target_s)
        else:
            over += rate * queueing.wait_tail(config.per_dyno, rate / dynos, service_s, config.slo_target_s)
    return over / total


def web_per_minute(workload: Workload, config: SimConfig) -> list[int]:
    per_second = web_per_second(workload, config)
    minutes = []
    for start in range(0, workload.duration, 60):
        needs = per_second[start : start + 60]
        low, high = min(needs), max(needs)
        if low == high:
            minutes.append(low)
            continue
        seconds = list(zip(workload.rate[start : start + 60], workload.service_s[start : start + 60], strict=True))
        found = high
        for dynos in range(max(low, 1), high):
            if _minute_share(dynos, seconds, config) <= 1 - queueing.DEFAULT_QUANTILE:
                found = dynos
                break
        minutes.append(_clamp(found, config))
    return minutes


def worker_per_second(workload: Workload, config: SimConfig) -> list[int]:
    horizon = max(1.0, config.slo_target_s)
    capacity = config.max_dynos * config.per_dyno  # workers
    window: deque[tuple[int, float]] = deque()
    spread = 0.0
    carry = 0.0
    needs = []
    for second, (rate, service_s) in enumerate(zip(workload.rate, workload.service_s, strict=True)):
        work = (rate + workload.dumps.get(second, 0)) * service_s
        window.append((second, work))
        spread += work
        while window[0][0] <= second - horizon:
            spread -= window.popleft()[1]
        need = spread / horizon + carry  # busy workers needed this second
        carry = max(0.0, need - capacity)
        needs.append(_clamp(math.ceil(min(need, capacity) / config.per_dyno - 1e-9), config))
    return needs


def worker_per_minute(workload: Workload, config: SimConfig) -> list[int]:
    per_second = worker_per_second(workload, config)
    return [max(per_second[start : start + 60]) for start in range(0, workload.duration, 60)]


def per_minute(workload: Workload, config: SimConfig) -> list[int]:
    if workload.kind == "web":
        return web_per_minute(workload, config)
    return worker_per_minute(workload, config)
