"""HTTPJSONSource against real HTTP servers on loopback.

Two servers: a small ``http.server`` whose answers each test sets (slow, huge, broken,
redirecting, ...), and a Flask app using hirefire-resource's own WSGI middleware and RQ
macro, served by wsgiref, so the HireFire info format is the one hirefire-resource
really produces from real RQ jobs in Redis.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from flask import Flask
from hirefire_resource import HireFire
from hirefire_resource.macro.rq import job_queue_size
from hirefire_resource.middleware.wsgi.flask import HireFireMiddleware
from pydantic import SecretStr

from autoscaler.config import HTTPJSONSettings, Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading
from autoscaler.signals.build import Connections
from autoscaler.signals.http_json import HTTPJSONSource, PointerError, build, parse_pointer, resolve_pointer
from tests.conftest import enqueue

TOKEN = "s3cr3t-token-9f8e7d"


# --- a configurable HTTP server -------------------------------------------------------------


@dataclass
class Answer:
    """What the server answers on one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    chunks: Iterable[bytes] | None = None  # streamed without Content-Length, then the connection closes
    chunk_delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    port: int


class JSONServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, body: Any = None, **kwargs: Any) -> str:
        """Serve ``body`` (JSON-encoded unless bytes) at ``path``; return its URL."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = Answer(body=raw, **kwargs)
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: JSONServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.server.seen.append(Seen(self.path, dict(self.headers.items()), self.client_address[1]))
        answer = self.server.answers.get(self.path, Answer(status=404, body=b'{"error": "not found"}'))
        time.sleep(answer.delay)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.chunks is None:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in answer.chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(answer.chunk_delay)
        except OSError:
            pass  # the client gave up: what the test wants


@pytest.fixture
def server() -> Iterator[JSONServer]:
    srv = JSONServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def sources() -> Iterator[Callable[..., HTTPJSONSource]]:
    """Build sources that are closed at the end of the test."""
    built: list[HTTPJSONSource] = []

    def make(url: str, **kwargs: Any) -> HTTPJSONSource:
        kwargs.setdefault("process", "worker")
        src = HTTPJSONSource(url, **kwargs)
        built.append(src)
        return src

    try:
        yield make
    finally:
        for src in built:
            src.close()


# --- hirefire-resource's endpoint -------------------------------------------------------------


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def hirefire_url(redis_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Flask app with hirefire-resource's middleware, reporting the RQ queue ``unique_name``
    as the ``worker`` entry (``job_queue_size``), served by wsgiref on loopback."""
    monkeypatch.setenv("HIREFIRE_TOKEN", TOKEN)
    app = Flask(__name__)
    app.wsgi_app = HireFireMiddleware(app)  # type: ignore[method-assign]
    saved = list(HireFire.configuration.workers)
    HireFire.configuration.workers = []
    HireFire.configuration.dyno("worker", lambda: job_queue_size(unique_name, redis_url=redis_url))
    httpd: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietWSGIHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        HireFire.configuration.workers = saved


def test_hirefire_info_path(
    sources: Callable[..., HTTPJSONSource], hirefire_url: str, redis_url: str, unique_name: str
) -> None:
    """hirefire-resource's /hirefire/<token>/info: the ``worker`` entry's value is the depth."""
    enqueue(redis_url, 3, unique_name)
    now = time.time()
    assert Reading(at=now, depth=3) == sources(f"{hirefire_url}/hirefire/{TOKEN}/info").read(now)


def test_hirefire_token_header(
    sources: Callable[..., HTTPJSONSource], hirefire_url: str, redis_url: str, unique_name: str
) -> None:
    """hirefire-resource's /hirefire with the token in the HireFire-Token header."""
    enqueue(redis_url, 2, unique_name)
    src = sources(f"{hirefire_url}/hirefire", token=TOKEN, token_header="HireFire-Token")
    assert 2 == src.read(time.time()).depth


def test_hirefire_wrong_token(sources: Callable[..., HTTPJSONSource], hirefire_url: str) -> None:
    """With a wrong token hirefire-resource passes the request to the app (404): an error
    that shows neither token."""
    src = sources(f"{hirefire_url}/hirefire", token="wrong-token-123", token_header="HireFire-Token")
    with pytest.raises(SignalError, match="HTTP 404") as caught:
        src.read(time.time())
    assert "wrong-token-123" not in str(caught.value)


def test_hirefire_missing_entry(sources: Callable[..., HTTPJSONSource], hirefire_url: str) -> None:
    """A process type the endpoint does not report is an error, not 0."""
    src = sources(f"{hirefire_url}/hirefire/{TOKEN}/info", process="urgent")
    with pytest.raises(SignalError, match="no entry named 'urgent'") as caught:
        src.read(time.time())
    assert TOKEN not in str(caught.value)


# --- the HireFire format, served by hand ---------------------------------------------------


def test_hirefire_entry_chosen_by_name(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """The entry named after the process type is used, whatever its position and case."""
    url = server.answer("/info", [{"name": "web", "value": 1}, {"name": "Worker", "value": 42}])
    assert 42 == sources(url).read(time.time()).depth


@pytest.mark.parametrize(
    "body",
    [
        {"name": "worker", "value": 3},
        [{"name": "worker"}],
        [{"name": "worker", "value": "many"}],
        [{"name": "worker", "value": -1}],
        [{"name": "worker", "value": 2.5}],
        [{"name": "worker", "value": None}],
        [{"name": "worker", "value": 1}, {"name": "worker", "value": 2}],
    ],
)
def test_hirefire_wrong_shape_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer, body: Any) -> None:
    """Not a list, an entry without value, a value that is not a sane count, or two
    entries with the process's name: SignalError."""
    with pytest.raises(SignalError):
        sources(server.answer("/info", body)).read(time.time())


def test_hirefire_nan_value_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A NaN value (Python's json writes it) is rejected."""
    url = server.answer("/info", b'[{"name": "worker", "value": NaN}]')
    with pytest.raises(SignalError):
        sources(url).read(time.time())


# --- JSON pointers --------------------------------------------------------------------------


def test_pointers(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """POINTER, LATENCY_POINTER and BUSY_POINTER pick depth, latency and busy."""
    url = server.answer("/stats", {"queues": {"default": {"size": 7, "age": 2.5}}, "running": [0, 4]})
    src = sources(url, pointer="/queues/default/size", latency_pointer="/queues/default/age", busy_pointer="/running/1")
    now = time.time()
    assert Reading(at=now, depth=7, latency=2.5, busy=4) == src.read(now)


def test_pointer_escapes(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """``~1`` is ``/`` and ``~0`` is ``~`` in a pointer (RFC 6901)."""
    url = server.answer("/stats", {"jobs/waiting": {"m~n": 5}})
    assert 5 == sources(url, pointer="/jobs~1waiting/m~0n").read(time.time()).depth


def test_latency_pointer_with_hirefire_format(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """Without POINTER the depth comes from the HireFire entry; LATENCY_POINTER still applies."""
    url = server.answer("/info", [{"name": "worker", "value": 4}, {"name": "worker_latency", "value": 12.5}])
    reading = sources(url, latency_pointer="/1/value").read(time.time())
    assert (4, 12.5) == (reading.depth, reading.latency)


@pytest.mark.parametrize("pointer", ["/queues/missing", "/list/2", "/list/01", "/list/-", "/depth/deeper"])
def test_pointer_not_found_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer, pointer: str) -> None:
    """A pointer that does not resolve (missing member, index out of range or malformed,
    descending into a number) is an error, not 0."""
    url = server.answer("/stats", {"queues": {}, "list": [1, 2], "depth": 3})
    with pytest.raises(SignalError):
        sources(url, pointer=pointer).read(time.time())


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [("", []), ("/", [""]), ("/a/b", ["a", "b"]), ("/~01", ["~1"]), ("/a~1b", ["a/b"])],
)
def test_parse_pointer(pointer: str, expected: list[str]) -> None:
    """Reference tokens of RFC 6901 pointers, ~1 decoded before ~0."""
    assert expected == parse_pointer(pointer)


def test_resolve_whole_document() -> None:
    """The empty pointer designates the whole document."""
    assert 3 == resolve_pointer(3, "")


@pytest.mark.parametrize("pointer", ["a/b", "/a~2b", "/a~"])
def test_malformed_pointer_rejected(pointer: str) -> None:
    """No leading slash or a ``~`` not followed by 0 or 1: PointerError, and ConfigError at set-up."""
    with pytest.raises(PointerError):
        parse_pointer(pointer)
    with pytest.raises(ConfigError):
        HTTPJSONSource("http://127.0.0.1/x", process="worker", pointer=pointer)


# --- the request ----------------------------------------------------------------------------


def test_bearer_token_sent(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """TOKEN goes in ``Authorization: Bearer``."""
    url = server.answer("/info", [{"name": "worker", "value": 1}])
    sources(url, token=TOKEN).read(time.time())
    assert f"Bearer {TOKEN}" == server.seen[-1].headers["Authorization"]


def test_token_header_gets_raw_token(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """With TOKEN_HEADER, that header carries the raw token and no Authorization is sent."""
    url = server.answer("/info", [{"name": "worker", "value": 1}])
    sources(url, token=TOKEN, token_header="X-Api-Key").read(time.time())
    seen = server.seen[-1].headers
    assert (TOKEN, None) == (seen["X-Api-Key"], seen.get("Authorization"))


def test_connection_reused(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """Reads reuse one keep-alive connection (same client port on the server side)."""
    src = sources(server.answer("/info", [{"name": "worker", "value": 1}]))
    src.read(time.time())
    src.read(time.time())
    assert server.seen[0].port == server.seen[1].port


# --- failures -------------------------------------------------------------------------------


def test_timeout_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A server slower than the timeout: SignalError, soon after the timeout."""
    url = server.answer("/slow", [{"name": "worker", "value": 1}], delay=2.0)
    started = time.monotonic()
    with pytest.raises(SignalError, match="timed out"):
        sources(url, timeout=0.3).read(time.time())
    assert time.monotonic() - started < 1.5


def test_slow_drip_body_cut_off(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A body trickling in (each piece within the read timeout) is cut off at the total time limit."""
    url = server.answer("/drip", chunks=(b" " for _ in range(100)), chunk_delay=0.1)
    started = time.monotonic()
    with pytest.raises(SignalError, match="longer than"):
        sources(url, timeout=0.5).read(time.time())
    assert time.monotonic() - started < 2.0


def test_oversize_body_declared(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A Content-Length above the limit is refused before the body is read."""
    url = server.answer("/big", b"[" + b"0," * 600 + b"0]")
    with pytest.raises(SignalError, match="too large"):
        sources(url, max_bytes=1000).read(time.time())


def test_oversize_body_streamed(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A body without Content-Length is cut off as soon as it passes the limit."""
    url = server.answer("/endless", chunks=(b"[" + b"0," * 50_000 for _ in range(1000)))
    with pytest.raises(SignalError, match="too large"):
        sources(url, max_bytes=200_000).read(time.time())


def test_default_size_limit_is_one_mib(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """Just over 1 MiB of valid JSON is refused with the default limit."""
    url = server.answer("/big", {"pad": "x" * (1024 * 1024), "depth": 1})
    with pytest.raises(SignalError, match="too large"):
        sources(url, pointer="/depth").read(time.time())


def test_not_json_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """An HTML error page with status 200 is not JSON: SignalError."""
    url = server.answer("/page", b"<html>Application error</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(SignalError, match="not JSON"):
        sources(url).read(time.time())


def test_error_status_raises(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A 503 is an error, not an empty queue."""
    url = server.answer("/down", [{"name": "worker", "value": 0}], status=503)
    with pytest.raises(SignalError, match="HTTP 503"):
        sources(url).read(time.time())


def test_redirect_not_followed(sources: Callable[..., HTTPJSONSource], server: JSONServer) -> None:
    """A redirect is not followed (the token would go along): an error naming the target host."""
    target = server.answer("/target", [{"name": "worker", "value": 1}])
    url = server.answer("/moved", b"", status=302, headers={"Location": target})
    with pytest.raises(SignalError, match=re.escape("redirect to http://127.0.0.1")):
        sources(url, token=TOKEN).read(time.time())
    assert ["/moved"] == [seen.path for seen in server.seen]


def test_redirect_not_followed_by_a_given_client(server: JSONServer) -> None:
    """A client passed in that follows redirects does not follow them for the source either."""
    target = server.answer("/target", [{"name": "worker", "value": 1}])
    url = server.answer("/moved", b"", status=307, headers={"Location": target})
    with (
        httpx.Client(follow_redirects=True) as client,
        pytest.raises(SignalError, match=re.escape("HTTP 307 redirect to http://127.0.0.1")),
    ):
        HTTPJSONSource(url, process="worker", client=client).read(time.time())
    assert ["/moved"] == [seen.path for seen in server.seen]


def test_connection_refused_raises() -> None:
    """Nothing listening: SignalError."""
    with pytest.raises(SignalError, match="GET failed"):
        HTTPJSONSource("http://127.0.0.1:1/info", process="worker", timeout=1.0).read(time.time())


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500},
        {"status": 302, "headers": {"Location": f"http://127.0.0.1:1/hirefire/{TOKEN}/info"}},
        {"delay": 1.0},
        {"body": b"not json " + TOKEN.encode()},
        {"body": b"[]"},
    ],
)
def test_token_never_in_errors(
    sources: Callable[..., HTTPJSONSource], server: JSONServer, answer: dict[str, Any]
) -> None:
    """Whatever goes wrong, neither the token in the path nor the token header value
    appears in the error."""
    path = f"/hirefire/{TOKEN}/info"
    server.answers[path] = Answer(**{"body": b"{}", **answer})
    src = sources(server.base + path, token=TOKEN, timeout=0.3)
    with pytest.raises(SignalError) as caught:
        src.read(time.time())
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(src)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://example.com/x"},
        {"url": "not a url"},
        {"url": "http://example.com/info", "token": TOKEN},
        {"url": "https://example.com/info", "token_header": "X-Key"},
        {"url": "https://example.com/info", "token": TOKEN, "token_header": "Bad Header"},
        {"url": "https://example.com/info", "token": "two\nlines"},
        {"url": "https://example.com/info", "timeout": 0},
    ],
)
def test_invalid_configuration_raises(kwargs: dict[str, Any]) -> None:
    """A non-HTTP URL, a token over plain http to a remote host, a header without token,
    a malformed header or token, a zero timeout: refused, without showing the token."""
    url = kwargs.pop("url")
    with pytest.raises(ConfigError) as caught:
        HTTPJSONSource(url, process="worker", **kwargs)
    assert TOKEN not in str(caught.value)


def test_build_requires_url() -> None:
    """build() refuses an http_json process without URL, naming the variable."""
    process = HTTPJSONSettings(source="http_json", max_dynos=2)
    with pytest.raises(ConfigError, match="AUTOSCALER_PROCESSES__WORKER__URL"):
        build("worker", process, Settings(processes={"worker": process}), Connections())


def test_build_from_process(server: JSONServer) -> None:
    """build() uses the process type name, URL, TOKEN and TOKEN_HEADER."""
    url = server.answer("/info", [{"name": "worker", "value": 6}])
    process = HTTPJSONSettings(
        source="http_json", max_dynos=2, url=url, token=SecretStr(TOKEN), token_header="HireFire-Token"
    )
    built = build("worker", process, Settings(processes={"worker": process}), Connections())
    try:
        assert 6 == built.read(time.time()).depth
        assert TOKEN == server.seen[-1].headers["HireFire-Token"]
    finally:
        built.close()
