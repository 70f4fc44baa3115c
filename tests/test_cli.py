"""The commands as a user runs them: real processes, real signals, a local stand-in API, real Redis."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from autoscaler.fake_heroku import FakeHeroku

from .conftest import ROOT, enqueue

TOKEN = "HRKU-cli-test-token-987654321"
APP = "cli-app"


@pytest.fixture
def fake() -> Iterator[FakeHeroku]:
    heroku = FakeHeroku(APP, TOKEN, {"worker": (1, "Standard-1X")})
    heroku.start()
    try:
        yield heroku
    finally:
        heroku.stop()


def environment(fake: FakeHeroku, redis_url: str, **extra: str) -> dict[str, str]:
    assert fake._server is not None
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "HEROKU_API_KEY": TOKEN,
        "HEROKU_API_URL": f"http://127.0.0.1:{fake._server.server_address[1]}",
        "AUTOSCALER_APP": APP,
        "REDIS_URL": redis_url,
        "AUTOSCALER_INTERVAL": "1",
        "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
        "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
        "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
        **extra,
    }


def command(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until condition() held; fails the test after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout}s")


def test_once_scales_and_exits_0(fake: FakeHeroku, redis_url: str) -> None:
    """`once` runs exactly one tick: a backlog of 45 with 10 per dyno PATCHes worker=5, exit 0."""
    enqueue(redis_url, 45)
    proc = command("once", env=environment(fake, redis_url))
    assert (0, {"worker": 5}, 1) == (proc.returncode, fake.quantities(), len(fake.patches)), proc.stdout + proc.stderr
    assert "event=decision" in proc.stdout


def test_once_exits_1_when_the_tick_fails(fake: FakeHeroku, redis_url: str) -> None:
    """A token the API refuses makes the tick fail: exit 1, nothing scaled, token not printed."""
    env = environment(fake, redis_url, HEROKU_API_KEY="HRKU-wrong-token-55555")
    proc = command("once", env=env)
    assert (1, [], False) == (proc.returncode, fake.patches, "HRKU-wrong-token-55555" in proc.stdout + proc.stderr)


def test_check_json_reports_readings_and_decision(fake: FakeHeroku, redis_url: str) -> None:
    """`check --json` prints one object with the contract's keys and never PATCHes."""
    enqueue(redis_url, 42)
    proc = command("check", "--json", env=environment(fake, redis_url))
    report = json.loads(proc.stdout)
    worker = report["processes"]["worker"]
    assert (0, True, APP, [], []) == (proc.returncode, report["ok"], report["app"], report["errors"], fake.patches)
    assert (1, "Standard-1X", 42, 0, 5, "scale_up") == (
        worker["quantity"],
        worker["size"],
        worker["depth"],
        worker["busy"],
        worker["desired"],
        worker["reason"],
    )
    assert 0 <= worker["latency"] < 60


def test_check_lists_each_failure(fake: FakeHeroku) -> None:
    """`check` with a bad token and an unreachable Redis lists both failures, exit 1, no secret shown."""
    env = environment(fake, "redis://:hunter2-secret@127.0.0.1:1/0", HEROKU_API_KEY="HRKU-revoked-123456")
    proc = command("check", env=env)
    assert 1 == proc.returncode
    assert "FAILED: token" in proc.stdout
    assert "FAILED: worker: signal unknown" in proc.stdout
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    assert "HRKU-revoked-123456" not in proc.stdout + proc.stderr


def test_run_scales_up_within_an_interval_and_down_after_the_delay(fake: FakeHeroku, redis_url: str) -> None:
    """The daemon against the stand-in API: a backlog is answered within one interval, the dynos come
    back down after DOWNSCALE_DELAY once it drains, and SIGTERM stops it with exit 0."""
    enqueue(redis_url, 45)
    env = environment(
        fake,
        redis_url,
        AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY="3",
        AUTOSCALER_PROCESSES__WORKER__BOOT_TIME="1",
    )
    with daemon_process(env, fake) as proc:
        up = wait_for(lambda: fake.quantities()["worker"] == 5, 2)
        redis.Redis.from_url(redis_url).delete("rq:queue:default")
        down = wait_for(lambda: fake.quantities()["worker"] == 1, 8)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
    assert (0, 2) == (proc.returncode, len(fake.patches)), stderr
    assert up <= 1.0
    assert 2.0 <= down <= 5.0
    assert "event=stopped" in stdout


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a Redis read there blocks until its timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@contextlib.contextmanager
def daemon_process(env: dict[str, str], fake: FakeHeroku) -> Iterator[subprocess.Popen[str]]:
    """`run` in a real process, yielded once its first tick has read the formation; killed on the way
    out if a test left it running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(path.endswith("/formation") for _, path in fake.requests), 20)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def terminate(proc: subprocess.Popen[str], signals: int = 1) -> float:
    """Send SIGTERM ``signals`` times (0.2 s apart); seconds until the process exited. The 10 s
    communicate timeout is the watchdog: a hang fails the test."""
    start = time.monotonic()
    for number in range(signals):
        if number:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    return time.monotonic() - start


def test_sigterm_mid_tick_exits_0_within_10s(fake: FakeHeroku, silent_port: int, redis_url: str) -> None:
    """SIGTERM while a tick waits on a slow backend still exits 0 within 10 s (watchdog: communicate timeout)."""
    env = environment(fake, f"redis://127.0.0.1:{silent_port}/0", AUTOSCALER_STATE_URL=redis_url)
    with daemon_process(env, fake) as proc:
        elapsed = terminate(proc)
    assert 0 == proc.returncode
    assert elapsed < 10


def test_second_signal_exits_at_once(fake: FakeHeroku, silent_port: int, redis_url: str) -> None:
    """A second SIGTERM does not wait for the running tick."""
    env = environment(fake, f"redis://127.0.0.1:{silent_port}/0", AUTOSCALER_STATE_URL=redis_url)
    with daemon_process(env, fake) as proc:
        time.sleep(0.2)  # the tick is now blocked on the silent "Redis"
        elapsed = terminate(proc, signals=2)
    assert 0 == proc.returncode
    assert elapsed < 2


def test_plan_live_reads_dyno_sizes_from_the_api(fake: FakeHeroku, redis_url: str) -> None:
    """`plan --live` uses GET /dyno-sizes with the configured token."""
    proc = command(
        "plan", "--live", "--ram-per-process", "300", "--processes", "10", "--json", env=environment(fake, redis_url)
    )
    report = json.loads(proc.stdout)
    assert (0, "standard-2x") == (proc.returncode, report["best"]["size"]), proc.stderr
    assert ("GET", "/dyno-sizes") in fake.requests


def test_plan_bad_input_exits_2(fake: FakeHeroku, redis_url: str) -> None:
    """Bad plan input exits 2 naming the flag, without a traceback."""
    proc = command("plan", "--ram-per-process", "-5", "--processes", "10", env=environment(fake, redis_url))
    assert (2, False) == (proc.returncode, "Traceback" in proc.stderr)
    assert "--ram-per-process" in proc.stderr


def test_sigterm_mid_patch_exits_0_within_10s(fake: FakeHeroku, redis_url: str) -> None:
    """SIGTERM while the PATCH hangs on a slow API still exits 0 within 10 s."""
    enqueue(redis_url, 45)
    patching = threading.Event()

    def slow_patch(method: str, path: str) -> str | None:
        if method == "PATCH":
            patching.set()
            return "slow"
        return None

    fake.slow_seconds = 30
    fake.fault = slow_patch
    with daemon_process(environment(fake, redis_url, AUTOSCALER_STATE_URL=redis_url), fake) as proc:
        assert patching.wait(20)
        elapsed = terminate(proc)
    assert 0 == proc.returncode
    assert elapsed < 10
