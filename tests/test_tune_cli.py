"""``tune`` end to end, as the command line runs it, on a 20-minute trace: the text and the JSON it
prints, what it suggests and never suggests, bad flags, and --from-history against the real store."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from autoscaler.__main__ import main
from autoscaler.history import RedisHistory
from autoscaler.simulate import workloads
from benchmarks.dashboard import PROCESS_ENV, demo_settings, record

TRACE = "t,arrivals_per_s\n0,40\n300,120\n600,40\n900,40\n"
"""20 minutes: 40 requests a second, three times that for five minutes, then 40 again for ten."""
ENV = """# heroku config -s -a my-autoscaler
AUTOSCALER_APP='my-app'
HEROKU_API_KEY='HRKU-never-printed-0123456789'
REDIS_URL='redis://127.0.0.1:6379/15'
AUTOSCALER_MAX_MONTHLY_COST='5000'
AUTOSCALER_PROCESSES__WEB__SOURCE='web'
AUTOSCALER_PROCESSES__WEB__MIN_DYNOS='1'
AUTOSCALER_PROCESSES__WEB__MAX_DYNOS='10'
AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS='50'
AUTOSCALER_PROCESSES__WEB__PROCESSES_PER_DYNO='4'
AUTOSCALER_PROCESSES__WEB__DOWNSCALE_DELAY='900'
AUTOSCALER_PROCESSES__WORKER__SOURCE='rq'
AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS='5'
AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO='20'
"""
"""A web process that keeps its dynos 15 minutes after a burst, and a worker."""
WEB = "AUTOSCALER_PROCESSES__WEB__"
TUNED = {f"{WEB}{name}" for name in ("QUEUE_TIME_MS", "DOWNSCALE_DELAY", "SCALE_UP_DYNOS", "SCALE_UP_PERCENT")}
TUNED |= {f"{WEB}{name}" for name in ("SCALE_DOWN_PER_MINUTE", "BOOT_TIME", "TOLERANCE")}
BUDGET = ["--budget", "20"]


def _files(directory: Path, env: str = ENV) -> tuple[str, str]:
    (directory / "autoscaler.env").write_text(env)
    (directory / "trace.csv").write_text(TRACE)
    return str(directory / "autoscaler.env"), str(directory / "trace.csv")


def _tune(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``autoscaler tune ARGV``: the exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["tune", *argv], env={} if env is None else env)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """The same search printed as text and as JSON."""
    env_file, trace = _files(tmp_path_factory.mktemp("tune"))
    argv = ["--env-file", env_file, "--kind", "web", "--trace", trace, *BUDGET]
    return {"text": _tune(argv), "json": _tune([*argv, "--json"])}


def test_the_text_says_what_was_searched_and_how_to_apply_the_suggestion(
    runs: dict[str, tuple[int, str, str]],
) -> None:
    status, out, err = runs["text"]
    assert 0 == status
    lines = out.splitlines()
    assert lines[0].endswith("trace.csv (web): 4 rows, 20 min")
    assert "process type web (SOURCE web)" in lines[1]
    assert "SLO minute: a minute whose p95 request queue time is above 50 ms" in lines
    search = next(line for line in lines if line.startswith("search: "))
    assert search.startswith("search: 20 settings (current 1, sweep 15, combine ")
    assert " x 2 seeds (1, 2) = 40 simulations of ours on " in search
    assert ["current", "suggested"] == [line.split()[0] for line in lines if line.startswith(("current", "suggested"))]
    changed = lines[lines.index("changed:") + 1 : lines.index("apply it:") - 1]
    assert any(line.split()[0] == f"{WEB}DOWNSCALE_DELAY" and "900 →" in line for line in changed)
    command = lines[lines.index("apply it:") + 1].strip()
    assert command.startswith("heroku config:set ")
    assert command.endswith(" -a AUTOSCALER-APP")
    assert {line.split()[0] for line in changed} == {word.split("=")[0] for word in command.split()[2:-2]}
    assert "HRKU" not in out + err
    assert "tune: sweep: 15 settings x 2 seeds" in err


def test_json_has_current_and_suggested_with_the_tuned_variables(runs: dict[str, tuple[int, str, str]]) -> None:
    status, out, _ = runs["json"]
    assert 0 == status
    data: dict[str, Any] = json.loads(out)
    current, suggested = data["current"], data["suggested"]
    for entry in (current, suggested):
        assert {"slo_minutes", "cost_usd", "monthly_usd", "settings"} <= set(entry)
        assert TUNED == set(entry["settings"])
    assert 900 == current["settings"][f"{WEB}DOWNSCALE_DELAY"]
    assert suggested["slo_minutes"] <= current["slo_minutes"]
    assert suggested["cost_usd"] <= current["cost_usd"] * 0.99 or suggested["slo_minutes"] <= current["slo_minutes"] - 1
    assert suggested["changed"] == {k: v for k, v in suggested["settings"].items() if v != current["settings"][k]}
    assert (20, 40, [1, 2]) == (data["evaluations"], data["simulations"], data["seeds"])
    assert data["seconds"] > 0
    assert data["config_set"] == next(
        line.strip() for line in runs["text"][1].splitlines() if line.strip().startswith("heroku config:set")
    )


def test_the_users_bounds_and_budget_are_never_suggested(runs: dict[str, tuple[int, str, str]]) -> None:
    data = json.loads(runs["json"][1])
    words = data["config_set"] + json.dumps(data["suggested"]) + json.dumps(data["tried"])
    for name in ("MIN_DYNOS", "MAX_DYNOS", "MAX_MONTHLY_COST", "SIZE", "PROCESSES_PER_DYNO", "WORKER"):
        assert name not in words
    assert len(data["tried"]) == 19


def test_a_formation_that_cannot_change_has_nothing_better(tmp_path: Path) -> None:
    """MIN_DYNOS = MAX_DYNOS: every setting gives the same run, so nothing qualifies; exit status 0."""
    env_file, trace = _files(tmp_path, ENV.replace("MIN_DYNOS='1'", "MIN_DYNOS='10'"))
    argv = ["--env-file", env_file, "--kind", "web", "--trace", trace, "--budget", "3", "--seeds", "1"]
    status, out, _ = _tune(argv)
    assert 0 == status
    assert "nothing better found" in out
    assert " x 1 seeds (1) = 3 simulations of ours on 1 process in " in out  # too little to start processes for
    assert "heroku config:set" not in out
    status, out, _ = _tune([*argv, "--json"])
    data = json.loads(out)
    assert (None, None, 3) == (data["suggested"], data["config_set"], data["evaluations"])
    assert {entry["cost_usd"] for entry in data["tried"]} == {data["current"]["cost_usd"]}


@pytest.mark.parametrize(
    ("argv", "problems"),
    [
        pytest.param(
            [],
            [
                "--env-file: required: the autoscaler app's config vars (heroku config -s -a AUTOSCALER-APP)",
                "--kind: required: web or worker",
                "--trace: give exactly one of --trace, --scenario, --from-history; got none",
            ],
            id="nothing",
        ),
        pytest.param(
            ["--kind", "web", "--scenario", "diurnal", "--trace", "{trace}"],
            ["--scenario: give exactly one of --trace, --scenario, --from-history; got --trace and --scenario"],
            id="two workloads",
        ),
        pytest.param(
            ["--kind", "job", "--scenario", "rush", "--seeds", "0", "--budget", "1", "--slo", "-3", "--since", "1h"],
            [
                "--kind: must be web or worker, got 'job'",
                f"--scenario: unknown scenario 'rush'; known: {', '.join(workloads.SCENARIOS)}",
                "--since: applies to --from-history",
                "--seeds: must be a whole number from 1 to 20, got '0'",
                "--budget: must be a whole number from 2 to 10000, got '1'",
                "--slo: must be a number > 0, got '-3'",
            ],
            id="bad values",
        ),
        pytest.param(
            ["--kind", "web", "--scenario", "batch-dump"],
            ["--kind: scenario batch-dump has no web variant (it is worker)"],
            id="no such variant",
        ),
        pytest.param(
            ["--kind", "web", "--from-history", "--hours", "2", "--since", "soon"],
            [
                "--since: expected a duration such as 90m, 24h or 7d, or an ISO 8601 time; got 'soon'",
                "--hours: applies to --trace and --scenario; with --from-history, --since sets the period",
            ],
            id="history flags",
        ),
        pytest.param(
            ["--kind", "web", "--trace", "{trace}", "--process", "worker"],
            ["--kind: process type worker of {env} is a worker process, not web"],
            id="the process is of the other kind",
        ),
        pytest.param(
            ["--kind", "web", "--trace", "{trace}", "--process", "clock"],
            ["--process: {env} configures no process type 'clock'; it has: web, worker"],
            id="unknown process",
        ),
    ],
)
def test_bad_flags_exit_2_naming_each(tmp_path: Path, argv: list[str], problems: list[str]) -> None:
    env_file, trace = _files(tmp_path)
    argv = [arg.format(trace=trace) for arg in argv]
    if argv:
        argv = ["--env-file", env_file, *argv]
    status, out, err = _tune(argv)
    heading, *lines = err.splitlines()
    assert (2, "", "autoscaler: invalid configuration or usage:") == (status, out, heading)
    assert [f"  {problem.format(env=env_file)}" for problem in problems] == lines


def test_a_bad_env_file_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env_file, trace = _files(tmp_path, ENV + "AUTOSCALER_PROCESSES__WEB__DOWNSCALE_DELAI='60'\n")
    status, _, err = _tune(["--env-file", env_file, "--kind", "web", "--trace", trace])
    assert 2 == status
    assert "  --env-file: AUTOSCALER_PROCESSES__WEB__DOWNSCALE_DELAI: unknown setting of process type 'web'" in err


def test_several_processes_of_the_kind_need_process(tmp_path: Path) -> None:
    mailer = "AUTOSCALER_PROCESSES__MAILER__SOURCE='rq'\nAUTOSCALER_PROCESSES__MAILER__MAX_DYNOS='2'\n"
    env_file, trace = _files(tmp_path, ENV + mailer + "AUTOSCALER_PROCESSES__MAILER__MAX_LATENCY='30'\n")
    status, _, err = _tune(["--env-file", env_file, "--kind", "worker", "--trace", trace])
    assert 2 == status
    assert f"  --process: {env_file} configures several worker process types (mailer, worker): pick one" in err


# --- --from-history, against the real store ------------------------------------------------------


def test_from_history_tunes_on_the_load_the_daemon_recorded(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    """90 minutes recorded by the real daemon into Redis; the env file names the store and the app."""
    app = "tune-app"
    start = (time.time() // 60) * 60 - 90 * 60
    record(demo_settings(redis_url, app=app), RedisHistory(redis_client, app), start=start, seconds=90 * 60)
    variables = {"AUTOSCALER_APP": app, "REDIS_URL": redis_url, **PROCESS_ENV}
    env_file = tmp_path / "autoscaler.env"
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in variables.items()))
    argv = ["--env-file", str(env_file), "--kind", "web", "--from-history", "--since", "3h"]
    status, out, _ = _tune([*argv, "--budget", "3", "--seeds", "1", "--json"])
    assert 0 == status
    data = json.loads(out)
    assert ("history:web", "web", "web") == (data["workload"]["name"], data["workload"]["kind"], data["process"])
    assert 89 * 60 <= data["workload"]["duration_s"] <= 90 * 60
    assert 40 == data["current"]["settings"][f"{WEB}QUEUE_TIME_MS"]
    assert (3, {"current": 1, "sweep": 2}) == (data["evaluations"], data["phases"])
