"""Small pieces the source modules share: the check of configured queue names, values
read from a backend, per-queue totals, the Lua scripts kept next to their modules, and
the base of the queue sources that read Redis with one script.

A Lua script lives in a ``.lua`` file beside the module that runs it, with the same
name (``rq.py`` runs ``rq.lua``), and is read as package data with
:mod:`importlib.resources` when the module is imported.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

from autoscaler.errors import SignalError
from autoscaler.signals import Reading, check_count, reply_text
from autoscaler.signals.redis_conn import RedisSource, run_script

if TYPE_CHECKING:
    import redis


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


class ScriptQueueSource(RedisSource, ABC):
    """The base of a source that reads all its ``queues`` in one round trip: a read script
    (``lua``) given ``keys``, whose reply has one row per queue, summed by :func:`queue_totals`.

    A subclass names itself with ``KIND`` (the totals' name, ``"rq"``) and ``LABEL`` (in
    errors, ``"RQ"``), and says what the script is given besides the keys
    (:meth:`_script_args`) and what one queue's row holds (:meth:`_queue_figures`).
    """

    KIND: ClassVar[str]
    LABEL: ClassVar[str]

    def __init__(self, client: redis.Redis, queues: tuple[str, ...], keys: list[str], lua: str) -> None:
        super().__init__(client)
        self._queues = queues
        self._keys = keys
        # Registering only computes the SHA locally; the server learns the script on the
        # first call (redis-py reloads it after a NOSCRIPT, e.g. after a restart).
        self._script = client.register_script(lua)

    @property
    def queues(self) -> tuple[str, ...]:
        return self._queues

    def read(self, now: float) -> Reading:
        """Read every queue at wall-clock time ``now`` (epoch seconds).

        Raises SignalError when Redis cannot be read or answers with values that make no
        sense; the message names the server with its password masked.
        """
        reply = run_script(
            self._script,
            self._client,
            keys=self._keys,
            args=self._script_args(now),
            what=f"{self.LABEL} queues {', '.join(self._queues)}",
            name=self.LABEL,
            rows=len(self._queues),
        )
        figures = (self._queue_figures(name, row, now) for name, row in zip(self._queues, reply, strict=True))
        return queue_totals(self.KIND, now, figures)

    @abstractmethod
    def _script_args(self, now: float) -> list[str | int]:
        """The script's ``ARGV`` for a read at ``now``."""

    @abstractmethod
    def _queue_figures(self, name: str, row: Any, now: float) -> tuple[int, float | None, int]:
        """(depth, latency, busy) of one queue from its part of the script's reply."""
