"""What the daemon saw and did, kept for people: the status page (``GET /`` of the web process)
and ``python -m autoscaler history``.

Each tick of the acting daemon records, per process type, the formation, the decision, its
reason, the signals and the run-rate (:class:`HistoryRecorder`), one slot a minute
(:mod:`.model`), in the state store when there is one (:class:`RedisHistory`: 9 days, one
round trip a tick) or else in memory (:class:`MemoryHistory`: the last hours). The daemon
sees only the :class:`HistoryStore` protocol. :mod:`.chart` draws a process type's day as
inline SVG; :mod:`.cli` is the ``history`` command.
"""

from autoscaler.history.model import (
    SLOT,
    Event,
    History,
    ProcessStatus,
    Sample,
    SignalSpec,
    Slot,
    Status,
    TickRecord,
    main_signal,
    signal_value,
)
from autoscaler.history.recorder import HistoryRecorder
from autoscaler.history.store import TTL, HistoryStore, MemoryHistory, RedisHistory

__all__ = [
    "SLOT",
    "TTL",
    "Event",
    "History",
    "HistoryRecorder",
    "HistoryStore",
    "MemoryHistory",
    "ProcessStatus",
    "RedisHistory",
    "Sample",
    "SignalSpec",
    "Slot",
    "Status",
    "TickRecord",
    "main_signal",
    "signal_value",
]
