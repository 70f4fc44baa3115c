"""``tune``'s parts as pure functions: the settings searched, the decision rule, the search on a
scorer given, the config vars of a suggestion, and the SLO kept apart from the daemon's target."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.simulate.ours import Ours
from autoscaler.simulate.runner import Inputs, simulate
from autoscaler.simulate.workloads import build
from autoscaler.tune import space
from autoscaler.tune.decide import Score, Scored, best, qualifies
from autoscaler.tune.search import combinations, search
from autoscaler.tune.variables import Names, config_set, shown

from .helpers import sim_config

CURRENT = Score(slo_minutes=10.0, cost_usd=100.0)
USERS = {"min_dynos", "max_dynos", "size", "max_monthly_cost"}
"""What the user decides and tune never suggests."""


# --- the decision rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slo", "cost", "expected"),
    [
        pytest.param(10.0, 100.0, False, id="the same"),
        pytest.param(11.0, 80.0, False, id="much cheaper, one SLO minute more"),
        pytest.param(10.5, 99.0, False, id="cheaper, half an SLO minute more"),
        pytest.param(5.0, 100.01, False, id="far fewer SLO minutes, a cent dearer"),
        pytest.param(10.0, 99.5, False, id="cheaper by less than 1 %"),
        pytest.param(9.5, 100.0, False, id="half an SLO minute fewer"),
        pytest.param(10.0, 99.0, True, id="1 % cheaper"),
        pytest.param(9.0, 100.0, True, id="one SLO minute fewer"),
        pytest.param(0.0, 50.0, True, id="better on both"),
    ],
)
def test_a_candidate_qualifies_only_no_worse_on_both_and_better_by_the_margin(
    slo: float, cost: float, expected: bool
) -> None:
    assert expected == qualifies(CURRENT, Score(slo, cost))


def test_the_rule_allows_for_means_over_three_seeds() -> None:
    """28/3 against 25/3 SLO minutes is one minute fewer, though not exactly in binary."""
    assert qualifies(Score(28 / 3, 100.0), Score(25 / 3, 100.0))


def test_nothing_qualifies_no_suggestion() -> None:
    tried = [Scored("dearer", Score(2.0, 120.0)), Scored("later", Score(12.0, 70.0)), Scored("same", CURRENT)]
    assert best(CURRENT, tried) is None


def test_the_best_is_the_cheapest_within_a_minute_of_the_fewest_slo_minutes() -> None:
    """Fewest SLO minutes first; within the margin of it, the cheapest; a tie goes to the first tried."""
    tried = [
        Scored("fewest", Score(6.0, 99.0)),
        Scored("near and cheaper", Score(6.5, 90.0)),
        Scored("cheapest but more minutes", Score(9.0, 60.0)),
        Scored("also near, as cheap", Score(6.9, 90.0)),
        Scored("worse on SLO", Score(11.0, 10.0)),
    ]
    found = best(CURRENT, tried)
    assert found is not None
    assert "near and cheaper" == found.candidate


def test_of_nearly_as_cheap_candidates_the_one_changing_fewest_settings_wins() -> None:
    """A saving under 1 % of the current cost is noise: it does not buy two more changed settings."""
    tried: list[Scored[tuple[str, ...]]] = [Scored(("a", "b", "c"), Score(6.0, 90.0)), Scored(("a",), Score(6.0, 90.9))]
    found = best(CURRENT, tried, len)
    assert found is not None
    assert ("a",) == found.candidate
    tried = [Scored(("a", "b", "c"), Score(6.0, 90.0)), Scored(("a",), Score(6.0, 91.1))]
    found = best(CURRENT, tried, len)
    assert found is not None
    assert ("a", "b", "c") == found.candidate


# --- the settings searched ------------------------------------------------------------------------


def test_web_searches_its_target_and_the_engine_never_the_users_bounds() -> None:
    knobs = space.knobs(sim_config())
    keys = [knob.key for knob in knobs]
    assert ["queue_time_ms", *space.ENGINE_KEYS] == keys
    assert not USERS & set(keys)
    current = {knob.key: knob.current for knob in knobs}
    assert {
        "queue_time_ms": 50.0,
        "downscale_delay": 300.0,
        "scale_up_dynos": 4,
        "scale_up_percent": 100.0,
        "scale_down_per_minute": None,
        "boot_time": 60.0,
        "tolerance": 0.1,
    } == current
    sweeps = {knob.key: knob.sweep for knob in knobs}
    assert (35.0, 43.0, 60.0) == sweeps["queue_time_ms"]  # 0.7, 0.85 and 1.2 x 50 ms, halves up
    assert (150.0, 600.0) == sweeps["downscale_delay"]
    assert (2, 8) == sweeps["scale_up_dynos"]
    assert (1, 2) == sweeps["scale_down_per_minute"]
    assert (0.05, 0.2) == sweeps["tolerance"]


@pytest.mark.parametrize(
    ("overrides", "targets"),
    [
        pytest.param({}, ["max_latency"], id="MAX_LATENCY"),
        pytest.param({"jobs_per_dyno": 40.0}, ["max_latency", "jobs_per_dyno"], id="both"),
        pytest.param({"jobs_per_dyno": 40.0, "target_in_engine": False}, ["jobs_per_dyno"], id="JOBS_PER_DYNO alone"),
    ],
)
def test_a_worker_searches_the_targets_it_sets(overrides: dict[str, Any], targets: list[str]) -> None:
    keys = [knob.key for knob in space.knobs(sim_config("worker", **overrides))]
    assert [*targets, *space.ENGINE_KEYS] == keys


def test_a_router_target_stays_above_the_app_times_own_p95() -> None:
    """ln 20 x 120 ms = 359 ms is the app's own p95: no setpoint at or below it is tried."""
    knob = space.knobs(sim_config(signal="router", target_s=0.4))[0]
    assert "response_time_ms" == knob.key
    assert (378.0, 480.0) == knob.sweep  # 0.7 and 0.85 x 400 ms are below 1.05 x 359 ms: 378 ms, once


def test_values_are_rounded_to_each_settings_resolution_within_bounds() -> None:
    knobs = {knob.key: knob for knob in space.knobs(sim_config(engine={"scale_down_per_minute": 3, "tolerance": 0.0}))}
    assert (None, 6, 1) == knobs["scale_down_per_minute"].sweep
    assert (0.05, 0.1) == knobs["tolerance"].sweep
    assert 1 == knobs["scale_up_dynos"].rounded(0.2)
    assert 230.0 == knobs["downscale_delay"].rounded(226.0)
    assert [230.0, 450.0] == knobs["downscale_delay"].between(300.0, [150.0, 600.0, 300.0])
    assert [] == knobs["scale_down_per_minute"].between(None, [1, 2])


def test_a_candidate_moves_the_daemons_target_and_the_slo_stays() -> None:
    config = sim_config(engine={"downscale_delay": 600})
    tried = space.apply(config, {"queue_time_ms": 40.0, "downscale_delay": 120.0, "scale_down_per_minute": None})
    process = tried.process_config()
    assert (40.0, 120.0, None) == (process.queue_time_ms, process.downscale_delay, process.scale_down_per_minute)
    assert (0.04, 0.05) == (tried.target_s, tried.slo_target_s)
    assert 0.05 == space.apply(tried, {"queue_time_ms": 30.0}).slo_target_s


# --- the SLO apart from the target ----------------------------------------------------------------


def test_slo_minutes_are_counted_against_the_slo_and_the_daemon_aims_at_the_target() -> None:
    """Without an SLO of its own the run is simulate's (the target is the SLO); with one, the daemon
    does the same and only the count changes."""
    config = sim_config(max_dynos=10)
    workload = build("flash-crowd", "web", 1, 1.0, config.service_s)

    def run(slo_s: float | None) -> tuple[int, float, list[int]]:
        inputs = Inputs.prepare(workload, config if slo_s is None else sim_config(max_dynos=10, slo_s=slo_s))
        done = simulate(inputs, Ours(config), 2)  # the same start: the demand depends on the SLO
        return done.slo_minutes, done.cost_usd, done.quantity

    plain, same, strict = run(None), run(0.05), run(0.005)
    assert plain == same
    assert (plain[1], plain[2]) == (strict[1], strict[2])
    assert strict[0] > plain[0]


# --- the search, on a scorer given ----------------------------------------------------------------


def _scorer(function: Any) -> tuple[Any, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def scores(candidates: list[dict[str, Any]]) -> list[Score]:
        calls.extend(candidates)
        return [function(candidate) for candidate in candidates]

    return scores, calls


def test_the_search_combines_what_helps_and_stays_within_its_budget() -> None:
    """A shorter DOWNSCALE_DELAY saves money and costs SLO minutes, a lower target the reverse: together
    they beat the current settings on both, which neither does alone."""

    def score(values: dict[str, Any]) -> Score:
        delay, target = values["downscale_delay"], values["queue_time_ms"]
        return Score(10.0 + (300 - delay) / 50 - (50 - target) / 3, 100.0 - (300 - delay) / 10 + (50 - target))

    scores, calls = _scorer(score)
    outcome = search(space.knobs(sim_config()), scores, budget=25)
    assert outcome.evaluations == len(calls) <= 25
    assert len({tuple(sorted(c.items(), key=lambda i: i[0])) for c in calls}) == len(calls)
    refined = calls[1 + outcome.phases["sweep"] + outcome.phases["combine"] :]
    before = space.settings(outcome.knobs, space.current(outcome.knobs))
    moved = [{key for key, value in candidate.items() if value != before[key]} for candidate in refined]
    assert moved  # and only the two settings that did something in the sweep are refined
    assert all(keys <= {"queue_time_ms", "downscale_delay"} for keys in moved), moved
    found = outcome.suggested
    assert found is not None
    changed = space.changed(outcome.knobs, found.candidate)
    assert {"queue_time_ms", "downscale_delay"} == set(changed)
    assert qualifies(outcome.current, found.score)
    assert "combine" in outcome.phases


def test_the_search_suggests_nothing_when_every_change_is_worse() -> None:
    scores, calls = _scorer(lambda values: Score(10.0, 100.0) if values["boot_time"] == 60.0 else Score(12.0, 101.0))
    outcome = search(space.knobs(sim_config()), scores, budget=40)
    assert outcome.suggested is None
    assert outcome.evaluations == len(calls) <= 40


def test_combinations_are_predicted_from_the_sweep() -> None:
    knobs = space.knobs(sim_config())
    base = space.current(knobs)
    cheaper = (base[0], 150.0, *base[2:])
    fewer = (35.0, *base[1:])
    sweep = [Scored(cheaper, Score(11.0, 90.0)), Scored(fewer, Score(7.0, 105.0))]
    assert [(35.0, 150.0, *base[2:])] == combinations(knobs, Score(10.0, 100.0), sweep, 6)


# --- the config vars of a suggestion --------------------------------------------------------------


def test_the_config_set_line_sets_the_variables_as_the_file_spells_them() -> None:
    names = Names(
        {"AUTOSCALER_PROCESSES__Web__SOURCE": "web", "autoscaler_processes__web__downscale_delay": "600"}, "web"
    )
    pairs = names.assignments({"downscale_delay": 150.0, "queue_time_ms": 42.0, "scale_down_per_minute": None})
    assert (
        "heroku config:set autoscaler_processes__web__downscale_delay=150 AUTOSCALER_PROCESSES__Web__QUEUE_TIME_MS=42 "
        "AUTOSCALER_PROCESSES__Web__SCALE_DOWN_PER_MINUTE= -a AUTOSCALER-APP"
    ) == config_set(pairs)


def test_a_process_in_the_json_map_gets_a_new_json_value_shell_quoted() -> None:
    """The map keeps the user's other settings and order; a field set in its own variable stays there."""
    names = Names(
        {
            "AUTOSCALER_PROCESSES": '{"web": {"source": "web", "Downscale_Delay": 600, "max_dynos": 8}}',
            "AUTOSCALER_PROCESSES__WEB__TOLERANCE": "0.1",
        },
        "web",
    )
    line = config_set(names.assignments({"downscale_delay": 150.0, "tolerance": 0.05, "boot_time": 30.0}))
    assert (
        "heroku config:set AUTOSCALER_PROCESSES__WEB__TOLERANCE=0.05 AUTOSCALER_PROCESSES='"
        '{"web": {"source": "web", "Downscale_Delay": 150, "max_dynos": 8, "boot_time": 30}}'
        "' -a AUTOSCALER-APP"
    ) == line


@pytest.mark.parametrize(
    ("value", "text"), [(300.0, "300"), (0.05, "0.05"), (4, "4"), (None, ""), (42.5, "42.5"), (1 / 3, "0.333333")]
)
def test_values_are_written_as_config_vars(value: space.Value, text: str) -> None:
    assert text == shown(value)
