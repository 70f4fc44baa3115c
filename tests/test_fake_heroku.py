"""The local stand-in API (autoscaler.fake_heroku) as the real client sees it over HTTP: Fir apps and
sizes, the sizes an app may use with their prices, one-off dynos, the account's rate limit, Heroku's
limits on a PATCH and the preboot lock. Every PATCH body it received is checked against Heroku's schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler import sizes
from autoscaler.errors import RateLimited, UnprocessableEntity
from autoscaler.fake_heroku import FakeHeroku
from autoscaler.heroku import Dyno, FormationUpdate, HerokuClient, PrebootLocked

from .conftest import batch_update_validator

APP = "stand-in-app"
TOKEN = "HRKU-stand-in-token-31415"


def stand_in(generation: str = "cedar", **formation: tuple[int, str]) -> Iterator[tuple[FakeHeroku, HerokuClient]]:
    fake = FakeHeroku(APP, TOKEN, formation or {"worker": (1, "Standard-1X")}, generation=generation)
    client = HerokuClient(TOKEN, base_url=fake.start(), max_attempts=1)
    try:
        yield fake, client
    finally:
        client.close()
        fake.stop()


@pytest.fixture
def cedar(platform_schema: dict[str, Any]) -> Iterator[tuple[FakeHeroku, HerokuClient]]:
    for fake, client in stand_in("cedar", worker=(1, "Standard-1X"), web=(2, "Standard-2X")):
        yield fake, client
        _check_patches(fake, platform_schema)


@pytest.fixture
def fir(platform_schema: dict[str, Any]) -> Iterator[tuple[FakeHeroku, HerokuClient]]:
    for fake, client in stand_in("fir", worker=(1, "dyno-2c-4gb"), web=(2, "dyno-1c-0.5gb")):
        yield fake, client
        _check_patches(fake, platform_schema)


def _check_patches(fake: FakeHeroku, schema: dict[str, Any]) -> None:
    validator = batch_update_validator(schema)
    for body in fake.patches:
        validator.validate(body)


def test_the_app_says_its_generation(
    cedar: tuple[FakeHeroku, HerokuClient], fir: tuple[FakeHeroku, HerokuClient]
) -> None:
    """GET /apps/{app} carries generation {id, name}: cedar or fir."""
    names = [client.app(APP)["generation"]["name"] for _, client in (cedar, fir)]
    assert ["cedar", "fir"] == names


def test_available_sizes_are_the_generations_with_prices(fir: tuple[FakeHeroku, HerokuClient]) -> None:
    """A Fir app may use the Fir sizes, priced per month from the catalogue unless told otherwise
    (a price of its own, or no cost at all)."""
    fake, client = fir
    fake.prices = {"dyno-2c-4gb": 99.0, "dyno-1c-4gb": None}
    available = {s.name: s for s in client.available_dyno_sizes(APP)}
    assert [s.name for s in sizes.FIR_SIZES] == list(available)
    prices = tuple(available[n].monthly_usd for n in ("dyno-2c-4gb", "dyno-1c-4gb", "dyno-1c-0.5gb"))
    chosen = available["dyno-2c-4gb"]
    assert ((99.0, None, 25.0), "fir", 2, 4.0) == (prices, chosen.generation, chosen.compute, chosen.memory_gb)


def test_a_cedar_app_may_use_the_common_runtime_sizes(cedar: tuple[FakeHeroku, HerokuClient]) -> None:
    """Outside a Private Space a Cedar app has Eco to Performance, not Private, Shield or Fir sizes."""
    names = [s.name for s in cedar[1].available_dyno_sizes(APP)]
    assert ("Eco", "Performance-2XL", 9) == (names[0], names[-1], len(names))


def test_dyno_sizes_list_both_generations(cedar: tuple[FakeHeroku, HerokuClient]) -> None:
    """GET /dyno-sizes is the whole catalogue, Cedar and Fir, each with its generation."""
    listed = cedar[1].dyno_sizes()
    assert (len(sizes.ALL_SIZES), {"cedar", "fir"}) == (len(listed), {s.generation for s in listed})


def test_dynos_are_the_formations_and_the_one_offs(cedar: tuple[FakeHeroku, HerokuClient]) -> None:
    """GET /apps/{app}/dynos lists one dyno per formation quantity, then the one-off dynos running."""
    fake, client = cedar
    fake.run_one_off("run.4821", "Performance-M")
    fake.run_one_off("scheduler.77")
    dynos = client.dynos(APP)
    assert [d.name for d in dynos] == ["worker.1", "web.1", "web.2", "run.4821", "scheduler.77"]
    assert Dyno("run.4821", "run", "Performance-M", "up") == dynos[3]


def test_rate_limits_are_free_and_an_empty_bucket_answers_429(cedar: tuple[FakeHeroku, HerokuClient]) -> None:
    """With spend_tokens, each call spends a token (RateLimit-Remaining says how many are left),
    /account/rate-limits spends none, and an empty bucket answers 429."""
    fake, client = cedar
    fake.spend_tokens, fake.rate_remaining = True, 2
    client.formation(APP)
    seen = client.rate_limit_remaining
    free = [client.rate_limits() for _ in range(3)]
    client.formation(APP)
    with pytest.raises(RateLimited):
        client.formation(APP)
    assert (1, [1, 1, 1], 0) == (seen, free, client.rate_limits())


@pytest.mark.parametrize(
    ("generation", "update", "accepted"),
    [
        pytest.param("cedar", FormationUpdate("worker", 98), True, id="cedar: 98 + 2 web = 100"),
        pytest.param("cedar", FormationUpdate("worker", 99), False, id="cedar: 101 in the app"),
        pytest.param("cedar", FormationUpdate("worker", 11, "Performance-M"), False, id="cedar: 11 Performance-M"),
        pytest.param("cedar", FormationUpdate("worker", 1, "dyno-2c-4gb"), False, id="cedar: a Fir size"),
        pytest.param("fir", FormationUpdate("worker", 253), True, id="fir: 253 + 2 web = 255"),
        pytest.param("fir", FormationUpdate("worker", 254), False, id="fir: 256 in the app"),
        pytest.param("fir", FormationUpdate("worker", 1, "Standard-1X"), False, id="fir: a Cedar size"),
    ],
)
def test_a_patch_is_refused_beyond_herokus_limits(
    platform_schema: dict[str, Any], generation: str, update: FormationUpdate, accepted: bool
) -> None:
    """A PATCH is applied within the generation's dynos per app and the size's per process type, and
    refused with a 422 (nothing changed) beyond them or with a size of the other generation."""
    web_size = "dyno-1c-0.5gb" if generation == "fir" else "Standard-2X"
    worker_size = "dyno-2c-4gb" if generation == "fir" else "Standard-1X"
    for fake, client in stand_in(generation, worker=(1, worker_size), web=(2, web_size)):
        try:
            client.update_formation(APP, [update])
            refused = False
        except UnprocessableEntity:
            refused = True
        assert (accepted, fake.quantities()["worker"]) == (not refused, update.quantity if accepted else 1)
        _check_patches(fake, platform_schema)


def test_a_preboot_deploy_refuses_changes_until_it_completes(cedar: tuple[FakeHeroku, HerokuClient]) -> None:
    """During deploy(seconds) a PATCH is answered with the preboot lock; afterwards it is applied."""
    fake, client = cedar
    fake.deploy(0.3)
    with pytest.raises(PrebootLocked):
        client.update_formation(APP, [FormationUpdate("worker", 3)])
    locked = fake.quantities()["worker"]
    time.sleep(0.35)
    client.update_formation(APP, [FormationUpdate("worker", 3)])
    assert (1, 3, 2) == (locked, fake.quantities()["worker"], len(fake.patches))
