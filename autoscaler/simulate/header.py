"""The top of ``simulate``'s report: what the run assumes (workload, process, formation, platform,
budget, the baselines' parameters and the engine settings)."""

from __future__ import annotations

import json
import math

from autoscaler.appview import FORMATION_MAX_AGE
from autoscaler.simulate import policies
from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.webqueues import GRACE_S, ROUTER_GRACE_S, SLOT_S
from autoscaler.simulate.workloads import Workload


def header_lines(workload: Workload, config: SimConfig, names: list[str], notes: list[str] | None = None) -> list[str]:
    """What the run assumes, at the top of the report; ``notes`` say where the configuration came from."""
    web = config.kind == "web"
    if config.router:
        process = (
            f"web, {config.per_dyno} processes per dyno, app time {config.service_s * 1000:g} ms, "
            f"target p95 response time {config.target_s * 1000:.0f} ms (RESPONSE_TIME_MS: queue wait plus app time)"
        )
    elif web:
        process = (
            f"web, {config.per_dyno} processes per dyno, app time {config.service_s * 1000:g} ms, "
            f"target p95 queue time {config.target_s * 1000:g} ms"
        )
    else:
        jobs = f", JOBS_PER_DYNO {config.jobs_per_dyno:g}" if config.jobs_per_dyno else ""
        latency = "" if config.target_in_engine else " (the SLO only: the process sets no MAX_LATENCY)"
        process = (
            f"worker, {config.per_dyno} jobs at once per dyno, {config.service_s * 1000:g} ms per job, "
            f"MAX_LATENCY {config.target_s:g} s{latency}{jobs}"
        )
    signal = (
        f"web readings: the complete {SLOT_S} s slots of the last {config.window_s} s, read {GRACE_S} s after"
        if web
        else "rq readings live at each tick"
    )
    if config.router:
        signal = (
            f"router readings (response time, from the log drain): the complete {SLOT_S} s slots of the last "
            f"{config.window_s} s, read {ROUTER_GRACE_S} s after"
        )
    lines = [
        f"workload: {workload.description}; seed {config.seed}",
        *(notes or []),
        f"process: {process}",
        f"formation: {config.size.name} at ${config.monthly_usd:g}/month, {config.min_dynos}-{config.max_dynos} dynos",
        f"platform: boot U({config.boot_s[0]:g}, {config.boot_s[1]:g}) s, SIGTERM to SIGKILL {config.drain_s:g} s, "
        f"ours ticks every {config.interval} s (formation read every {FORMATION_MAX_AGE:g} s and before a PATCH), "
        f"{signal}, API failures {config.api_failure_rate:.0%}",
    ]
    if config.max_monthly_cost is not None:
        most = (
            f"at most {math.floor(config.max_monthly_cost / config.monthly_usd + 1e-9)} {config.size.name} dynos, "
            if config.monthly_usd > 0
            else ""
        )
        lines.append(
            f"budget: AUTOSCALER_MAX_MONTHLY_COST ${config.max_monthly_cost:g}/month caps ours "
            f"({most}never below MIN_DYNOS); the baselines have none"
        )
    if "heroku-native" in names and config.router:
        lines.append(
            f"heroku-native: desired p95 response {policies.response_target_ms(config):.0f} ms (RESPONSE_TIME_MS), "
            f"down-steps {policies.HEROKU_DOWN_SPACING} s apart"
        )
    elif "heroku-native" in names:
        lines.append(
            f"heroku-native: desired p95 response {policies.response_target_ms(config):.0f} ms "
            f"(the queue-time target's equivalent), down-steps {policies.HEROKU_DOWN_SPACING} s apart"
        )
    if "judoscale-like" in names:
        unit, scale = ("ms", 1000.0) if web else ("s", 1.0)
        lines.append(
            f"judoscale-like: band {config.target_s * policies.JUDOSCALE_DOWN_FRACTION * scale:g}-"
            f"{config.target_s * scale:g} {unit}, upscale at most every {policies.JUDOSCALE_UPSCALE_EVERY} s, "
            f"downscale after {policies.JUDOSCALE_DOWNSCALE_DELAY} s"
        )
    if engine := dict(config.engine):
        lines.append(f"engine settings: {json.dumps(engine, sort_keys=True)}")
    return lines
