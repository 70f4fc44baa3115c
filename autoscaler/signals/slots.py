"""What the two sources of slot hashes in Redis share: the window of complete slots a read
covers, the source around it, and quantiles of a bucket histogram.

The ``web`` source (layout in :mod:`autoscaler.signals.webwire`, written by the middleware)
and the ``router`` source (layout in :mod:`autoscaler.drain.wire`, written by the drain) both
read one process type's hashes of the last slots and merge their counts and histograms.
:class:`SlotWindow` is the run of complete slots a read covers; :class:`SlotSource` the part
of both sources that is not about their layout; :func:`histogram_quantile` reads a quantile
off a merged histogram, given how a layout bounds its buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoscaler.signals.redis_conn import RedisSource, describe

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True, slots=True)
class SlotWindow:
    """``count`` slots of ``width`` seconds, the newest of which ended at least ``grace``
    seconds before the read."""

    width: int
    grace: float
    count: int

    @classmethod
    def covering(cls, window: float, width: int, grace: float) -> SlotWindow:
        """The slots of ``window`` seconds, rounded up to whole slots (at least one)."""
        return cls(width, grace, max(1, math.ceil(window / width)))

    @property
    def seconds(self) -> float:
        """The window's length: its slots × their width."""
        return float(self.count * self.width)

    def starts(self, now: float) -> list[int]:
        """Start times of the complete slots a read at ``now`` covers, newest first."""
        width = self.width
        newest = math.floor((now - self.grace - width) / width) * width
        return [newest - i * width for i in range(self.count)]


class SlotSource(RedisSource):
    """A source that reads the slot hashes of one ``process`` type under ``prefix`` over the
    ``slots`` a read covers (``window``: their seconds)."""

    def __init__(self, client: redis.Redis, process: str, prefix: str, slots: SlotWindow) -> None:
        super().__init__(client)
        self._process = process
        self._prefix = prefix
        self._slots = slots
        self.window = slots.seconds

    def __repr__(self) -> str:
        return f"{type(self).__name__}({describe(self._client)}, process={self._process!r}, window={self.window:g})"

    def slot_starts(self, now: float) -> list[int]:
        """Start times of the complete slots a read at ``now`` covers, newest first."""
        return self._slots.starts(now)


def histogram_quantile(
    counts: Sequence[int], quantile: float, bounds: Callable[[int], tuple[float, float]]
) -> float | None:
    """The ``quantile`` (0 < q ≤ 1) of a bucket histogram: the bucket holding the value of
    rank ``q × total``, interpolated linearly between the ``(low, high)`` that ``bounds`` gives
    for the bucket's index; a bucket whose high is infinite (the open last one) gives its low,
    as a float. None when the histogram is empty."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    total = sum(counts)
    if total == 0:
        return None
    rank = quantile * total
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            low, high = bounds(index)
            if math.isinf(high):
                return float(low)
            return low + (high - low) * (rank - below) / count
        below += count
    raise AssertionError("unreachable: rank <= total")  # pragma: no cover
