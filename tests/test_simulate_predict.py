"""``ours-predict`` in ``simulate`` and the built-in week of weekday morning rushes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.simulate import policies, workloads
from autoscaler.simulate.options import policy_names, sim_config
from autoscaler.simulate.settings import START_EPOCH, SimConfig

from .helpers import parse_simulate, simulate_json, simulate_problems

HOUR = 3600


def test_the_week_starts_on_a_monday() -> None:
    assert int(START_EPOCH // 86400 + 3) % 7 == 0  # 1970-01-01 was a Thursday


def test_weekday_rush_ramps_on_weekday_mornings_only() -> None:
    week = workloads.build("weekday-rush", "web", 1, None, 0.12)
    assert week.duration == 7 * 24 * HOUR

    def mean(day: int, start_h: float, end_h: float) -> float:
        first, last = int((day * 24 + start_h) * HOUR), int((day * 24 + end_h) * HOUR)
        return sum(week.rate[first:last]) / (last - first)

    for day in range(5):
        assert mean(day, 8.5, 8.95) == pytest.approx(15, rel=0.1)
        assert mean(day, 9.05, 9.5) == pytest.approx(150, rel=0.1)  # ×10 within two minutes
        assert mean(day, 20, 23) == pytest.approx(15, rel=0.1)
    for day in (5, 6):
        assert mean(day, 8.5, 9.5) == pytest.approx(15, rel=0.1)
        assert mean(day, 13.5, 14.5) == pytest.approx(30, rel=0.1)


def test_ours_predict_runs_by_default_on_runs_of_two_days_or_more() -> None:
    config = simulate_config()
    assert policies.defaults(config, 2 * 86400 - 1) == list(policies.POLICIES["web"])
    long = policies.defaults(config, 2 * 86400)
    assert long[:2] == ["ours", "ours-predict"]
    assert long[2:] == list(policies.POLICIES["web"])[1:]


def test_ours_predict_is_not_run_twice_when_ours_already_predicts() -> None:
    config = replace(simulate_config(), engine={"predict": True})
    assert "ours-predict" not in policies.defaults(config, 7 * 86400)


def test_ours_predict_may_be_asked_for_on_either_kind() -> None:
    assert policy_names("ours,ours-predict", "worker") == ["ours", "ours-predict"]
    assert policy_names("ours-predict", "web") == ["ours-predict"]


def test_a_short_run_of_ours_predict_is_ours_and_has_its_own_verdict() -> None:
    """Without a day of recorded demand the forecast is still learning: ours-predict does what ours
    does; the report checks its goal against the baselines (never against ours)."""
    found = simulate_json(
        ["--scenario", "weekday-rush", "--kind", "web", "--hours", "0.5", "--policy", "ours,ours-predict,hpa"]
    )
    rows = {row["policy"]: row for row in found["policies"]}
    assert rows["ours-predict"]["slo_minutes"] == rows["ours"]["slo_minutes"]
    assert rows["ours-predict"]["cost_usd"] == rows["ours"]["cost_usd"]
    assert "ours-predict" not in found["verdict"]["dominated_by"]
    assert found["verdict_predict"]["dominated_by"] in ([], ["hpa"])
    assert set(found["verdict_predict"]) == set(found["verdict"])


def test_an_unknown_policy_still_names_ours_predict_among_the_known() -> None:
    (problem,) = simulate_problems(["--policy", "ours-predicts"])
    assert "ours-predict" in problem


def simulate_config() -> SimConfig:
    return sim_config(parse_simulate(["--kind", "web"]), "web", None)
