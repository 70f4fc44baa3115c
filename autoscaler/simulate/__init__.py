"""The ``simulate`` command: what each policy would have done to a workload, offline.

``python -m autoscaler simulate [--scenario NAME | --trace FILE | --from-history [--since WHEN]] [--kind web|worker]
[--signal web|router] [--policy NAME[,NAME...]] [--config FILE | --env-file FILE] [--process TYPE]
[--seed N] [--hours H] [--json] [--plot FILE.png]`` plus flags for the process (``--service-ms``,
``--processes-per-dyno``/``--concurrency``, ``--size``, ``--min-dynos``, ``--max-dynos``,
``--queue-time-ms``/``--response-time-ms``/``--max-latency``, ``--jobs-per-dyno``, ``--interval``,
``--api-failures``). ``--signal router`` feeds ``ours`` what the ``router`` source reads (the
response time Heroku's router logs) with a ``RESPONSE_TIME_MS`` target, and judges every policy
on it.
Every value has a documented default (:mod:`autoscaler.simulate.settings`) printed at the top
of the report; a ``--config`` JSON object sets the same values and any engine field of the
process configuration (``downscale_delay``, ``tolerance``, ...); ``--env-file`` takes them, and
the budget, from the autoscaler app's config vars (:mod:`~autoscaler.simulate.envfile`); flags
win over either file.

The package, from the flags to the report:

* :mod:`~autoscaler.simulate.cli` the flags and :func:`run`;
  :mod:`~autoscaler.simulate.options` checks their values and the files they name, all at once
  (:mod:`~autoscaler.simulate.envfile` reads ``--env-file``);
* :mod:`~autoscaler.simulate.workloads` built-in scenarios and ``--trace`` CSV files;
  :mod:`~autoscaler.simulate.replay` the workload of ``--from-history``, rebuilt from the slots the
  daemon recorded, which :mod:`~autoscaler.simulate.recorded` reads from the state store;
* :mod:`~autoscaler.simulate.model` the platform (boot, drain, billing), with
  :mod:`~autoscaler.simulate.streams` the random draws every policy shares, and the queues:
  :mod:`~autoscaler.simulate.webqueues` (random routing to per-dyno M/M/k queues) and
  :mod:`~autoscaler.simulate.workerqueue` (one shared FIFO);
* :mod:`~autoscaler.simulate.demand` the clairvoyant demand d_t;
* :mod:`~autoscaler.simulate.policies` the baselines, and ``ours``:
  :mod:`~autoscaler.simulate.ours` runs the daemon itself on a simulated Platform API, source and clock;
* :mod:`~autoscaler.simulate.runner` the one-second loop;
* :mod:`~autoscaler.simulate.metrics`, :mod:`~autoscaler.simulate.header` and :mod:`~autoscaler.simulate.report`;
* :mod:`~autoscaler.simulate.plot` the ``--plot`` picture, the only module that imports
  matplotlib, and only when a plot is asked for.

Every bad input raises :class:`~autoscaler.errors.ConfigError` (exit status 2), naming its
flag or ``--config`` key, before the run starts; so does a plot that cannot be saved. The
same seed gives the same output, byte for byte.
"""

from __future__ import annotations

from autoscaler.simulate.cli import configure_parser, run

__all__ = ["configure_parser", "run"]
