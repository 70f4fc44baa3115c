"""The ``tune`` command: better settings for one process type, found by simulating the daemon.

``python -m autoscaler tune --env-file FILE --kind web|worker [--process TYPE]
(--trace FILE | --scenario NAME | --from-history [--since DURATION]) [--hours H] [--seeds N]
[--budget N] [--slo VALUE] [--service-ms MS] [--json]``

The settings of the process type are those of the env file (the autoscaler app's config vars,
read as ``simulate --env-file`` reads them). Each candidate is simulated with ``ours``, the real
daemon on simulated edges (:mod:`autoscaler.simulate.ours`), on the same seeds; SLO minutes are
always counted against the configured target, the user's promise, while a candidate's target is
only the daemon's setpoint. The package, one job per module:

* :mod:`~autoscaler.tune.cli` the flags and :func:`run`;
* :mod:`~autoscaler.tune.space` the settings searched, their values and bounds;
* :mod:`~autoscaler.tune.evaluate` simulating candidates on every seed, in parallel processes;
* :mod:`~autoscaler.tune.search` coarse to fine, within a budget of candidates;
* :mod:`~autoscaler.tune.decide` the decision rule: better on one axis by a margin, worse on none;
* :mod:`~autoscaler.tune.variables` the config vars of a suggestion and its ``heroku config:set`` line;
* :mod:`~autoscaler.tune.report` the text and JSON output.

Every bad input raises :class:`~autoscaler.errors.ConfigError` (exit status 2) naming its flag
or variable, before any simulation.
"""

from __future__ import annotations

from autoscaler.tune.cli import configure_parser, run

__all__ = ["configure_parser", "run"]
