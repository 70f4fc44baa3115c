"""``python -m autoscaler web`` for real: a subprocess serving on a free loopback port, fed Logplex
batches over HTTP, writing to the real Redis. Every bad request gets a 4xx and changes nothing;
no answer and no log line holds a secret."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.drain import wire
from autoscaler.errors import ConfigError
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.router import RouterSource
from autoscaler.web.app import BODY_LIMIT, supplied_password
from autoscaler.web.server import DEFAULT_PORT, port_from
from benchmarks.drain import answers_health, free_port
from tests.conftest import REDIS_URL, ROOT, service_unavailable
from tests.faultproxy import FaultProxy
from tests.test_drain_frames import app_line, body, frame, load_line, memory_line, router_line

PASSWORD = "drain-s3cret-0123456789abcdef"
LOGPLEX = "application/logplex-1"


def base_env(redis_url: str | None, **extra: str) -> dict[str, str]:
    """What the autoscaler app's web dyno has: the processes, the state store, the drain password;
    no HEROKU_API_KEY, no AUTOSCALER_APP (the web process needs neither)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONUNBUFFERED": "1",
        "AUTOSCALER_PROCESSES__WEB__SOURCE": "router",
        "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "4",
        "AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS": "500",
        "AUTOSCALER_DRAIN_PASSWORD": PASSWORD,
    }
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env | extra


@contextmanager
def web_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The web process on a free loopback port, once ``GET /health`` answers; SIGTERM afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "autoscaler", "web", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env={**env, "PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(url, proc):
            pytest.fail(f"the web process did not start:\n{log.read_text()}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def redis_available() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        service_unavailable("Redis at 127.0.0.1:6379", "install and start redis-server")
    finally:
        client.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One web process for the module (its URL and log file), writing to the test database."""
    redis_available()
    log = tmp_path_factory.mktemp("web") / "web.log"
    with web_process(base_env(REDIS_URL), log) as (url, _proc):
        yield url, log


@pytest.fixture
def url(server: tuple[str, Path], redis_url: str) -> str:
    """The module's web process, on an empty test database."""
    return server[0]


def auth(password: str = PASSWORD, user: str = "drain") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(
    url: str,
    content: bytes,
    *,
    count: int | None = None,
    frame_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a batch as Logplex does (its headers, ``count`` defaulting to the frames in ``content``)."""
    sent = {
        "Content-Type": LOGPLEX,
        "Authorization": auth(),
        "User-Agent": "Logplex/v123",
        "Logplex-Drain-Token": "d.0c7a4e5f-0000-4000-8000-000000000001",
    }
    if count is not None:
        sent["Logplex-Msg-Count"] = str(count)
    if frame_id is not None:
        sent["Logplex-Frame-Id"] = frame_id
    sent |= headers or {}
    return httpx.post(f"{url}/drain", content=content, headers=sent, timeout=10)


def drain_keys(client: redis.Redis) -> list[bytes]:
    return sorted(bytes(key) for key in client.scan_iter(match="autoscaler:drain*"))


# --- the process ------------------------------------------------------------------------------------


def test_health_answers_without_auth_or_secrets(url: str) -> None:
    answer = httpx.get(f"{url}/health", timeout=5)
    assert (200, True, "on") == (answer.status_code, answer.json()["ok"], answer.json()["drain"])
    assert PASSWORD not in answer.text


def test_a_batch_of_router_and_metrics_lines_is_read_by_the_router_source(url: str, redis_url: str) -> None:
    """Real frames over HTTP (a multibyte path, an H12, memory and load, an app line) reach the
    router source's reading."""
    now = time.time()
    at = now - 30
    lines = [
        *(router_line(at, ms, path="/caf\u00e9/\U0001f600") for ms in (40, 50, 60, 70, 80, 90, 100, 110, 120)),
        router_line(at, 30_000, code="H12", status=503, dyno="web.2"),
        memory_line(at, "web.1", "212.50MB"),
        load_line(at, "web.2", "1.25"),
        app_line(at),
    ]
    answer = post(url, body(lines), count=len(lines), frame_id="F-1")
    assert 200 == answer.status_code, answer.text
    assert {"lines": 13, "router": 10, "metrics": 2, "ignored": 1, "duplicate": False} == answer.json()
    reading = RouterSource(connect(redis_url), window=60).read(now)
    assert reading.rate == pytest.approx(10 / 60)
    assert ({"H12": 1}, {"web.1": 212.5}, {"web.2": 1.25}) == (reading.errors, reading.memory_mb, reading.load)
    assert reading.response_time_p50 == pytest.approx(80, rel=0.04)  # the 5th of 10
    assert reading.response_time_p99 == pytest.approx(30_000, rel=0.04)


def test_a_retried_frame_id_is_added_once(url: str, redis_client: redis.Redis) -> None:
    lines = [router_line(time.time() - 20, 80)] * 3
    first = post(url, body(lines), count=3, frame_id="09C557EAFCFB6CF2740EE62F62971098")
    retry = post(url, body(lines), count=3, frame_id="09C557EAFCFB6CF2740EE62F62971098")
    other = post(url, body(lines), count=3, frame_id="19C557EAFCFB6CF2740EE62F62971098")
    assert [False, True, False] == [r.json()["duplicate"] for r in (first, retry, other)]
    (key,) = [k for k in drain_keys(redis_client) if not k.startswith(wire.FRAME_PREFIX.encode())]
    assert b"6" == redis_client.hget(key, "n")


# --- bad requests ---------------------------------------------------------------------------------


def good() -> bytes:
    """A batch of one current router line: stored when sent right."""
    return body([router_line(time.time() - 20)])


def recount(length: str) -> Callable[[], bytes]:
    """The good batch with its frame length replaced."""

    def content() -> bytes:
        data = good()
        return length.encode() + data[data.index(b" ") :]

    return content


BAD_REQUESTS: dict[str, tuple[int, Callable[[], bytes], dict[str, str]]] = {
    "no credentials": (401, good, {"Authorization": ""}),
    "wrong password": (401, good, {"Authorization": auth("not-the-password")}),
    "password prefix": (401, good, {"Authorization": auth(PASSWORD[:-1])}),
    "no colon": (401, good, {"Authorization": "Basic " + base64.b64encode(PASSWORD.encode()).decode()}),
    "not base64": (401, good, {"Authorization": "Basic %%%"}),
    "bearer": (401, good, {"Authorization": f"Bearer {PASSWORD}"}),
    "wrong content type": (415, good, {"Content-Type": "text/plain"}),
    "no content type": (415, good, {"Content-Type": ""}),
    "garbage": (400, lambda: b"\x00\xff garbage \xfe", {}),
    "count too long": (400, recount("500"), {}),
    "count too short": (400, recount("5"), {}),
    "bytes after the last frame": (400, lambda: good() + b"\n", {}),
    "empty body": (400, lambda: b"", {}),
    "message count differs": (400, good, {"Logplex-Msg-Count": "2"}),
    "message count not a number": (400, good, {"Logplex-Msg-Count": "one"}),
    "frame id with a space": (400, good, {"Logplex-Frame-Id": "a b"}),
    "drain token with a newline escape": (400, good, {"Logplex-Drain-Token": "d.1\\n"}),
}


@pytest.mark.parametrize(("status", "content", "headers"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_bad_request_gets_a_4xx_and_changes_nothing(
    url: str, redis_client: redis.Redis, status: int, content: Callable[[], bytes], headers: dict[str, str]
) -> None:
    answer = post(url, content(), frame_id="F-bad", headers=headers)
    assert status == answer.status_code, answer.text
    assert "error" in answer.json()
    assert PASSWORD not in answer.text
    assert ("www-authenticate" in answer.headers) == (status == 401)
    assert [] == drain_keys(redis_client)
    # The frame id of a refused batch was not remembered: the same batch, sent right, is added.
    again = post(url, good(), frame_id="F-bad")
    assert (200, False, 2) == (again.status_code, again.json()["duplicate"], len(drain_keys(redis_client)))


def test_a_body_over_the_limit_by_content_length_is_refused_unread(url: str, redis_client: redis.Redis) -> None:
    lines = [router_line(time.time() - 20)] * (BODY_LIMIT // 200)
    content = body(lines)
    assert len(content) > BODY_LIMIT
    answer = post(url, content)
    assert (413, []) == (answer.status_code, drain_keys(redis_client))


def test_a_streamed_body_over_the_limit_is_refused(url: str, redis_client: redis.Redis) -> None:
    """Without Content-Length (chunked), the bytes are counted as they arrive."""
    chunk = b"x" * 65536
    chunks = [chunk] * (BODY_LIMIT // len(chunk)) + [b"x"]
    answer = post(url, iter(chunks))  # type: ignore[arg-type]
    assert (413, []) == (answer.status_code, drain_keys(redis_client))


def test_a_streamed_body_within_the_limit_is_read(url: str) -> None:
    content = body([router_line(time.time() - 20)] * 50)
    answer = post(url, iter([content[:1000], content[1000:]]), count=50)  # type: ignore[arg-type]
    assert (200, 50) == (answer.status_code, answer.json()["router"])


def test_other_paths_and_methods_are_4xx(url: str) -> None:
    assert 405 == httpx.get(f"{url}/drain", timeout=5).status_code
    assert 404 == httpx.post(f"{url}/drains", timeout=5).status_code


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.lists(st.binary(max_size=60), max_size=5).map(body))
def test_any_body_gets_200_or_400_never_5xx(server: tuple[str, Path], content: bytes) -> None:
    answer = post(server[0], content)
    assert answer.status_code in {200, 400}, answer.text


def test_no_secret_in_the_log(server: tuple[str, Path], url: str) -> None:
    """Refused and accepted batches alike: the log has no password, neither the right one nor a wrong one."""
    post(url, good(), headers={"Authorization": auth("wrong-but-secret-7777")})
    post(url, frame("password=app-secret-8888") + b"99 password=app-secret-8888")
    post(url, good())
    time.sleep(0.2)
    text = server[1].read_text()
    assert "drain_refused" in text
    for secret in (PASSWORD, "wrong-but-secret-7777", "app-secret-8888"):
        assert secret not in text


# --- configurations --------------------------------------------------------------------------------


def test_the_drain_is_off_without_a_password(redis_url: str, tmp_path: Path) -> None:
    env = base_env(redis_url)
    del env["AUTOSCALER_DRAIN_PASSWORD"]
    with web_process(env, tmp_path / "web.log") as (url, _proc):
        health = httpx.get(f"{url}/health", timeout=5).json()
        answers = [post(url, good(), headers={"Authorization": a}) for a in (auth(), auth(""), "")]
    assert "off" == health["drain"]
    assert [403, 403, 403] == [a.status_code for a in answers]
    assert "AUTOSCALER_DRAIN_PASSWORD" in answers[0].json()["error"]
    assert "event=drain_off" in (tmp_path / "web.log").read_text()


def test_an_unreachable_store_is_a_503_without_secrets(redis_url: str, tmp_path: Path) -> None:
    """The state store down: 503 (Logplex may retry), the Redis password in neither the answer nor the log;
    once it is back, the next batch is stored."""
    redis_available()
    proxy = FaultProxy("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    proxy.start()
    try:
        proxied = proxy.redis_url(redis_url)
        with_password = proxied.replace("redis://", "redis://:hunter2-redis-secret@")
        log = tmp_path / "web.log"
        env = base_env(redis_url, AUTOSCALER_STATE_URL=with_password.replace(f":{proxy.port}", ":1"))
        with web_process(env, log) as (url, _proc):
            down = post(url, good())
        assert 503 == down.status_code
        text = log.read_text() + down.text
        assert "drain_store_failed" in text
        assert "hunter2-redis-secret" not in text
        assert PASSWORD not in text

        proxy.stop()
        with web_process(base_env(proxied), tmp_path / "proxied.log") as (url, _proc):
            stopped = post(url, body([router_line(time.time() - 20)]))
            proxy.start()
            back = post(url, body([router_line(time.time() - 20)]))
        assert (503, 200, 1) == (stopped.status_code, back.status_code, back.json()["router"])
    finally:
        proxy.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_it_cleanly(redis_url: str, tmp_path: Path, signum: int) -> None:
    """SIGTERM (Heroku's stop) or SIGINT (Ctrl-C) stops the web process with status 0 and no traceback."""
    with web_process(base_env(redis_url), tmp_path / "web.log") as (_url, proc):
        proc.send_signal(signum)
        status = proc.wait(10)
    output = (tmp_path / "web.log").read_text()
    assert (0, True, False) == (status, "event=web_stopped" in output, "Traceback" in output)


def run_web(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", "web", "--host", "127.0.0.1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_without_a_state_store_it_exits_2_naming_the_variables() -> None:
    env = base_env(None)
    del env["AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS"]  # a router target, which http_json does not read
    env |= {
        "AUTOSCALER_PROCESSES__WEB__SOURCE": "http_json",
        "AUTOSCALER_PROCESSES__WEB__URL": "https://example.com/queue",
        "AUTOSCALER_PROCESSES__WEB__JOBS_PER_DYNO": "10",
    }
    proc = run_web(env)
    assert 2 == proc.returncode, proc.stderr
    assert "AUTOSCALER_STATE_URL" in proc.stderr
    assert "REDIS_URL" in proc.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"AUTOSCALER_DRAIN_PASWORD": "x"}, "did you mean AUTOSCALER_DRAIN_PASSWORD?"),
        ({"PORT": "http"}, "PORT: must be a TCP port number"),
        ({"AUTOSCALER_STATE_URL": "redis://:hunter2-redis-secret@h:6379/0?frobnicate=1"}, "AUTOSCALER_STATE_URL"),
    ],
)
def test_bad_configuration_exits_2(extra: dict[str, str], expected: str) -> None:
    proc = run_web(base_env("redis://127.0.0.1:6379/0", **extra))
    assert 2 == proc.returncode, proc.stderr
    assert expected in proc.stderr
    assert "hunter2-redis-secret" not in proc.stderr + proc.stdout


def test_port_defaults_to_5000() -> None:
    assert (DEFAULT_PORT, 5000, 8080) == (port_from({}), port_from({"PORT": ""}), port_from({"PORT": "8080"}))
    with pytest.raises(ConfigError):
        port_from({"PORT": "70000"})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (auth("p:w", "any user"), b"p:w"),
        (auth("", "drain"), b""),
        ("basic " + base64.b64encode(b"u:pw").decode(), b"pw"),
        (None, None),
        ("Basic", None),
        ("Basic dTpw!", None),
        ("Digest x", None),
    ],
)
def test_supplied_password(header: str | None, expected: bytes | None) -> None:
    assert expected == supplied_password(header)


def test_answers_are_json(url: str) -> None:
    answer = post(url, good())
    assert answer.headers["content-type"].startswith("application/json")
    json.loads(answer.text)
