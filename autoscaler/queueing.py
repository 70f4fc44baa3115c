"""Queueing maths for sizing web formations: Erlang B/C, M/M/c waits, random routing.

Pure functions, no I/O, shared by the ``plan`` command and the decision engine.
Notation (the usual queueing-theory letters): ``rate`` λ in requests per second,
``service_s`` the mean service time S in seconds (μ = 1/S), ``servers`` c, offered
load A = λ·S in Erlangs. A queue is stable only when A < c; an unstable queue waits
for ever, so its wait tail is 1 and its wait quantile is infinite.

* Erlang B uses the recurrence ``B_0 = 1, B_n = A·B_{n−1} / (n + A·B_{n−1})``, which
  stays within [0, 1] and needs no factorials, so c in the thousands is safe.
* Erlang C: ``C = c·B_c / (c − A·(1 − B_c))``, the probability that a request waits.
* Wait tail: ``P(W > t) = C·exp(−(cμ − λ)·t)``.
* Heroku routes each request to a random web dyno, so N dynos of k processes are N
  independent M/M/k queues each fed λ/N, not one pooled M/M/(N·k):
  :func:`dynos_for_random_routing` sizes that; :func:`pooled_servers` sizes the ideal
  pooled queue for comparison (and for job queues, which are pooled).

Every function validates its inputs and raises :class:`ValueError` naming the bad one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

DEFAULT_QUANTILE = 0.95
MAX_DYNOS_SEARCHED = 10_000
"""How far :func:`dynos_for_random_routing` looks before answering None."""
MAX_SERVERS_SEARCHED = 100_000
"""How far :func:`pooled_servers` looks before answering None."""


# --- validation -------------------------------------------------------------------


def _check_number(name: str, value: float, *, positive: bool) -> None:
    kind = type(value)
    if (kind is float or kind is int) and (value > 0 if positive else value >= 0) and value != math.inf:
        return  # the common case, checked cheaply (NaN fails both comparisons); the rest names the problem
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not positive and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _check_count(name: str, value: int, *, minimum: int) -> None:
    if type(value) is int and value >= minimum:
        return  # the common case (a bool is not an int here: its type is bool)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def _check_quantile(quantile: float) -> None:
    _check_number("quantile", quantile, positive=True)
    if quantile >= 1:
        raise ValueError(f"quantile must be between 0 and 1 (exclusive), got {quantile!r}")


def _check_queue(servers: int, rate: float, service_s: float) -> None:
    _check_count("servers", servers, minimum=1)
    _check_number("rate", rate, positive=False)
    _check_number("service_s", service_s, positive=True)


def _tail_load(servers: int, rate: float, service_s: float, name: str, time_s: float) -> float | None:
    """The offered load A of a queue whose tail at ``time_s`` (an argument called ``name``) is
    asked for, both checked; None when the queue is unstable (A ≥ c: the tail is 1)."""
    _check_queue(servers, rate, service_s)
    _check_number(name, time_s, positive=False)
    load = rate * service_s
    return load if load < servers else None


# --- Erlang formulas ----------------------------------------------------------------


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of an M/M/c/c loss system with ``load`` Erlangs offered."""
    _check_count("servers", servers, minimum=0)
    _check_number("load", load, positive=False)
    return _erlang_b(servers, load)


def _erlang_b(servers: int, load: float) -> float:
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Probability that a request waits in M/M/c; 1.0 when the queue is unstable (A ≥ c)."""
    _check_count("servers", servers, minimum=1)
    _check_number("load", load, positive=False)
    return _erlang_c(servers, load)


def _erlang_c(servers: int, load: float) -> float:
    """:func:`erlang_c` of values already checked (the functions below check theirs first)."""
    if load >= servers:
        return 1.0
    if load == 0:
        return 0.0
    blocking = _erlang_b(servers, load)
    return servers * blocking / (servers - load * (1.0 - blocking))


# --- M/M/c waiting and response times -----------------------------------------------


def _plain(servers: int, rate: float, service_s: float) -> bool:
    """The common case of a queue's values, checked at once: a whole count of servers, a finite rate
    >= 0 and a finite service time > 0 (any other value goes through the checks that name it)."""
    return (
        type(servers) is int
        and servers >= 1
        and type(rate) is float
        and 0.0 <= rate < math.inf
        and type(service_s) is float
        and 0.0 < service_s < math.inf
    )


def wait_tail(servers: int, rate: float, service_s: float, wait_s: float) -> float:
    """P(queue wait > ``wait_s``) in M/M/c; 1.0 when the queue is unstable."""
    if _plain(servers, rate, service_s) and type(wait_s) is float and 0.0 <= wait_s < math.inf:
        offered = rate * service_s
        load = offered if offered < servers else None
    else:
        load = _tail_load(servers, rate, service_s, "wait_s", wait_s)
    if load is None:
        return 1.0
    drain = servers / service_s - rate
    return _erlang_c(servers, load) * math.exp(-drain * wait_s)


def mean_wait(servers: int, rate: float, service_s: float) -> float:
    """Mean queue wait E[W] = C / (cμ − λ) in seconds; infinite when unstable."""
    _check_queue(servers, rate, service_s)
    load = rate * service_s
    if load >= servers:
        return math.inf
    return _erlang_c(servers, load) / (servers / service_s - rate)


def wait_quantile(servers: int, rate: float, service_s: float, quantile: float = DEFAULT_QUANTILE) -> float:
    """The ``quantile`` of the queue wait in seconds: 0 when C ≤ 1 − q, infinite when unstable."""
    if not (_plain(servers, rate, service_s) and type(quantile) is float and 0.0 < quantile < 1.0):
        _check_queue(servers, rate, service_s)
        _check_quantile(quantile)
    load = rate * service_s
    if load >= servers:
        return math.inf
    waiting = _erlang_c(servers, load)
    if waiting <= 1.0 - quantile:
        return 0.0
    return math.log(waiting / (1.0 - quantile)) / (servers / service_s - rate)


def response_tail(servers: int, rate: float, service_s: float, time_s: float) -> float:
    """P(queue wait + service > ``time_s``) in M/M/c with FCFS and exponential service."""
    load = _tail_load(servers, rate, service_s, "time_s", time_s)
    if load is None:
        return 1.0
    mu = 1.0 / service_s
    drain = servers * mu - rate
    waiting = _erlang_c(servers, load)
    served = math.exp(-mu * time_s)
    if math.isclose(drain, mu, rel_tol=1e-9):
        return (1.0 - waiting) * served + waiting * served * (1.0 + mu * time_s)
    mixed = (drain * served - mu * math.exp(-drain * time_s)) / (drain - mu)
    return (1.0 - waiting) * served + waiting * mixed


def response_quantile(servers: int, rate: float, service_s: float, quantile: float = DEFAULT_QUANTILE) -> float:
    """The ``quantile`` of the response time (wait + service) in seconds, by bisection."""
    _check_queue(servers, rate, service_s)
    _check_quantile(quantile)
    if rate * service_s >= servers:
        return math.inf
    target = 1.0 - quantile
    low, high = 0.0, service_s
    while response_tail(servers, rate, service_s, high) > target:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if response_tail(servers, rate, service_s, middle) > target:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return high


# --- sizing ------------------------------------------------------------------------


def _smallest(meets: Callable[[int], bool], start: int, cap: int) -> int | None:
    """The smallest n in [start, cap] with ``meets(n)``, for a ``meets`` that stays true once true."""
    if start > cap:
        return None
    if meets(start):
        return start
    failing, candidate = start, start
    while True:
        if candidate >= cap:
            return None
        candidate = min(cap, candidate * 2)
        if meets(candidate):
            break
        failing = candidate
    while candidate - failing > 1:
        middle = (failing + candidate) // 2
        if meets(middle):
            candidate = middle
        else:
            failing = middle
    return candidate


def dynos_for_random_routing(
    rate: float,
    service_s: float,
    per_dyno: int,
    target_wait_s: float,
    quantile: float = DEFAULT_QUANTILE,
    max_dynos: int = MAX_DYNOS_SEARCHED,
) -> int | None:
    """The fewest dynos N so that N independent M/M/``per_dyno`` queues, each fed rate/N,
    keep P(queue wait > ``target_wait_s``) ≤ 1 − ``quantile``.

    ``rate`` 0 needs the minimum, one dyno. None when no N up to ``max_dynos`` works.
    The tail falls as N grows (less traffic per dyno), so the search doubles N until
    the target is met and then bisects.
    """
    _check_number("rate", rate, positive=False)
    _check_number("service_s", service_s, positive=True)
    _check_count("per_dyno", per_dyno, minimum=1)
    _check_number("target_wait_s", target_wait_s, positive=False)
    _check_quantile(quantile)
    _check_count("max_dynos", max_dynos, minimum=1)
    if rate == 0:
        return 1
    allowed = 1.0 - quantile

    def meets(dynos: int) -> bool:
        return wait_tail(per_dyno, rate / dynos, service_s, target_wait_s) <= allowed

    # Stability needs λ·S / (N·k) < 1; start just below that bound and let meets() judge.
    start = max(1, math.floor(rate * service_s / per_dyno))
    return _smallest(meets, start, max_dynos)


def pooled_servers(
    rate: float,
    service_s: float,
    target_wait_s: float,
    quantile: float = DEFAULT_QUANTILE,
    max_servers: int = MAX_SERVERS_SEARCHED,
) -> int | None:
    """The fewest servers c of one pooled M/M/c queue with P(wait > ``target_wait_s``) ≤ 1 − ``quantile``.

    This is the ideal Heroku's router does not reach (every process pulls from one
    queue); it is exact for job queues. ``rate`` 0 needs one server. None when no c up
    to ``max_servers`` works. Walks c upwards, carrying the Erlang B recurrence along.
    """
    _check_number("rate", rate, positive=False)
    _check_number("service_s", service_s, positive=True)
    _check_number("target_wait_s", target_wait_s, positive=False)
    _check_quantile(quantile)
    _check_count("max_servers", max_servers, minimum=1)
    if rate == 0:
        return 1
    load = rate * service_s
    allowed = 1.0 - quantile
    blocking = 1.0
    for servers in range(1, max_servers + 1):
        blocking = load * blocking / (servers + load * blocking)
        if load >= servers:
            continue
        waiting = servers * blocking / (servers - load * (1.0 - blocking))
        drain = servers / service_s - rate
        if waiting * math.exp(-drain * target_wait_s) <= allowed:
            return servers
    return None
