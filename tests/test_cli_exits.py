"""Exit statuses and messages of every command on bad input, as a user meets them: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from autoscaler.fake_heroku import FakeHeroku

from .conftest import ROOT, enqueue
from .helpers import process_env, run_command, running

TOKEN = "HRKU-exit-test-token-123456789"
APP = "exit-app"
CLOSED = "redis://127.0.0.1:1/0"


@pytest.fixture
def stand_in() -> Iterator[str]:
    """The base URL of a local stand-in Platform API with one worker dyno."""
    with running(FakeHeroku(APP, TOKEN, {"worker": (1, "Standard-1X")})) as url:
        yield url


def env_for(api_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return process_env(TOKEN, APP, api_url, redis_url, **extra)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_STATE_URL": "postgres://u:pw@db.example.com/x"},
            "AUTOSCALER_STATE_URL: must be a redis://, rediss:// or unix:// URL",
            id="state store not Redis",
        ),
        pytest.param(
            {"AUTOSCALER_DRYRUN": "true"},
            "AUTOSCALER_DRYRUN: unknown variable; did you mean AUTOSCALER_DRY_RUN?",
            id="misspelt dry run",
        ),
    ],
)
def test_check_refuses_what_run_refuses(stand_in: str, redis_url: str, extra: dict[str, str], expected: str) -> None:
    """``check`` exits 2 with the very message ``run`` exits 2 with: a green check never precedes a crash loop."""
    env = env_for(stand_in, redis_url, **extra)
    check, run = run_command("check", env=env), run_command("run", env=env)
    assert (2, 2) == (check.returncode, run.returncode)
    assert check.stderr == run.stderr
    assert expected in check.stderr
    assert "Traceback" not in check.stderr + run.stderr
    assert "pw@" not in check.stderr


def test_once_exits_1_when_the_signal_is_unknown(stand_in: str, redis_url: str) -> None:
    """``once`` that could not read its signal exits 1: cron must not see success for a tick that did nothing."""
    proc = run_command("once", env=env_for(stand_in, redis_url, AUTOSCALER_PROCESSES__WORKER__URL=CLOSED))
    assert 1 == proc.returncode, proc.stdout + proc.stderr
    assert "event=signal_unknown" in proc.stdout


def test_once_exits_1_when_the_lease_cannot_be_read(stand_in: str, redis_url: str) -> None:
    """``once`` with an unreachable state store cannot tell who leads, does not act, and exits 1."""
    enqueue(redis_url, 25)
    proc = run_command("once", env=env_for(stand_in, redis_url, AUTOSCALER_STATE_URL=CLOSED))
    assert 1 == proc.returncode, proc.stdout + proc.stderr
    assert "event=state_unavailable" in proc.stdout
    assert "event=scaled" not in proc.stdout


def test_once_exits_0_after_a_good_tick(stand_in: str, redis_url: str) -> None:
    """A tick that read its signal and decided exits 0."""
    enqueue(redis_url, 25)
    proc = run_command("once", env=env_for(stand_in, redis_url))
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert "event=scaled" in proc.stdout


def test_check_prints_a_readable_report_and_nothing_else(stand_in: str, redis_url: str) -> None:
    """The human report rounds numbers, never prints None, and leaves stderr empty when all is well."""
    enqueue(redis_url, 25)
    proc = run_command("check", env=env_for(stand_in, redis_url))
    assert (0, "") == (proc.returncode, proc.stderr)
    worker = next(line for line in proc.stdout.splitlines() if line.startswith("worker:"))
    assert worker.startswith("worker: 1 x Standard-1X  depth=25 latency=")
    assert "→ desired 3 x Standard-1X (scale_up:" in worker
    assert "None" not in proc.stdout
    latency = worker.split("latency=")[1].split()[0]
    assert len(latency.split(".")[-1]) <= 2 or latency.isdigit()


def test_check_json_reports_unknown_as_null(stand_in: str) -> None:
    """``check --json`` with an unreadable signal: exit 1, ``depth`` null (never 0), and the failure listed."""
    proc = run_command("check", "--json", env=env_for(stand_in, CLOSED, AUTOSCALER_STATE_URL=CLOSED))
    report = json.loads(proc.stdout)
    assert (1, False, None) == (proc.returncode, report["ok"], report["processes"]["worker"]["depth"])
    assert report["errors"][0].startswith("worker: signal unknown:")


def test_plan_with_no_feasible_size_exits_2() -> None:
    """``plan`` prints why each size fails, then exits 2 naming the flags, without a traceback."""
    env = {"PATH": os.environ.get("PATH", "")}
    proc = run_command("plan", "--ram-per-process", "600", "--processes", "1", "--sizes", "eco,basic", env=env)
    assert 2 == proc.returncode
    assert "No feasible size" in proc.stdout
    assert "--ram-per-process, --processes: no dyno size can serve this demand" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_deploy_with_app_json_defaults_runs_in_dry_run(stand_in: str, redis_url: str) -> None:
    """What the Deploy button starts (app.json's defaults plus its required fields) runs, logs decisions with
    ``dry_run=true``, keeps running, and stops cleanly on SIGTERM."""
    import queue
    import signal
    import threading
    import time

    app_json = json.loads((ROOT / "app.json").read_text())
    env = {name: entry["value"] for name, entry in app_json["env"].items() if "value" in entry}
    env |= {"PATH": os.environ.get("PATH", ""), "HEROKU_API_KEY": TOKEN, "AUTOSCALER_APP": APP}
    env |= {"REDIS_URL": redis_url, "HEROKU_API_URL": stand_in}
    enqueue(redis_url, 120)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None

    def read() -> None:
        for line in proc.stdout or []:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while not any("event=scale_skipped" in line for line in seen) and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        decision = next(line for line in seen if "event=decision" in line)
        assert "dry_run=true" in decision
        assert "desired=3" in decision  # 120 jobs at 50 per dyno
        assert proc.poll() is None, "the daemon exited"
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=15)
        reader.join(timeout=5)
        proc.stdout.close()
    assert 0 == status
