"""The decision engine: a pure function from what was observed to the formation wanted.

:func:`decide` takes (observation, state, config, now) for one process type and returns a
:class:`Decision` and the next :class:`ProcessState`; :func:`decide_formation` runs it for
every managed process type and then applies the app-wide bounds (Heroku's 100 dynos per
app, ``AUTOSCALER_MAX_MONTHLY_COST``). Nothing here reads a clock, does I/O or touches a
global, so every rule is tested with plain values (tests/test_policy.py). The engine reads
an :class:`EngineConfig` of plain values, built from the settings by
:meth:`autoscaler.config.ProcessConfig.engine`.

One module a job:

- :mod:`.decision`: observations, remembered state, decisions and their reason codes;
- :mod:`.engine_config`: the engine's configuration;
- :mod:`.engine`: :func:`decide`, the steps of one decision in order;
- :mod:`.learning`: arrival rate, throughput and the web model's correction, learned from readings;
- :mod:`.rules`: the recommendations (backlog, latency and drain, web proportional and
  random-routing model, running jobs);
- :mod:`.stabilise`: tolerance, step limits, the downscale window, the boot, burst and
  manual-change holds;
- :mod:`.limits`: ``MIN_DYNOS``/``MAX_DYNOS`` with schedules, Heroku's per-type limits;
- :mod:`.formation`: every process type, then Heroku's per-app limit and the budget.

Every decision carries a reason code (:class:`Reason`), a human message and the inputs
it used.
"""

from __future__ import annotations

from autoscaler.policy.decision import CLAMP_REASONS, Decision, Observation, ProcessState, Reason
from autoscaler.policy.engine import decide
from autoscaler.policy.engine_config import EngineConfig, Window
from autoscaler.policy.formation import AppLimits, decide_formation, monthly_price
from autoscaler.policy.limits import bounds, heroku_limit, size_limit
from autoscaler.policy.stabilise import mark_applied

__all__ = [
    "CLAMP_REASONS",
    "AppLimits",
    "Decision",
    "EngineConfig",
    "Observation",
    "ProcessState",
    "Reason",
    "Window",
    "bounds",
    "decide",
    "decide_formation",
    "heroku_limit",
    "mark_applied",
    "monthly_price",
    "size_limit",
]
