"""Small pieces the source modules share: the check of configured queue names, values
read from a backend, per-queue totals, and the Lua scripts kept next to their modules.

A Lua script lives in a ``.lua`` file beside the module that runs it, with the same
name (``rq.py`` runs ``rq.lua``), and is read as package data with
:mod:`importlib.resources` when the module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources

from autoscaler.errors import SignalError
from autoscaler.signals import Reading, check_count


def queue_names(
    queues: Sequence[str], *, noun: str = "queue name", check: Callable[[str], str | None] | None = None
) -> tuple[tuple[str, ...], list[str]]:
    """The configured names in their order, each once (a name given twice counts once),
    and what is wrong with them, one ``"queues: ..."`` line each (none: usable).

    ``noun`` names one entry in the messages (``"Redis key"``); ``check`` returns the
    problem with one name, or None; by default a name must not be empty or blank.
    """
    if isinstance(queues, str):
        return (), [f"queues: expected a list of {noun}s, got the string {queues!r}"]
    names = tuple(dict.fromkeys(queues))
    if not names:
        return (), [f"queues: at least one {noun} is needed"]
    if check is None:
        problems = [f"queues: invalid {noun} {name!r}" for name in names if not name or name.isspace()]
    else:
        problems = [problem for problem in map(check, names) if problem is not None]
    return names, problems


def reply_text(value: object) -> str:
    """A value of a Redis reply as text, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def reply_number(where: str, what: str, raw: object) -> float:
    """A number sent back as text (Lua numbers would come back truncated to integers)."""
    try:
        return float(reply_text(raw))
    except ValueError as exc:
        raise SignalError(f"{where}: {what} is not a number: {raw!r:.100}") from exc


def iso_epoch(text: str) -> float:
    """Epoch seconds of an ISO 8601 time; naive means UTC. ValueError when unreadable."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def queue_totals(kind: str, now: float, figures: Iterable[tuple[int, float | None, int]]) -> Reading:
    """One reading from per-queue ``(depth, latency, busy)``: depth and busy summed, the
    largest latency, unknown (None) as soon as one queue's latency is unknown."""
    depth = 0
    busy = 0
    latency: float | None = 0.0
    for q_depth, q_latency, q_busy in figures:
        depth += q_depth
        busy += q_busy
        if latency is not None:
            latency = None if q_latency is None else max(latency, q_latency)
    return Reading(
        at=now,
        depth=check_count(f"{kind} depth", depth),
        latency=latency,
        busy=check_count(f"{kind} busy", busy),
    )


def lua_script(module: str) -> str:
    """The Lua script of ``module`` (its ``__name__``): ``<name>.lua`` beside it."""
    package, _, name = module.rpartition(".")
    return resources.files(package).joinpath(f"{name}.lua").read_text(encoding="utf-8")
