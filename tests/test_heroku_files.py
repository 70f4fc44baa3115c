"""The files Heroku reads: Procfile, app.json, runtime.txt, requirements.txt."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from .conftest import ROOT

# Every configuration variable a user sets (the settings of autoscaler.config).
USER_VARIABLES = {
    "HEROKU_API_KEY",
    "HEROKU_API_URL",
    "AUTOSCALER_APP",
    "AUTOSCALER_INTERVAL",
    "AUTOSCALER_DRY_RUN",
    "AUTOSCALER_LOG_FORMAT",
    "AUTOSCALER_LOG_LEVEL",
    "AUTOSCALER_MAX_MONTHLY_COST",
    "AUTOSCALER_NOTIFY_URL",
    "AUTOSCALER_STATE_URL",
    "AUTOSCALER_DRAIN_PASSWORD",
    "AUTOSCALER_PROCESSES",
    "REDIS_TLS_URL",
    "REDIS_URL",
    "DATABASE_URL",
    "CLOUDAMQP_URL",
}
APP_JSON_KEYS = {
    "name",
    "description",
    "keywords",
    "website",
    "repository",
    "logo",
    "success_url",
    "scripts",
    "env",
    "formation",
    "addons",
    "buildpacks",
    "environments",
    "stack",
    "image",
}


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return data


def test_procfile_runs_the_daemon_as_a_worker_and_the_drain_as_web() -> None:
    """The Procfile has two lines: the daemon as a worker process, the optional drain receiver as web."""
    assert "worker: python -m autoscaler run\nweb: python -m autoscaler web\n" == (ROOT / "Procfile").read_text()


def test_app_json_has_only_known_keys(app_json: dict[str, Any]) -> None:
    """Heroku's app.json schema allows no other top-level keys."""
    assert set(app_json) <= APP_JSON_KEYS
    assert {"name", "description", "keywords", "env", "formation"} <= set(app_json)


def test_app_json_names_no_repository(app_json: dict[str, Any]) -> None:
    """The Deploy button deploys the repository it is clicked from: app.json names none, so a fork deploys itself."""
    assert "repository" not in app_json
    assert "github.com" not in json.dumps(app_json)


def test_app_json_describes_every_user_variable(app_json: dict[str, Any]) -> None:
    """Each variable a user sets has an entry with a description; names follow Heroku's pattern."""
    env = app_json["env"]
    assert USER_VARIABLES <= set(env)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in env)
    assert all(entry.get("description") for entry in env.values())


def test_app_json_starts_in_dry_run_with_a_required_token(app_json: dict[str, Any]) -> None:
    """The first deploy only logs, and cannot be created without a token."""
    env = app_json["env"]
    assert ("true", True) == (env["AUTOSCALER_DRY_RUN"]["value"], env["HEROKU_API_KEY"]["required"])


def test_app_json_formation_is_one_basic_worker(app_json: dict[str, Any]) -> None:
    """One worker dyno of size basic; the web process (the log drain's receiver) is off until turned on."""
    assert {"worker": {"quantity": 1, "size": "basic"}, "web": {"quantity": 0, "size": "basic"}} == app_json[
        "formation"
    ]


def test_app_json_requires_what_its_defaults_need(app_json: dict[str, Any]) -> None:
    """Every variable the default configuration cannot start without is required on the Deploy form: with only
    the required variables filled in (and app.json's defaults), the configuration is valid."""
    from autoscaler.config import load_settings, require_runtime

    env = {name: entry["value"] for name, entry in app_json["env"].items() if "value" in entry}
    filled = {"HEROKU_API_KEY": "HRKU-x", "AUTOSCALER_APP": "my-app", "REDIS_URL": "redis://h:6379"}
    required = {name for name, entry in app_json["env"].items() if entry.get("required")}
    assert set(filled) <= required
    settings = load_settings({**env, **filled})
    require_runtime(settings, "HRKU-x")
    assert (True, ["worker"]) == (settings.dry_run, list(settings.processes))


def test_app_json_example_processes_is_valid_configuration(app_json: dict[str, Any]) -> None:
    """The AUTOSCALER_PROCESSES default the Deploy button fills in passes validation."""
    from autoscaler.config import load_settings

    value = app_json["env"]["AUTOSCALER_PROCESSES"]["value"]
    settings = load_settings({"AUTOSCALER_PROCESSES": value, "REDIS_URL": "redis://h:6379"})
    assert ["worker"] == list(settings.processes)


def test_runtime_names_a_supported_python() -> None:
    """runtime.txt names Python 3.12 or newer, which the Heroku buildpack supports."""
    match = re.fullmatch(r"python-3\.(\d+)(\.\d+)?\n?", (ROOT / "runtime.txt").read_text())
    assert match is not None
    assert 12 <= int(match.group(1)) <= 14


def test_requirements_pin_every_runtime_dependency() -> None:
    """requirements.txt pins (==) each dependency pyproject.toml declares."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[name.lower()] = version
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", spec)[0].lower() for spec in declared}
    assert names <= set(pins)
