"""One run: a workload, a policy, the platform model, one-second steps, and what came out of it.

Per second ``s``: the policy ticks if it is due (formation read, decision, PATCH: for ``ours``,
the daemon's own tick), dynos whose boot is over start serving, the queues serve the second's
load, and every dyno of the formation (booting ones too) is billed. Each policy runs its app on
a :class:`~autoscaler.simulate.model.Platform`, which counts its API calls, failures and scale
actions. Every policy of a comparison gets the same workload, the same arrivals, the same boot
delays and the same API failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autoscaler.simulate import demand
from autoscaler.simulate.model import Formation, Platform, System
from autoscaler.simulate.policies import Clairvoyant, Policy, StaticPeak, make
from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.streams import ApiFaults, BootDelays, job_arrivals, request_noise
from autoscaler.simulate.webqueues import WebQueues
from autoscaler.simulate.workerqueue import WorkerQueue
from autoscaler.simulate.workloads import Workload


@dataclass(slots=True)
class Run:
    """What one policy did to one workload."""

    policy: str
    dyno_seconds: float = 0.0
    cost_usd: float = 0.0
    slo_minutes: int = 0
    over_target: float = 0.0
    """Share of requests (jobs) that waited longer than the target."""
    supply: list[float] = field(default_factory=list)
    """Serving dynos per minute (time average)."""
    quantity: list[int] = field(default_factory=list)
    """The formation's quantity at the end of each minute (booting dynos included)."""
    queue: list[float | None] = field(default_factory=list)
    """Per minute: web, the p95 queue time (response time with the router's signal) in ms; workers, the
    oldest job's largest age in s."""
    violated: list[bool] = field(default_factory=list)
    peak_dynos: int = 0
    """The largest quantity of the formation (booting dynos included)."""
    scale_actions: int = 0
    api_calls: int = 0
    api_failures: int = 0
    jobs_killed: float = 0.0


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every policy of one comparison shares: the load, its random draws and the demand."""

    workload: Workload
    config: SimConfig
    demand: list[int]
    arrivals: list[int]
    noise: list[float]
    faults: ApiFaults

    @classmethod
    def prepare(cls, workload: Workload, config: SimConfig) -> Inputs:
        seed = config.seed
        worker = workload.kind == "worker"
        return cls(
            workload=workload,
            config=config,
            demand=demand.per_minute(workload, config),
            arrivals=job_arrivals(workload.rate, workload.dumps, seed) if worker else [],
            noise=[] if worker else request_noise(workload.rate, seed),
            faults=ApiFaults(seed, config.api_failure_rate, workload.duration),
        )


def _system(inputs: Inputs, serving: int) -> System:
    config, duration = inputs.config, inputs.workload.duration
    if inputs.workload.kind == "web":
        return WebQueues(config.per_dyno, config.slo_target_s, duration, serving, inputs.noise, response=config.router)
    return WorkerQueue(config.per_dyno, config.slo_target_s, duration, serving, config.killed_jobs == "requeue")


def simulate(inputs: Inputs, policy: Policy, initial: int) -> Run:
    """Runs ``policy`` over the whole workload, starting from ``initial`` serving dynos."""
    workload, config = inputs.workload, inputs.config
    duration = workload.duration
    formation = Formation(initial, BootDelays(config.seed, *config.boot_s) if policy.boots else None)
    system = _system(inputs, initial)
    platform = Platform(formation, system, inputs.faults, workload.service_s, config.drain_s)
    tick = policy.start(platform)
    minutes = (duration + 59) // 60
    supply = [0.0] * minutes
    quantity = [0] * minutes
    next_tick = policy.first_tick if policy.tick_s > 0 else duration
    rate, service = workload.rate, workload.service_s
    web = system if isinstance(system, WebQueues) else None
    worker = system if isinstance(system, WorkerQueue) else None
    billed = 0.0
    for second in range(duration):
        if second == next_tick:
            next_tick += policy.tick_s
            tick(second)
            billed += platform.collect()
        if second >= formation.next_ready:
            system.add(formation.ready(second))
        if web is not None:
            web.step(second, rate[second], service[second])
        elif worker is not None:
            worker.step(second, inputs.arrivals[second], service[second])
        billed += formation.quantity
        supply[second // 60] += formation.serving
        quantity[second // 60] = formation.quantity
    run = Run(policy.name)
    run.dyno_seconds = billed
    run.cost_usd = billed * config.per_second_usd
    run.supply = [total / min(60, duration - 60 * minute) for minute, total in enumerate(supply)]
    run.quantity = quantity
    run.peak_dynos = platform.peak
    run.scale_actions = platform.scale_actions
    run.api_calls = platform.api_calls
    run.api_failures = platform.api_failures
    _outcome(run, system, minutes)
    return run


def _outcome(run: Run, system: System, minutes: int) -> None:
    """SLO minutes, the share of late requests or jobs, and the per-minute queue series."""
    allowed = 0.05
    if isinstance(system, WebQueues):
        run.violated = [system.over_target(m) > allowed + 1e-12 for m in range(minutes)]
        total = sum(system.m_weight)
        run.over_target = sum(system.m_over) / total if total else 0.0
        run.queue = [
            None if (p := system.p95_between(60 * m, 60 * m + 60)) is None else p * 1000 for m in range(minutes)
        ]
    else:
        run.violated = [system.minute_age(m) > system.target for m in range(minutes)]
        run.over_target = system.late_share()
        run.queue = [system.minute_age(m) for m in range(minutes)]
        run.jobs_killed = system.killed
    run.slo_minutes = sum(run.violated)


def compare(inputs: Inputs, names: Sequence[str]) -> list[Run]:
    """Every policy of ``names`` on the same inputs, then the clairvoyant reference."""
    config, needs = inputs.config, inputs.demand
    initial = needs[0]
    runs = []
    for name in names:
        policy = make(name, config)
        start = max(needs) if isinstance(policy, StaticPeak) else initial
        runs.append(simulate(inputs, policy, start))
    runs.append(simulate(inputs, Clairvoyant(config, needs), initial))
    return runs
