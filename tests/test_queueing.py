"""Known answers for autoscaler.queueing: Erlang B/C, M/M/c waits, random-routing sizing.

The worked example: a web app serving λ = 150 req/s with S = 120 ms of app time per request,
k = 4 processes per dyno, and the SLO P(queue wait > 50 ms) ≤ 5 %. Its expected figures are
reference values for that load, given to the precision the assertions use.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler import queueing

RATE = 150.0
SERVICE_S = 0.120
TARGET_S = 0.050


# --- Erlang B and C -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        pytest.param(0, 3.0, 1.0, id="no servers block everything"),
        pytest.param(1, 1.0, 0.5, id="B(1,1) = 1/2"),
        pytest.param(2, 1.0, 0.2, id="B(2,1) = (1/2)/(2 + 1/2)"),
        pytest.param(3, 0.0, 0.0, id="no load never blocks"),
        pytest.param(2, 2.0, 0.4, id="B(2,2) = 2·(2/3)/(2 + 4/3)"),
    ],
)
def test_erlang_b_known_answers(servers: int, load: float, expected: float) -> None:
    """Erlang B matches values worked out by hand from the recurrence."""
    assert queueing.erlang_b(servers, load) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        pytest.param(1, 0.5, 0.5, id="M/M/1 waits with probability rho"),
        pytest.param(2, 1.0, 1 / 3, id="C(2,1) = 2·0.2/(2 − 0.8)"),
        pytest.param(4, 0.0, 0.0, id="no load never waits"),
        pytest.param(4, 4.0, 1.0, id="load equal to servers is unstable"),
        pytest.param(4, 9.0, 1.0, id="overload is unstable"),
    ],
)
def test_erlang_c_known_answers(servers: int, load: float, expected: float) -> None:
    """Erlang C matches hand-computed values and is 1 for an unstable queue."""
    assert queueing.erlang_c(servers, load) == pytest.approx(expected)


def test_erlang_c_is_finite_for_thousands_of_servers() -> None:
    """The recurrence needs no factorials: c = 5000 at 97.5 % load gives a probability."""
    value = queueing.erlang_c(5000, 4875.0)
    assert 0.0 < value < 1.0


def test_erlang_c_grows_with_load_for_large_queues() -> None:
    """At c = 2000, more load means a larger chance of waiting (no numeric breakdown)."""
    values = [queueing.erlang_c(2000, load) for load in (1900.0, 1950.0, 1990.0)]
    assert values == sorted(values)


# --- waits and responses ---------------------------------------------------------------


def test_wait_tail_of_mm1_by_hand() -> None:
    """M/M/1, λ = 0.5, S = 1 s: P(W > 2 s) = 0.5·e^(−(1 − 0.5)·2) = 0.5/e."""
    assert queueing.wait_tail(1, 0.5, 1.0, 2.0) == pytest.approx(0.5 / math.e)


def test_wait_tail_of_unstable_queue_is_one() -> None:
    """An overloaded queue waits past any bound."""
    assert queueing.wait_tail(2, 3.0, 1.0, 100.0) == 1.0


def test_mean_wait_of_mm1_by_hand() -> None:
    """M/M/1, λ = 0.5, S = 1 s: E[W] = C/(μ − λ) = 0.5/0.5 = 1 s."""
    assert queueing.mean_wait(1, 0.5, 1.0) == pytest.approx(1.0)


def test_mean_wait_of_unstable_queue_is_infinite() -> None:
    """An overloaded queue has no finite mean wait."""
    assert queueing.mean_wait(1, 2.0, 1.0) == math.inf


def test_wait_quantile_is_zero_when_few_requests_wait() -> None:
    """With C ≤ 1 − q the q-quantile of the wait is 0 (M/M/1 at ρ = 0.04, q = 0.95)."""
    assert queueing.wait_quantile(1, 0.04, 1.0, 0.95) == 0.0


def test_wait_quantile_of_mm1_by_hand() -> None:
    """M/M/1, λ = 0.5, S = 1 s, q = 0.95: w = ln(0.5/0.05)/0.5 = 2·ln 10."""
    assert queueing.wait_quantile(1, 0.5, 1.0, 0.95) == pytest.approx(2 * math.log(10))


def test_wait_quantile_of_unstable_queue_is_infinite() -> None:
    """An overloaded queue has no finite wait quantile."""
    assert queueing.wait_quantile(3, 4.0, 1.0) == math.inf


def test_response_tail_of_mm1_is_exponential() -> None:
    """M/M/1 response time is exponential with rate μ − λ: P(T > 3) = e^(−1.5) at λ = 0.5, μ = 1."""
    assert queueing.response_tail(1, 0.5, 1.0, 3.0) == pytest.approx(math.exp(-1.5))


def test_response_tail_when_drain_equals_service_rate() -> None:
    """c = 2, λ = 1, μ = 1 makes θ = μ: P(T > 1) = (2/3)/e + (1/3)·(2/e) = (4/3)/e."""
    assert queueing.response_tail(2, 1.0, 1.0, 1.0) == pytest.approx(4 / (3 * math.e))


def test_response_quantile_of_mm1_by_hand() -> None:
    """M/M/1 at λ = 0.5, μ = 1: the p95 response time is ln(20)/0.5."""
    assert queueing.response_quantile(1, 0.5, 1.0, 0.95) == pytest.approx(2 * math.log(20), rel=1e-9)


# --- the worked example: 150 req/s, 120 ms, k = 4, P(wait > 50 ms) ≤ 5 % -------------------


@pytest.mark.parametrize(
    ("dynos", "erlang_c", "tail", "p95_wait_ms"),
    [
        pytest.param(10, 0.1285, 0.0514, 51.5, id="N=10 fails the SLO"),
        pytest.param(11, 0.0970, 0.0362, 33.7, id="N=11 meets the SLO"),
    ],
)
def test_worked_example_random_routing_figures(dynos: int, erlang_c: float, tail: float, p95_wait_ms: float) -> None:
    """Each of N dynos is an M/M/4 fed 150/N req/s: C, P(W>50 ms) and p95 wait.

    Rounded to whole ms the p95 waits are 51 and 34; the model's values are 51.5 and 33.7.
    """
    per_dyno = RATE / dynos
    assert queueing.erlang_c(4, per_dyno * SERVICE_S) == pytest.approx(erlang_c, abs=5e-4)
    assert queueing.wait_tail(4, per_dyno, SERVICE_S, TARGET_S) == pytest.approx(tail, abs=5e-5)
    assert queueing.wait_quantile(4, per_dyno, SERVICE_S) * 1000 == pytest.approx(p95_wait_ms, abs=0.05)


@pytest.mark.parametrize(
    ("servers", "erlang_c", "tail", "p95_wait_ms"),
    [
        pytest.param(22, 0.278, 0.0525, 51.5, id="c=22 fails the SLO"),
        pytest.param(23, 0.191, 0.0237, 32.1, id="c=23 meets the SLO"),
    ],
)
def test_worked_example_pooled_figures(servers: int, erlang_c: float, tail: float, p95_wait_ms: float) -> None:
    """One pooled M/M/c at A = 18 Erlangs: C, P(W > 50 ms) and p95 wait (32 ms at c = 23)."""
    assert queueing.erlang_c(servers, RATE * SERVICE_S) == pytest.approx(erlang_c, abs=5e-4)
    assert queueing.wait_tail(servers, RATE, SERVICE_S, TARGET_S) == pytest.approx(tail, abs=5e-5)
    assert queueing.wait_quantile(servers, RATE, SERVICE_S) * 1000 == pytest.approx(p95_wait_ms, abs=0.05)


def test_worked_example_random_routing_needs_11_dynos() -> None:
    """λ = 150, S = 120 ms, k = 4, P(W > 50 ms) ≤ 5 % needs 11 dynos under random routing."""
    assert queueing.dynos_for_random_routing(RATE, SERVICE_S, 4, TARGET_S, 0.95) == 11


def test_worked_example_pooled_needs_23_servers() -> None:
    """The pooled ideal needs 23 processes, which is 6 dynos of 4."""
    servers = queueing.pooled_servers(RATE, SERVICE_S, TARGET_S, 0.95)
    assert servers == 23
    assert math.ceil(servers / 4) == 6


@pytest.mark.parametrize(
    ("per_dyno", "dynos", "pooled_dynos"),
    [
        pytest.param(1, 245, 23, id="k=1"),
        pytest.param(2, 38, 12, id="k=2"),
        pytest.param(4, 11, 6, id="k=4"),
        pytest.param(8, 4, 3, id="k=8"),
        pytest.param(16, 2, 2, id="k=16"),
        pytest.param(32, 1, 1, id="k=32"),
    ],
)
def test_worked_example_processes_per_dyno_table(per_dyno: int, dynos: int, pooled_dynos: int) -> None:
    """For k processes per dyno: the dynos needed under random routing, and ceil(23/k) if pooled."""
    assert queueing.dynos_for_random_routing(RATE, SERVICE_S, per_dyno, TARGET_S) == dynos
    pooled = queueing.pooled_servers(RATE, SERVICE_S, TARGET_S)
    assert pooled is not None
    assert math.ceil(pooled / per_dyno) == pooled_dynos


@pytest.mark.parametrize(
    ("servers", "rate", "p95_response_ms"),
    [
        pytest.param(23, RATE, 365.0, id="pooled c=23"),
        pytest.param(4, RATE / 11, 368.0, id="random routing N=11"),
    ],
)
def test_worked_example_p95_response(servers: int, rate: float, p95_response_ms: float) -> None:
    """The p95 response time (wait + service): 365 ms pooled, 368 ms under random routing."""
    assert queueing.response_quantile(servers, rate, SERVICE_S) * 1000 == pytest.approx(p95_response_ms, abs=0.5)


# --- sizing edge cases --------------------------------------------------------------------


def test_no_traffic_needs_one_dyno() -> None:
    """Rate 0 needs the minimum: one dyno."""
    assert queueing.dynos_for_random_routing(0.0, SERVICE_S, 4, TARGET_S) == 1


def test_no_traffic_needs_one_pooled_server() -> None:
    """Rate 0 needs the minimum: one server."""
    assert queueing.pooled_servers(0.0, SERVICE_S, TARGET_S) == 1


def test_random_routing_answers_none_past_the_cap() -> None:
    """When even max_dynos dynos miss the target, the answer is None."""
    assert queueing.dynos_for_random_routing(RATE, SERVICE_S, 4, TARGET_S, max_dynos=10) is None


def test_random_routing_answer_at_the_cap() -> None:
    """A cap equal to the answer still finds it."""
    assert queueing.dynos_for_random_routing(RATE, SERVICE_S, 4, TARGET_S, max_dynos=11) == 11


def test_pooled_answers_none_past_the_cap() -> None:
    """When even max_servers servers miss the target, the answer is None."""
    assert queueing.pooled_servers(RATE, SERVICE_S, TARGET_S, max_servers=22) is None


def test_random_routing_scales_to_large_dynos() -> None:
    """100,000 req/s on dynos of 1,000 processes is answered (no overflow, few evaluations)."""
    dynos = queueing.dynos_for_random_routing(100_000.0, 0.1, 1000, 0.01)
    assert dynos is not None
    assert dynos * 1000 > 100_000 * 0.1


@given(
    rate=st.floats(min_value=0.1, max_value=500.0),
    service_s=st.floats(min_value=0.005, max_value=2.0),
    per_dyno=st.integers(min_value=1, max_value=24),
    target_s=st.floats(min_value=0.0, max_value=1.0),
)
def test_random_routing_answer_is_the_smallest(rate: float, service_s: float, per_dyno: int, target_s: float) -> None:
    """The answer N meets the target and N − 1 does not (with a cap high enough for every input drawn:
    the worst, 500 req/s × 2 s on one process per dyno with a zero wait target, needs 20,000 dynos)."""
    dynos = queueing.dynos_for_random_routing(rate, service_s, per_dyno, target_s, max_dynos=100_000)
    assert dynos is not None
    assert queueing.wait_tail(per_dyno, rate / dynos, service_s, target_s) <= 0.05
    if dynos > 1:
        assert queueing.wait_tail(per_dyno, rate / (dynos - 1), service_s, target_s) > 0.05


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: queueing.erlang_b(-1, 1.0), "servers", id="negative servers"),
        pytest.param(lambda: queueing.erlang_c(0, 1.0), "servers", id="no servers in Erlang C"),
        pytest.param(lambda: queueing.erlang_c(2, -1.0), "load", id="negative load"),
        pytest.param(lambda: queueing.wait_tail(2, math.nan, 1.0, 0.0), "rate", id="NaN rate"),
        pytest.param(lambda: queueing.wait_tail(2, 1.0, 0.0, 0.0), "service_s", id="zero service time"),
        pytest.param(lambda: queueing.wait_tail(2, 1.0, 1.0, -1.0), "wait_s", id="negative wait"),
        pytest.param(lambda: queueing.wait_quantile(2, 1.0, 1.0, 1.0), "quantile", id="quantile 1"),
        pytest.param(lambda: queueing.dynos_for_random_routing(-1.0, 0.1, 4, 0.05), "rate", id="negative rate"),
        pytest.param(lambda: queueing.dynos_for_random_routing(1.0, 0.1, 0, 0.05), "per_dyno", id="no processes"),
        pytest.param(lambda: queueing.dynos_for_random_routing(1.0, 0.1, 4, math.inf), "target", id="infinite target"),
        pytest.param(
            lambda: queueing.dynos_for_random_routing(1.0, 0.1, 4, 0.05, quantile=0.0),
            "quantile",
            id="quantile 0",
        ),
        pytest.param(lambda: queueing.pooled_servers(1.0, -0.1, 0.05), "service_s", id="negative service"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_input(call: object, name: str) -> None:
    """Invalid inputs raise ValueError and the message names the offending parameter."""
    assert callable(call)
    with pytest.raises(ValueError, match=name):
        call()
