"""Helpers several test modules share: the ``simulate`` command in process, the commands as real
processes against a local stand-in Platform API, and the one-worker settings the daemon tests use."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from autoscaler import sizes
from autoscaler.config import Settings, load_settings
from autoscaler.errors import ConfigError
from autoscaler.fake_heroku import FakeHeroku
from autoscaler.simulate import configure_parser, run
from autoscaler.simulate.settings import DEFAULTS, SimConfig
from autoscaler.simulate.workloads import Kind

from .conftest import ROOT

WORKER_ENV = {
    "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
    "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
    "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
}
"""One ``worker`` process on rq: up to 10 dynos, 10 waiting jobs per dyno."""


# --- simulate, in process ------------------------------------------------------------------------


def parse_simulate(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="autoscaler simulate")
    configure_parser(parser)
    return parser.parse_args(argv)


def simulate_text(argv: list[str]) -> str:
    out = io.StringIO()
    assert 0 == run(parse_simulate(argv), out, {})
    return out.getvalue()


def simulate_json(argv: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(simulate_text([*argv, "--json"]))
    return data


def simulate_problems(argv: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        run(parse_simulate(argv), io.StringIO(), {})
    return caught.value.problems


# --- the commands as real processes --------------------------------------------------------------


@contextmanager
def running(heroku: FakeHeroku) -> Iterator[str]:
    """A started stand-in Platform API (its base URL), stopped afterwards."""
    url = heroku.start()
    try:
        yield url
    finally:
        heroku.stop()


def process_env(token: str, app: str, api_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a command run against the stand-in API at ``api_url``: one rq worker."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "HEROKU_API_KEY": token,
        "HEROKU_API_URL": api_url,
        "AUTOSCALER_APP": app,
        "REDIS_URL": redis_url,
        **WORKER_ENV,
        **extra,
    }


def run_command(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m autoscaler ARGS`` to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- settings ------------------------------------------------------------------------------------


def worker_settings(token: str, app: str, redis_url: str, **extra: str) -> Settings:
    """Settings of one rq ``worker`` process, the state store and the queue in ``redis_url``."""
    return load_settings(
        {
            "HEROKU_API_KEY": token,
            "AUTOSCALER_APP": app,
            "REDIS_URL": redis_url,
            **WORKER_ENV,
            **extra,
        }
    )


def sim_config(kind: Kind = "web", **overrides: Any) -> SimConfig:
    """A simulation's configuration with ``simulate``'s defaults for ``kind``, fields overridden."""
    defaults = DEFAULTS[kind]
    size = sizes.lookup(defaults.size)
    assert size is not None
    fields: dict[str, Any] = {
        "kind": kind,
        "per_dyno": defaults.per_dyno,
        "service_s": defaults.service_ms / 1000,
        "size": size,
        "monthly_usd": size.monthly_usd,
        "min_dynos": defaults.min_dynos,
        "max_dynos": defaults.max_dynos,
        "target_s": defaults.target / 1000 if kind == "web" else defaults.target,
    }
    return SimConfig(**(fields | overrides))
