"""The commands as a user runs them: real processes, real signals, a local stand-in API, real Redis."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

import pytest
import redis

from autoscaler.fake_heroku import FakeHeroku

from .conftest import ROOT, enqueue
from .helpers import process_env, run_command, running

TOKEN = "HRKU-cli-test-token-987654321"
APP = "cli-app"


class StandIn(FakeHeroku):
    """The stand-in API, with the base URL :meth:`start` answered."""

    url = ""

    def start(self, port: int = 0) -> str:
        self.url = super().start(port)
        return self.url


@pytest.fixture
def fake() -> Iterator[StandIn]:
    heroku = StandIn(APP, TOKEN, {"worker": (1, "Standard-1X")})
    with running(heroku):
        yield heroku


def environment(fake: StandIn, redis_url: str, **extra: str) -> dict[str, str]:
    return process_env(TOKEN, APP, fake.url, redis_url, **({"AUTOSCALER_INTERVAL": "1"} | extra))


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until condition() held; fails the test after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout}s")


def test_once_scales_and_exits_0(fake: StandIn, redis_url: str) -> None:
    """`once` runs exactly one tick: a backlog of 45 with 10 per dyno PATCHes worker=5, exit 0."""
    enqueue(redis_url, 45)
    proc = run_command("once", env=environment(fake, redis_url))
    assert (0, {"worker": 5}, 1) == (proc.returncode, fake.quantities(), len(fake.patches)), proc.stdout + proc.stderr
    assert "event=decision" in proc.stdout


def test_once_with_predict_warns_that_it_records_too_seldom_and_still_scales(fake: StandIn, redis_url: str) -> None:
    enqueue(redis_url, 45)
    env = environment(fake, redis_url, AUTOSCALER_PROCESSES__WORKER__PREDICT="true")
    proc = run_command("once", env=env)
    assert (0, {"worker": 5}) == (proc.returncode, fake.quantities()), proc.stdout + proc.stderr
    assert "event=predict_needs_run" in proc.stdout
    assert "processes=worker" in proc.stdout


def test_once_exits_1_when_the_tick_fails(fake: StandIn, redis_url: str) -> None:
    """A token the API refuses makes the tick fail: exit 1, nothing scaled, token not printed."""
    env = environment(fake, redis_url, HEROKU_API_KEY="HRKU-wrong-token-55555")
    proc = run_command("once", env=env)
    assert (1, [], False) == (proc.returncode, fake.patches, "HRKU-wrong-token-55555" in proc.stdout + proc.stderr)


def test_check_json_reports_readings_and_decision(fake: StandIn, redis_url: str) -> None:
    """`check --json` prints one object with the documented keys and never PATCHes."""
    enqueue(redis_url, 42)
    proc = run_command("check", "--json", env=environment(fake, redis_url))
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


def test_check_lists_each_failure(fake: StandIn) -> None:
    """`check` with a bad token and an unreachable Redis lists both failures, exit 1, no secret shown."""
    env = environment(fake, "redis://:hunter2-secret@127.0.0.1:1/0", HEROKU_API_KEY="HRKU-revoked-123456")
    proc = run_command("check", env=env)
    assert 1 == proc.returncode
    assert "FAILED: token" in proc.stdout
    assert "FAILED: worker: signal unknown" in proc.stdout
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    assert "HRKU-revoked-123456" not in proc.stdout + proc.stderr


def test_run_scales_up_within_an_interval_and_down_after_the_delay(fake: StandIn, redis_url: str) -> None:
    """The daemon against the stand-in API: a backlog is answered within one interval, the dynos come
    back down after DOWNSCALE_DELAY once it drains, and SIGTERM stops it with exit 0."""
    enqueue(redis_url, 45)
    env = environment(
        fake,
        redis_url,
        AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY="3",
        AUTOSCALER_PROCESSES__WORKER__BOOT_TIME="1",
    )
    with daemon_process(env, fake) as daemon:
        up = wait_for(lambda: fake.quantities()["worker"] == 5, 2)
        redis.Redis.from_url(redis_url).delete("rq:queue:default")
        down = wait_for(lambda: fake.quantities()["worker"] == 1, 8)
        terminate(daemon)
    assert (0, 2) == (daemon.proc.returncode, len(fake.patches)), daemon.stderr()
    assert up <= 1.0
    assert 2.0 <= down <= 5.0
    assert "event=stopped" in daemon.stdout()


class SilentServer:
    """A TCP port that accepts connections and never answers: a Redis command sent there blocks
    until its timeout. Accepted connections stay open until the test ends."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def wait_for_command(self, timeout: float) -> bytes:
        """The first bytes a client sends; fails the test if none arrive within ``timeout``."""
        self.listener.settimeout(timeout)
        try:
            connection, _ = self.listener.accept()
        except TimeoutError:
            pytest.fail(f"nothing connected within {timeout}s")
        self.accepted.append(connection)
        connection.settimeout(timeout)
        try:
            data = connection.recv(4096)
        except TimeoutError:
            pytest.fail(f"nothing was sent within {timeout}s")
        assert data, "the client hung up without sending a command"
        return data

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


class DaemonProcess:
    """`run` in a real process; threads collect its output line by line as it is written."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autoscaler", "run"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._collect, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._collect, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _collect(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        with stream:
            lines.extend(stream)  # one line at a time, until the process closes the pipe

    def stdout(self) -> str:
        return "".join(self.out)

    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for_line(self, text: str, timeout: float) -> None:
        """Return once a line of stdout contains ``text``; fail the test after ``timeout``."""
        wait_for(lambda: any(text in line for line in list(self.out)), timeout)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has exited and its output is read to the end."""
        code = self.proc.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=timeout)
        return code


@contextlib.contextmanager
def daemon_process(env: dict[str, str], fake: StandIn) -> Iterator[DaemonProcess]:
    """`run` in a real process, yielded once its first tick has read the formation; killed on the way
    out if a test left it running."""
    daemon = DaemonProcess(env)
    try:
        wait_for(lambda: any(path.endswith("/formation") for _, path in fake.requests), 20)
        yield daemon
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.wait(timeout=10)


def terminate(daemon: DaemonProcess, signals: int = 1) -> float:
    """Send SIGTERM ``signals`` times, each after the daemon has logged that it is stopping; seconds
    until the process exited. The 10 s wait is the watchdog: a hang fails the test."""
    start = time.monotonic()
    for number in range(signals):
        if number:
            # Signals sent back to back may be merged into one; the next is sent once the first is handled.
            daemon.wait_for_line("event=stopping", 10)
        daemon.proc.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)
    return time.monotonic() - start


def test_sigterm_mid_tick_exits_0_within_10s(fake: StandIn, silent: SilentServer, redis_url: str) -> None:
    """SIGTERM while a tick waits on a slow backend still exits 0 within 10 s (watchdog: the wait's timeout)."""
    env = environment(fake, f"redis://127.0.0.1:{silent.port}/0", AUTOSCALER_STATE_URL=redis_url)
    with daemon_process(env, fake) as daemon:
        silent.wait_for_command(20)  # the tick is now blocked on the silent "Redis"
        elapsed = terminate(daemon)
    assert 0 == daemon.proc.returncode, daemon.stderr()
    assert elapsed < 10


def test_second_signal_exits_at_once(fake: StandIn, silent: SilentServer, redis_url: str) -> None:
    """A second SIGTERM does not wait for the running tick."""
    env = environment(fake, f"redis://127.0.0.1:{silent.port}/0", AUTOSCALER_STATE_URL=redis_url)
    with daemon_process(env, fake) as daemon:
        silent.wait_for_command(20)  # the tick is now blocked on the silent "Redis"
        elapsed = terminate(daemon, signals=2)
    assert 0 == daemon.proc.returncode, daemon.stderr()
    assert elapsed < 2
    assert "abandoned a tick still running" in daemon.stdout()  # it did not wait for the tick to finish
    assert not redis.Redis.from_url(redis_url).exists(f"autoscaler:{APP}:leader")  # yet it let go of the lease


def test_plan_live_reads_dyno_sizes_from_the_api(fake: StandIn, redis_url: str) -> None:
    """`plan --live` uses GET /dyno-sizes with the configured token."""
    proc = run_command(
        "plan", "--live", "--ram-per-process", "300", "--processes", "10", "--json", env=environment(fake, redis_url)
    )
    report = json.loads(proc.stdout)
    assert (0, "standard-2x") == (proc.returncode, report["best"]["size"]), proc.stderr
    assert ("GET", "/dyno-sizes") in fake.requests


def test_plan_bad_input_exits_2(fake: StandIn, redis_url: str) -> None:
    """Bad plan input exits 2 naming the flag, without a traceback."""
    proc = run_command("plan", "--ram-per-process", "-5", "--processes", "10", env=environment(fake, redis_url))
    assert (2, False) == (proc.returncode, "Traceback" in proc.stderr)
    assert "--ram-per-process" in proc.stderr


def test_sigterm_mid_patch_exits_0_within_10s(fake: StandIn, redis_url: str) -> None:
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
    with daemon_process(environment(fake, redis_url, AUTOSCALER_STATE_URL=redis_url), fake) as daemon:
        assert patching.wait(20)
        elapsed = terminate(daemon)
    assert 0 == daemon.proc.returncode, daemon.stderr()
    assert elapsed < 10
