"""Heroku's log drain: Logplex batches in, per-slot request figures in Redis out.

The web process (:mod:`autoscaler.web`) receives the scaled app's log drain; these modules
do the work that needs no web framework, so the daemon's ``router`` source
(:mod:`autoscaler.signals.router`) can share the Redis layout without importing one:

* :mod:`~autoscaler.drain.frames`: the octet-counted RFC 5424 framing of a Logplex body;
* :mod:`~autoscaler.drain.lines`: router and runtime-metrics lines, tallied per slot;
* :mod:`~autoscaler.drain.wire`: the Redis layout, the service-time buckets, quantiles;
* :mod:`~autoscaler.drain.store`: one atomic, de-duplicated write per batch.

See docs/drain.md for how to add the drain.
"""
