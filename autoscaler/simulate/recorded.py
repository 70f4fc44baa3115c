"""The history the daemon recorded, read back for ``simulate --from-history``.

The state store and the app are found exactly as the ``history`` command finds them
(:mod:`autoscaler.history.cli`: the settings of the environment, ``AUTOSCALER_STATE_URL``, else
``REDIS_TLS_URL`` / ``REDIS_URL``, and ``AUTOSCALER_APP`` or ``HEROKU_APP_NAME``), and the slots of
one process type are read in one round trip. This module does the I/O only; turning the slots
into a workload is :mod:`autoscaler.simulate.replay`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from autoscaler.config import Settings, load_settings
from autoscaler.errors import ConfigError, StateError
from autoscaler.history import TTL, HistoryStore, Slot
from autoscaler.history.cli import iso, open_store, parse_since, pick_processes
from autoscaler.redact import Redactor

FLAG = "--from-history"
DEFAULT_SINCE = "7d"
DEFAULT_SINCE_S = 7 * 86400.0
"""How far back ``--from-history`` reads unless ``--since`` says otherwise."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """The slots of one process type, oldest first, and the range they were read over (epoch seconds)."""

    process: str
    slots: tuple[Slot, ...]
    since: float
    until: float


def since_seconds(text: str | None, now: float) -> float | None:
    """Seconds back from ``now`` that ``--since`` names (a duration, or an ISO 8601 time, as for
    ``history``); None when not given. ConfigError naming ``--since`` otherwise."""
    if text is None:
        return None
    back = now - parse_since(text, now)
    if back <= 0:
        raise ConfigError([f"--since: {text!r} is not in the past"])
    return back


def read(
    env: Mapping[str, str],
    process: str | None,
    since_s: float | None,
    now: float,
    *,
    store_factory: Callable[[Settings], HistoryStore] = open_store,
) -> Recorded:
    """The slots of ``process`` (or of the one process type the history holds) over the ``since_s``
    seconds before ``now`` (default :data:`DEFAULT_SINCE_S`; at most what the store keeps).

    ConfigError for a bad environment, no state store or app, an unknown process type, several
    process types with history and no ``process``, or a store that cannot be read."""
    settings = load_settings(env)
    names = pick_processes(settings, process)
    since = max(now - (DEFAULT_SINCE_S if since_s is None else since_s), now - TTL)
    store = store_factory(settings)
    try:
        history = store.read(since, now, names, events=0)
    except StateError as exc:
        raise ConfigError([f"{FLAG}: cannot read the history: {Redactor(settings.secrets())(str(exc))}"]) from None
    finally:
        store.close()
    held = [name for name in names if history.slots.get(name)]
    if process is None and len(held) > 1:
        raise ConfigError([f"--process: the history holds several process types ({', '.join(held)}); pick one"])
    if not held:
        which = names[0] if len(names) == 1 else ", ".join(names)
        raise ConfigError(
            [
                f"{FLAG}: no history of {which} of app {settings.app_name} since {iso(since)} {store.description}; "
                "the daemon records a slot a minute while it runs"
            ]
        )
    return Recorded(held[0], tuple(history.slots[held[0]]), since, now)
