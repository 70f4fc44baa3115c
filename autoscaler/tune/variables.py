"""The config vars of a suggestion, named as the env file names them, and the ``heroku config:set``
line that applies it.

A setting the file sets in its own variable (``AUTOSCALER_PROCESSES__WEB__DOWNSCALE_DELAY``, in
whatever case the file spells it) is set there. Otherwise, when the file configures the process
type in the JSON map ``AUTOSCALER_PROCESSES``, the setting goes into that map, and the line sets
the whole new JSON value, shell-quoted. Otherwise it gets its own variable, spelled as the file
spells the process type's other variables. No limit (None) is an empty value, which the daemon
reads as unset (or a key removed from the JSON map).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler.config import process_var
from autoscaler.tune.space import Value

APP_PLACEHOLDER = "AUTOSCALER-APP"
JSON_VAR = "AUTOSCALER_PROCESSES"


def shown(value: Value) -> str:
    """A value as a config var holds it: ``300``, ``0.05``; empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _json_number(value: Value) -> int | float | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True, slots=True)
class Names:
    """Where the env file keeps the settings of one process type."""

    assigned: Mapping[str, str]
    """The file's variables as it spells them."""
    process: str

    def _find(self, wanted: str) -> str | None:
        return next((name for name in self.assigned if name.upper() == wanted.upper()), None)

    def variable(self, field: str) -> str:
        """The variable of ``field``: the file's own spelling when it sets it, else the prefix the file
        uses for the process type (the canonical name when it uses none)."""
        canonical = process_var(self.process, field)
        found = self._find(canonical)
        if found is not None:
            return found
        prefix = process_var(self.process) + "__"
        spelled = next((name for name in self.assigned if name.upper().startswith(prefix.upper())), None)
        return canonical if spelled is None else spelled[: len(prefix)] + field.upper()

    def _map(self) -> tuple[str, dict[str, Any], str] | None:
        """The JSON map's variable, the map, and the key of the process type in it, when it has one."""
        name = self._find(JSON_VAR)
        if name is None:
            return None
        try:
            data = json.loads(self.assigned[name])
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        key = next((k for k in data if isinstance(k, str) and k.lower() == self.process.lower()), None)
        if key is None or not isinstance(data[key], dict):
            return None
        return name, data, key

    def assignments(self, changes: Mapping[str, Value]) -> list[tuple[str, str]]:
        """The (variable, value) pairs that apply ``changes`` (ProcessConfig fields and values)."""
        own: list[tuple[str, str]] = []
        in_map: dict[str, Value] = {}
        found = self._map()
        for field, value in changes.items():
            if self._find(process_var(self.process, field)) is None and found is not None:
                in_map[field] = value
            else:
                own.append((self.variable(field), shown(value)))
        if in_map and found is not None:
            name, data, key = found
            settings = data[key]
            for field, value in in_map.items():
                spelled = next((k for k in settings if k.lower() == field), field)
                if value is None:
                    settings.pop(spelled, None)
                else:
                    settings[spelled] = _json_number(value)  # in its place when the map has it
            own.append((name, json.dumps(data)))
        return own


def config_set(pairs: list[tuple[str, str]], app: str = APP_PLACEHOLDER) -> str:
    """The ``heroku config:set`` command that sets ``pairs`` on the autoscaler app."""
    words = [f"{name}={shlex.quote(value) if value else ''}" for name, value in pairs]
    return f"heroku config:set {' '.join(words)} -a {app}"
