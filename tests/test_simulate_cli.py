"""The ``simulate`` command as the CLI calls it: output, determinism, flags, config file, errors, plot."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from autoscaler.errors import ConfigError
from autoscaler.simulate import configure_parser, run

SHORT = ["--hours", "1"]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="autoscaler simulate")
    configure_parser(parser)
    return parser.parse_args(argv)


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    assert 0 == run(_parse(argv), out, {})
    return out.getvalue()


def _json(argv: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_run([*argv, "--json"]))
    return data


def _problems(argv: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        run(_parse(argv), io.StringIO(), {})
    return caught.value.problems


def _policies(data: dict[str, Any]) -> list[str]:
    return [row["policy"] for row in data["policies"]]


# --- output ------------------------------------------------------------------------------------


def test_default_run_is_the_web_day_with_every_web_policy() -> None:
    """Without a workload flag, the diurnal web scenario runs with every web policy and the clairvoyant line."""
    data = _json(SHORT)
    expected = ["ours", "static-peak", "hpa", "heroku-native", "judoscale-like", "clairvoyant"]
    assert (("diurnal", "web"), expected) == ((data["scenario"]["name"], data["scenario"]["kind"]), _policies(data))


def test_report_prints_the_defaults_the_tables_and_the_verdict() -> None:
    """The readable report starts with the assumptions, then the tables, the goal check and the run time."""
    text = _run(SHORT)
    for expected in (
        "process: web, 4 processes per dyno, app time 120 ms, target p95 queue time 50 ms",
        "formation: Standard-2X at $50/month, 1-20 dynos",
        "platform: boot U(20, 60) s",
        "policy          SLO min",
        "elasticity against d_t, per minute:",
        "goal (issue 6), for ours:",
        "simulated 1 h x 6 policies in",
    ):
        assert expected in text


def test_json_has_every_metric_per_policy() -> None:
    """Each policy's JSON row holds the SLO, cost, operations and SPEC RG metrics."""
    row = _json(SHORT)["policies"][0]
    elasticity = {"accuracy_u", "accuracy_o", "timeshare_u", "timeshare_o", "jitter"}
    elasticity |= {"theta_u", "theta_o", "tau_u", "tau_o", "upsilon"}
    assert (
        {
            "policy",
            "slo_minutes",
            "over_target",
            "cost_usd",
            "cost_vs_clairvoyant",
            "scale_actions_per_hour",
            "api_calls",
            "api_failures",
            "dyno_hours",
            "jobs_killed",
            "elasticity",
            "speedup_vs_hpa",
        },
        elasticity,
    ) == (set(row), set(row["elasticity"]))


def test_same_seed_gives_identical_json() -> None:
    """Two runs with the same seed print byte-identical JSON."""
    argv = ["--scenario", "flash-crowd", "--seed", "7", "--json"]
    assert _run(argv) == _run(argv)


def test_another_seed_gives_another_run() -> None:
    """The seed drives the noise, arrivals and boot delays: another seed, other numbers."""
    one = _run(["--scenario", "trickle", "--seed", "1", "--json", *SHORT])
    two = _run(["--scenario", "trickle", "--seed", "2", "--json", *SHORT])
    assert one != two


def test_batch_dump_runs_the_worker_policies() -> None:
    """batch-dump is a worker scenario: KEDA replaces Heroku's web-only autoscaling."""
    data = _json(["--scenario", "batch-dump"])
    expected = ["ours", "static-peak", "hpa", "judoscale-like", "keda", "clairvoyant"]
    assert ("worker", expected) == (data["scenario"]["kind"], _policies(data))


def test_policy_flag_picks_policies_and_keeps_the_reference() -> None:
    """--policy runs the named policies, in order, plus the clairvoyant line."""
    data = _json(["--policy", "hpa,ours", *SHORT])
    assert ["hpa", "ours", "clairvoyant"] == _policies(data)


def test_verdict_is_absent_without_ours() -> None:
    """The goal check needs ours among the policies."""
    assert None is _json(["--policy", "hpa", *SHORT])["verdict"]


def test_trace_file_replays_a_workload(tmp_path: Path) -> None:
    """--trace with --kind worker replays the CSV: its length and its jobs."""
    trace = tmp_path / "jobs.csv"
    trace.write_text("t,arrivals_per_s,service_ms\n0,1,1000\n600,4,1000\n1200,1,1000\n")
    data = _json(["--trace", str(trace), "--kind", "worker"])
    assert (("worker", 1800), f"trace:{trace}") == (
        (data["scenario"]["kind"], data["scenario"]["duration_s"]),
        data["scenario"]["name"],
    )


def test_config_file_sets_process_and_engine_fields(tmp_path: Path) -> None:
    """--config sets process values and engine fields; they are printed in the report."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"max_dynos": 8, "service_ms": 80, "downscale_delay": 120}))
    text = _run(["--config", str(config), *SHORT])
    expected = ["app time 80 ms", "1-8 dynos", 'engine settings: {"downscale_delay": 120}']
    assert expected == [line for line in expected if line in text]


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    """A flag given with --config overrides the file's value."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"max_dynos": 8}))
    assert "1-12 dynos" in _run(["--config", str(config), "--max-dynos", "12", *SHORT])


def test_performance_sizes_are_held_to_ten_dynos() -> None:
    """Heroku allows 10 Performance dynos per process type: MAX_DYNOS is lowered to it."""
    assert "Performance-M at $250/month, 1-10 dynos" in _run(["--size", "performance-m", *SHORT])


def test_api_failures_are_counted() -> None:
    """--api-failures makes some Platform API calls fail, reported per policy."""
    data = _json(["--api-failures", "0.2", *SHORT])
    ours = data["policies"][0]
    assert ("ours", True) == (ours["policy"], ours["api_failures"] > 0)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """--plot writes a PNG image of load, dynos, demand and queue time."""
    image = tmp_path / "sim.png"
    _run(["--plot", str(image), *SHORT])
    assert b"\x89PNG" == image.read_bytes()[:4]


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without matplotlib, --plot is a usage error that names the package, before anything runs."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert ["--plot: needs matplotlib: pip install matplotlib"] == _problems(["--plot", str(tmp_path / "x.png")])


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["--scenario", "monday"],
            "--scenario: unknown scenario 'monday'; known: diurnal, step-burst, slow-ramp, flash-crowd, "
            "batch-dump, trickle",
            id="unknown scenario",
        ),
        pytest.param(
            ["--scenario", "diurnal", "--trace", "x.csv"],
            "--scenario: give either --scenario or --trace, not both",
            id="scenario and trace",
        ),
        pytest.param(
            ["--scenario", "batch-dump", "--kind", "web"],
            "--kind: scenario batch-dump has no web variant (it is worker only)",
            id="web batch dump",
        ),
        pytest.param(["--kind", "cron"], "--kind: must be web or worker, got 'cron'", id="unknown kind"),
        pytest.param(["--policy", "keda"], "--policy: keda models worker processes only", id="keda on web"),
        pytest.param(
            ["--policy", "hirefire"],
            "--policy: unknown policy 'hirefire'; known: ours, static-peak, hpa, heroku-native, judoscale-like, "
            "keda, clairvoyant",
            id="unknown policy",
        ),
        pytest.param(["--seed", "-1"], "--seed: must be a whole number >= 0, got '-1'", id="negative seed"),
        pytest.param(["--hours", "0"], "--hours: must be a number > 0 and <= 168, got '0'", id="no hours"),
        pytest.param(
            ["--api-failures", "1.5"], "--api-failures: must be a number >= 0 and <= 0.99, got '1.5'", id="failures"
        ),
        pytest.param(["--service-ms", "0"], "--service-ms: must be a number > 0, got '0'", id="service time 0"),
        pytest.param(
            ["--max-latency", "30"], "--max-latency: applies to worker processes; this run is web", id="wrong kind"
        ),
        pytest.param(
            ["--min-dynos", "5", "--max-dynos", "3"],
            "--max-dynos: must be >= --min-dynos (5) and >= 1, got 3",
            id="max below min",
        ),
        pytest.param(["--size", "huge"], "--size: unknown dyno size 'huge'", id="unknown size"),
        pytest.param(["--trace", "/nonexistent/t.csv"], "--trace: cannot read /nonexistent/t.csv", id="no trace"),
    ],
)
def test_bad_input_is_a_usage_error(argv: list[str], expected: str) -> None:
    """Every bad flag raises ConfigError (exit 2) with a line naming it."""
    problems = _problems(argv)
    assert [True] == [any(problem.startswith(expected) for problem in problems)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("[1, 2]", "must hold one JSON object", id="not an object"),
        pytest.param('{"max_dynoz": 3}', "--config: unknown key 'max_dynoz'", id="unknown key"),
        pytest.param('{"max_latency": 30}', "--config: max_latency applies to worker processes", id="wrong kind"),
        pytest.param('{"downscale_delay": -1}', "--config: downscale_delay:", id="engine field checked"),
        pytest.param('{"killed_jobs": "maybe"}', "--config: killed_jobs must be requeue or lost", id="killed jobs"),
        pytest.param("{", "is not valid JSON", id="bad JSON"),
    ],
)
def test_bad_config_file_is_a_usage_error(tmp_path: Path, content: str, expected: str) -> None:
    """A --config file is checked key by key, with the engine's own validation for engine fields."""
    path = tmp_path / "sim.json"
    path.write_text(content)
    problems = _problems(["--config", str(path)])
    assert [True] == [any(expected in problem for problem in problems)]
