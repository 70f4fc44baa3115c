"""Shared fixtures: real services, a fake clock, the Platform API schema, a respx stand-in for the
Platform API and clients of it.

Tests of sources use the real Redis/PostgreSQL/RabbitMQ of the machine. When a
service cannot be reached the test skips, saying what to install; under CI
(``CI=true``) that skip becomes a failure, because CI must test everything.
"""

from __future__ import annotations

import json
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import respx
from hypothesis import settings as hypothesis_settings
from jsonschema import Draft4Validator

from autoscaler import sizes
from autoscaler.fake_heroku import limit_refusal, size_entry
from autoscaler.heroku import PREBOOT_LOCK_MESSAGE, HerokuClient
from autoscaler.signals.redis_conn import connect

# CI explores the same examples on every run, so a red build is reproducible; locally, examples vary.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SCHEMA_PATH = DATA / "platform-api-schema.json"

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


hypothesis_settings.load_profile("ci" if _in_ci() else "dev")


def service_unavailable(what: str, how: str) -> None:
    """Skip locally, fail in CI."""
    message = f"{what} is not reachable: {how}"
    if _in_ci():
        pytest.fail(message + " (CI=true: a skipped service test is a failure)")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on an empty database (``TEST_REDIS_URL``, db 15 by default), flushed before and after."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        service_unavailable(
            "Redis at 127.0.0.1:6379",
            "install and start redis-server (apt-get install redis-server), or run .ci/run",
        )
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A Redis source's own long-lived client, built as the daemon builds it."""
    c = connect(redis_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def platform_schema() -> dict[str, Any]:
    """Heroku's published Platform API schema (tests/data/platform-api-schema.json, see tests/data/README.md)."""
    if not SCHEMA_PATH.exists():
        pytest.fail(f"the Platform API schema is missing at {SCHEMA_PATH}")
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


def noop() -> None:
    """The job tests enqueue with rq; never run."""


def enqueue(redis_url: str, count: int, queue: str = "default") -> None:
    """Put ``count`` jobs on an RQ queue with the real rq library, as an app would."""
    from rq import Queue

    connection = redis.Redis.from_url(redis_url)
    try:
        rq_queue = Queue(queue, connection=connection)
        for _ in range(count):
            rq_queue.enqueue(noop)
    finally:
        connection.close()


class FakeClock:
    """A wall clock and monotonic clock that move only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- the Platform API -------------------------------------------------------------------------

HEROKU_API = "https://api.heroku.com"
HEROKU_TOKEN = "HRKU-0123456789abcdef-s3cret-token"


def batch_update_validator(schema: dict[str, Any]) -> Draft4Validator:
    """Heroku's schema for the Batch Update body (``PATCH /apps/{app}/formation``), resolved offline."""
    return Draft4Validator({"$ref": "#/definitions/formation/links/2/schema", "definitions": schema["definitions"]})


@contextmanager
def platform_api(schema: dict[str, Any], *, assert_all_called: bool) -> Iterator[respx.MockRouter]:
    """A respx router standing in for the Platform API; every formation PATCH body sent through it is
    checked against Heroku's schema when the block ends."""
    validator = batch_update_validator(schema)
    with respx.mock(base_url=HEROKU_API, assert_all_called=assert_all_called) as router:
        yield router
        # Inside the block: leaving it resets router.calls.
        for call in router.calls:
            if call.request.method == "PATCH" and call.request.url.path.endswith("/formation"):
                validator.validate(json.loads(call.request.content))


@pytest.fixture
def api(platform_schema: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Platform API stand-in; routes a test declares need not all be called."""
    with platform_api(platform_schema, assert_all_called=False) as router:
        yield router


class MaxRng(random.Random):
    """Full jitter pinned to its ceiling, recording every range asked for."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


@pytest.fixture
def rng() -> MaxRng:
    return MaxRng()


@pytest.fixture
def make_client(clock: FakeClock, rng: MaxRng) -> Iterator[Callable[..., HerokuClient]]:
    """Build Platform API clients that sleep and read time on the fake clock and jitter with ``rng``
    (options may be overridden); all are closed at teardown."""
    clients: list[HerokuClient] = []

    def make(token: str = HEROKU_TOKEN, **kwargs: Any) -> HerokuClient:
        options: dict[str, Any] = {"sleep": clock.sleep, "monotonic": clock.monotonic, "rng": rng}
        options.update(kwargs)
        client = HerokuClient(token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


PREBOOT_LOCK = {"id": "invalid_params", "message": PREBOOT_LOCK_MESSAGE}
"""Heroku's answer (HTTP 422) to a formation change during a deploy's release phase and preboot."""


class PlatformFake:
    """The rest of the Platform API the daemon reads, for one app behind the respx stand-in: the app
    and its ``generation``, the sizes it may use with their prices (``prices`` by size key replaces
    the catalogue's; None there: the API gives no cost), its running dynos (the formation's, from
    ``formation()``, and ``one_offs``), and the account's rate limit (``remaining``, also sent as
    ``RateLimit-Remaining`` by :class:`FormationFake`). ``requests`` counts every call by path."""

    def __init__(
        self,
        router: respx.MockRouter,
        app: str,
        *,
        generation: str = "cedar",
        formation: Callable[[], dict[str, tuple[int, str]]] | None = None,
    ) -> None:
        self.app = app
        self.generation = generation
        self.prices: dict[str, float | None] = {}
        self.one_offs: list[dict[str, str]] = []
        self.remaining = 4500
        self.formation = formation or dict
        self.requests: list[str] = []
        router.get(f"/apps/{app}").mock(side_effect=self._app)
        router.get(f"/apps/{app}/available-dyno-sizes").mock(side_effect=self._sizes)
        router.get(f"/apps/{app}/dynos").mock(side_effect=self._dynos)
        router.get("/account/rate-limits").mock(side_effect=self._rate_limits)

    def run_one_off(self, name: str, size: str = "Standard-1X", state: str = "up") -> None:
        """A one-off dyno (``run.1234``, ``scheduler.5678``) starts."""
        self.one_offs.append({"name": name, "type": name.split(".")[0], "size": size, "state": state})

    def answer(self, payload: Any, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json=payload, headers={"RateLimit-Remaining": str(self.remaining)})

    def _app(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        generation = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.generation)), "name": self.generation}
        return self.answer({"id": "01234567-89ab-cdef-0123-456789abcdef", "name": self.app, "generation": generation})

    def _sizes(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        available = [
            s
            for s in sizes.sizes_of(sizes.Generation(self.generation))
            if s.tier not in {sizes.Tier.PRIVATE, sizes.Tier.SHIELD}
        ]
        entries = [
            size_entry(s, self.prices.get(s.key), priced=self.prices.get(s.key, 0.0) is not None) for s in available
        ]
        return self.answer(entries)

    def _dynos(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        dynos = [
            {"name": f"{kind}.{n}", "type": kind, "size": size, "state": "up"}
            for kind, (quantity, size) in self.formation().items()
            for n in range(1, quantity + 1)
        ]
        return self.answer(dynos + self.one_offs)

    def _rate_limits(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        return self.answer({"remaining": self.remaining})


class FormationFake:
    """One app's formation (a ``worker`` process, and the process types of ``others``) behind the respx
    stand-in: GET answers it, PATCH records the body and applies it within Heroku's limits (the
    generation's dynos per app, the size's per process type: a 422 otherwise), or answers the preboot
    lock while ``preboot_locked``. Faults queued in ``get_faults``/``patch_faults`` (a response to
    answer, or an exception to raise) are used first, one per request; a faulted PATCH changes nothing.
    ``platform`` (:class:`PlatformFake`) answers the app's other endpoints."""

    def __init__(
        self,
        router: respx.MockRouter,
        app: str,
        quantity: int = 1,
        size: str = "Standard-1X",
        *,
        generation: str = "cedar",
        others: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.quantity = quantity
        self.size = size
        self.others = dict(others or {})
        self.patches: list[dict[str, Any]] = []
        self.get_faults: list[httpx.Response | Exception] = []
        self.patch_faults: list[httpx.Response | Exception] = []
        self.preboot_locked = False
        self.gets = 0
        router.get(f"/apps/{app}/formation").mock(side_effect=self._get)
        router.patch(f"/apps/{app}/formation").mock(side_effect=self._patch)
        self.platform = PlatformFake(router, app, generation=generation, formation=self.types)

    def types(self) -> dict[str, tuple[int, str]]:
        """Every process type: ``{type: (quantity, size)}``."""
        return {"worker": (self.quantity, self.size), **self.others}

    def _answer(self) -> httpx.Response:
        entries = [
            {
                "type": kind,
                "quantity": quantity,
                "size": size,
                "dyno_size": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": size},
            }
            for kind, (quantity, size) in self.types().items()
        ]
        return self.platform.answer(entries)

    @staticmethod
    def _fault(faults: list[httpx.Response | Exception]) -> httpx.Response | None:
        if not faults:
            return None
        fault = faults.pop(0)
        if isinstance(fault, Exception):
            raise fault
        return fault

    def _get(self, request: httpx.Request) -> httpx.Response:
        self.gets += 1
        fault = self._fault(self.get_faults)
        return self._answer() if fault is None else fault

    def _patch(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.patches.append(body)
        fault = self._fault(self.patch_faults)
        if fault is not None:
            return fault
        if self.preboot_locked:
            return self.platform.answer(PREBOOT_LOCK, 422)
        wanted = self.types()
        for update in body["updates"]:
            quantity, size = wanted[update["type"]]
            wanted[update["type"]] = (update.get("quantity", quantity), update.get("dyno_size", {}).get("name", size))
        refusal = limit_refusal(wanted, sizes.Generation(self.platform.generation))
        if refusal is not None:
            return self.platform.answer({"id": "invalid_params", "message": refusal}, 422)
        self.quantity, self.size = wanted.pop("worker")
        self.others = wanted
        return self._answer()
