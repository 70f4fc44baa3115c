"""The ``simulate`` command as the CLI calls it: output, determinism, flags, config file, errors, plot."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from matplotlib import pyplot
from matplotlib.figure import Figure

from autoscaler.__main__ import main
from autoscaler.config import Settings
from autoscaler.simulate import cli, configure_parser, envfile, options, plot, report
from autoscaler.simulate.report import Summary
from autoscaler.simulate.runner import Inputs, compare

from .helpers import parse_simulate, simulate_json, simulate_problems, simulate_text

SHORT = ["--hours", "1"]


def _policies(data: dict[str, Any]) -> list[str]:
    return [row["policy"] for row in data["policies"]]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``autoscaler simulate ARGV`` through the command line's entry: the exit status and the problems on stderr
    (the lines under its one-line heading)."""
    status = main(["simulate", *argv], env={})
    heading, *problems = capsys.readouterr().err.splitlines() or [""]
    assert heading.startswith("autoscaler: invalid configuration")
    return status, problems


# --- output ------------------------------------------------------------------------------------


def test_default_run_is_the_web_day_with_every_web_policy() -> None:
    """Without a workload flag, the diurnal web scenario runs with every web policy and the clairvoyant line."""
    data = simulate_json(SHORT)
    expected = ["ours", "static-peak", "hpa", "heroku-native", "judoscale-like", "clairvoyant"]
    assert (("diurnal", "web"), expected) == ((data["scenario"]["name"], data["scenario"]["kind"]), _policies(data))


def test_report_prints_the_defaults_the_tables_and_the_verdict() -> None:
    """The readable report starts with the assumptions, then the tables, the goal check and the run time."""
    text = simulate_text(SHORT)
    for expected in (
        "process: web, 4 processes per dyno, app time 120 ms, target p95 queue time 50 ms",
        "formation: Standard-2X at $50/month, 1-20 dynos",
        "platform: boot U(20, 60) s",
        "policy          SLO min",
        "elasticity against d_t, per minute:",
        "goal for ours: as few SLO minutes as the best baseline, for less, near the clairvoyant cost:",
        "simulated 1 h x 6 policies in",
    ):
        assert expected in text


def test_ours_ticks_at_the_daemons_interval_unless_told() -> None:
    """The default tick is the daemon's AUTOSCALER_INTERVAL default, said in the header and in --help;
    --interval overrides it."""
    default = round(Settings.model_fields["interval"].default)
    parser = argparse.ArgumentParser(prog="autoscaler simulate")
    configure_parser(parser)
    assert (True, True, True) == (
        f"ours ticks every {default} s (formation read every 60 s and before a PATCH)" in simulate_text(SHORT),
        "ours ticks every 30 s" in simulate_text(["--interval", "30", *SHORT]),
        f"(default {default}, the daemon's AUTOSCALER_INTERVAL)" in " ".join(parser.format_help().split()),
    )


def test_json_has_every_metric_per_policy() -> None:
    """Each policy's JSON row holds the SLO, cost, operations and SPEC RG metrics."""
    row = simulate_json(SHORT)["policies"][0]
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
            "peak_dynos",
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
    assert simulate_text(argv) == simulate_text(argv)


def test_another_seed_gives_another_run() -> None:
    """The seed drives the noise, arrivals and boot delays: another seed, other numbers."""
    one = simulate_text(["--scenario", "trickle", "--seed", "1", "--json", *SHORT])
    two = simulate_text(["--scenario", "trickle", "--seed", "2", "--json", *SHORT])
    assert one != two


def test_batch_dump_runs_the_worker_policies() -> None:
    """batch-dump is a worker scenario: KEDA replaces Heroku's web-only autoscaling."""
    data = simulate_json(["--scenario", "batch-dump"])
    expected = ["ours", "static-peak", "hpa", "judoscale-like", "keda", "clairvoyant"]
    assert ("worker", expected) == (data["scenario"]["kind"], _policies(data))


def test_policy_flag_picks_policies_and_keeps_the_reference() -> None:
    """--policy runs the named policies, in order, plus the clairvoyant line."""
    data = simulate_json(["--policy", "hpa,ours", *SHORT])
    assert ["hpa", "ours", "clairvoyant"] == _policies(data)


def test_verdict_is_absent_without_ours() -> None:
    """The goal check needs ours among the policies."""
    assert None is simulate_json(["--policy", "hpa", *SHORT])["verdict"]


def test_trace_file_replays_a_workload(tmp_path: Path) -> None:
    """--trace with --kind worker replays the CSV: its length and its jobs."""
    trace = tmp_path / "jobs.csv"
    trace.write_text("t,arrivals_per_s,service_ms\n0,1,1000\n600,4,1000\n1200,1,1000\n")
    data = simulate_json(["--trace", str(trace), "--kind", "worker"])
    assert (("worker", 1800), f"trace:{trace}") == (
        (data["scenario"]["kind"], data["scenario"]["duration_s"]),
        data["scenario"]["name"],
    )


def test_config_file_sets_process_and_engine_fields(tmp_path: Path) -> None:
    """--config sets process values and engine fields; they are printed in the report."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"max_dynos": 8, "service_ms": 80, "downscale_delay": 120}))
    text = simulate_text(["--config", str(config), *SHORT])
    expected = ["app time 80 ms", "1-8 dynos", 'engine settings: {"downscale_delay": 120}']
    assert expected == [line for line in expected if line in text]


def test_config_window_is_the_web_sources_window(tmp_path: Path) -> None:
    """--config's window is the web source's WINDOW: the readings cover that many seconds of slots."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"window": 30}))
    assert "the complete 5 s slots of the last 30 s" in simulate_text(["--config", str(config), *SHORT])


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    """A flag given with --config overrides the file's value."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"max_dynos": 8}))
    assert "1-12 dynos" in simulate_text(["--config", str(config), "--max-dynos", "12", *SHORT])


def test_performance_sizes_are_held_to_ten_dynos() -> None:
    """Heroku allows 10 Performance dynos per process type: MAX_DYNOS is lowered to it."""
    assert "Performance-M at $250/month, 1-10 dynos" in simulate_text(["--size", "performance-m", *SHORT])


def test_api_failures_are_counted() -> None:
    """--api-failures makes some Platform API calls fail, reported per policy."""
    data = simulate_json(["--api-failures", "0.2", *SHORT])
    ours = data["policies"][0]
    assert ("ours", True) == (ours["policy"], ours["api_failures"] > 0)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """--plot writes a PNG image of load, dynos, demand and queue time."""
    image = tmp_path / "sim.png"
    simulate_text(["--plot", str(image), *SHORT])
    assert b"\x89PNG" == image.read_bytes()[:4]


def _picture(argv: list[str]) -> tuple[Figure, list[Summary]]:
    """The figure --plot would save for ``argv``, and the summaries of the run."""
    args = parse_simulate(argv)
    kind, name = options.kind_and_scenario(args)
    config = options.sim_config(args, kind)
    inputs = Inputs.prepare(options.workload(args, kind, name, config), config)
    runs = compare(inputs, options.policy_names(args.policy, kind))
    summaries = report.summarise(inputs, runs)
    matplotlib.use("Agg")
    return plot._figure(pyplot, inputs, runs, summaries), summaries


def _labels(figure: Figure) -> list[str]:
    """The rows of the key, the legend of the panel beside the plots."""
    legend = figure.axes[3].get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def test_plot_key_gives_each_policy_its_slo_minutes_and_cost() -> None:
    """The key beside the panels is a table: one row per policy with its SLO minutes and cost."""
    figure, summaries = _picture(SHORT)
    try:
        labels = _labels(figure)
        rows = {label.split()[0]: label.split()[1:3] for label in labels[1 : len(summaries) + 1]}
        expected = {s.policy: [str(s.slo_minutes), f"${s.cost_usd:.2f}"] for s in summaries}
        assert (["policy", "SLO", "min", "cost", "vs", "d_t"], expected) == (labels[0].split(), rows)
    finally:
        pyplot.close(figure)


def test_plot_draws_ours_on_top_of_every_other_line() -> None:
    """In the dynos and queue panels, ours is drawn above the baselines and the demand, and thicker.

    Only the ▲ marks of values above the scale, on the panel's edge, come above every line."""
    figure, _ = _picture(SHORT)
    try:
        found = []
        for axes in figure.axes[1:3]:
            lines = [line for line in axes.lines if line.get_linestyle() != "None"]
            ours = [line for line in lines if line.get_gid() == "ours"]
            others: list[Any] = [line for line in lines if line.get_gid() != "ours"]
            others += [*axes.patches, *axes.collections]
            found.append(
                (
                    min(a.get_zorder() for a in ours) > max(a.get_zorder() for a in others),
                    min(a.get_linewidth() for a in ours) > max(a.get_linewidth() for a in lines if a not in ours),
                )
            )
        assert [(True, True), (True, True)] == found
    finally:
        pyplot.close(figure)


def test_plot_marks_values_above_the_queue_scale() -> None:
    """hpa's queue runs far above the target: the panel is cut at 4x the target, marked ▲ and said in the notes."""
    figure, _ = _picture(["--hours", "6", "--policy", "ours,hpa"])
    try:
        queue = figure.axes[2]
        markers = [line for line in queue.lines if line.get_marker() == "^"]
        notes = " ".join(text.get_text() for text in figure.axes[3].texts).replace("\n", " ")
        labels = [tick.get_text() for tick in queue.get_yticklabels()]
        assert (True, "200+", True) == (len(markers) >= 1, labels[-1], "▲ off the scale: hpa" in notes)
    finally:
        pyplot.close(figure)


def test_plot_notes_say_how_ours_compares() -> None:
    """The notes begin with ours against the baselines, in words."""
    figure, summaries = _picture(SHORT)
    try:
        ours = next(s for s in summaries if s.policy == "ours")
        notes = figure.axes[3].texts[0].get_text().replace("\n", " ")
        assert notes.startswith(f"ours: {ours.slo_minutes} SLO minutes for ${ours.cost_usd:.2f},")
    finally:
        pyplot.close(figure)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["--scenario", "monday"],
            "--scenario: unknown scenario 'monday'; known: diurnal, step-burst, slow-ramp, flash-crowd, "
            "batch-dump, weekday-rush, trickle",
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
            "--policy: unknown policy 'hirefire'; known: ours, ours-predict, static-peak, hpa, heroku-native, "
            "judoscale-like, keda, clairvoyant",
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
        pytest.param(["--scenario", ""], "--scenario: unknown scenario ''", id="empty scenario"),
        pytest.param(["--size", ""], "--size: unknown dyno size ''", id="empty size"),
        pytest.param(["--min-dynos", "-2"], "--min-dynos: must be a whole number >= 0, got '-2'", id="negative min"),
        pytest.param(["--interval", "-15"], "--interval: must be a whole number >= 1, got '-15'", id="negative tick"),
        pytest.param(
            ["--queue-time-ms", "-50"], "--queue-time-ms: must be a number > 0, got '-50'", id="negative target"
        ),
        pytest.param(["--hours", "nan"], "--hours: must be a number > 0 and <= 168, got 'nan'", id="hours nan"),
        pytest.param(["--seed", "9" * 5000], "--seed: must be a whole number >= 0, got '99999", id="seed too long"),
        pytest.param(
            ["--max-dynos", "5000"], "--max-dynos: Heroku runs at most 100 dynos in one app, got 5000", id="max dynos"
        ),
        pytest.param(
            ["--processes-per-dyno", "100000"],
            "--processes-per-dyno: at most 1000 processes per dyno are simulated, got 100000",
            id="processes per dyno",
        ),
    ],
)
def test_bad_input_is_a_usage_error(argv: list[str], expected: str) -> None:
    """Every bad flag raises ConfigError (exit 2) with a line naming it."""
    problems = simulate_problems(argv)
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
        pytest.param('{"max_dynos": "x"}', "--config: max_dynos: must be a whole number >= 1, got 'x'", id="a string"),
        pytest.param('{"size": "huge"}', "--config: size: unknown dyno size 'huge'", id="unknown size"),
    ],
)
def test_bad_config_file_is_a_usage_error(tmp_path: Path, content: str, expected: str) -> None:
    """A --config file is checked key by key, with the engine's own validation for engine fields."""
    path = tmp_path / "sim.json"
    path.write_text(content)
    problems = simulate_problems(["--config", str(path)])
    assert [True] == [any(expected in problem for problem in problems)]


# --- errors through the command line: exit 2, the flag named, no traceback ---------------------------


def _must_not_run(*args: object) -> None:
    raise AssertionError("the run started despite a bad --plot")


def test_plot_into_a_missing_directory_is_refused_before_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plot into a directory that does not exist: exit 2 naming --plot, and nothing is simulated."""
    monkeypatch.setattr(cli, "compare", _must_not_run)
    expected = "  --plot: cannot write /nonexistent/x.png: the directory /nonexistent does not exist"
    assert (2, [expected]) == _cli(["--plot", "/nonexistent/x.png"], capsys)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("x.pdf", "--plot: writes a PNG image; give a file name ending in .png, got 'x.pdf'", id="not png"),
        pytest.param("", "--plot: needs a file name ending in .png, got ''", id="empty"),
        pytest.param("folder.png", "--plot: folder.png is a directory; give a file name ending in .png", id="folder"),
        pytest.param("file.txt/x.png", "--plot: cannot write file.txt/x.png: ", id="below a file"),
    ],
)
def test_bad_plot_paths_exit_2(
    name: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--plot needs a .png file name in a directory that exists; each problem is named before the run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("")
    monkeypatch.setattr(cli, "compare", _must_not_run)
    status, lines = _cli(["--plot", name], capsys)
    assert (2, True) == (status, lines[0].startswith("  " + expected))


def test_plot_into_a_read_only_directory_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory the process may not write to is refused before the run (access is faked: tests may run as root)."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(cli, "compare", _must_not_run)
    status, lines = _cli(["--plot", str(tmp_path / "x.png")], capsys)
    expected = f"  --plot: cannot write {tmp_path / 'x.png'}: the directory {tmp_path} is not writable"
    assert (2, [expected]) == (status, lines)


def test_plot_that_fails_to_save_exits_2_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure while saving (here a full disk) is one line naming --plot, exit 2."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    image = tmp_path / "x.png"
    expected = f"  --plot: cannot write {image}: [Errno 28] No space left on device"
    assert (2, [expected]) == _cli(["--plot", str(image), *SHORT], capsys)


def test_plot_without_matplotlib_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without matplotlib, --plot is a usage error that says how to install it, before anything runs."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(cli, "compare", _must_not_run)
    status, lines = _cli(["--plot", str(tmp_path / "x.png")], capsys)
    expected = "  --plot: needs matplotlib, which is not installed; install it with: pip install matplotlib"
    assert (2, [expected]) == (status, lines)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "--trace: {path} is empty", id="empty"),
        pytest.param("time,rate\n0,1\n", "--trace: {path} line 1: the header must be t,arrivals_per_s", id="header"),
        pytest.param(
            "t,arrivals_per_s\n0,-3\n", "--trace: {path} line 2: arrivals_per_s must be a number >= 0", id="negative"
        ),
        pytest.param(
            "t,arrivals_per_s\n0,lots\n", "--trace: {path} line 2: arrivals_per_s must be a number >= 0", id="text"
        ),
        pytest.param("t,arrivals_per_s\n0,1\n0,2\n", "--trace: {path} line 3: t must increase", id="t repeats"),
        pytest.param("t,arrivals_per_s\n0,1,2\n", "--trace: {path} line 2: expected 2 fields, got 3", id="width"),
        pytest.param("t,arrivals_per_s\n0,1\n1e9,2\n", "--trace: {path} lasts", id="too long"),
    ],
)
def test_malformed_trace_exits_2_naming_the_line(
    content: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --trace file: exit 2 with the file and line of the problem."""
    path = tmp_path / "trace.csv"
    path.write_text(content)
    status, lines = _cli(["--trace", str(path)], capsys)
    assert (2, True) == (status, lines[0].startswith("  " + expected.format(path=path)))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--trace", "/nonexistent/t.csv"], "--trace: cannot read /nonexistent/t.csv", id="missing trace"),
        pytest.param(
            ["--config", "/nonexistent/c.json"], "--config: cannot read /nonexistent/c.json", id="missing config"
        ),
        pytest.param(["--hours", "-1"], "--hours: must be a number > 0", id="negative hours"),
        pytest.param(["--seed", "-1"], "--seed: must be a whole number >= 0", id="negative seed"),
        pytest.param(["--service-ms", "-120"], "--service-ms: must be a number > 0", id="negative service time"),
        pytest.param(["--max-dynos", "-3"], "--max-dynos: must be a whole number >= 1", id="negative max"),
        pytest.param(["--api-failures", "-0.5"], "--api-failures: must be a number >= 0", id="negative failures"),
        pytest.param(["--processes-per-dyno", "-4"], "--processes-per-dyno: must be a whole number >= 1", id="k"),
        pytest.param(["--kind", "worker", "--concurrency", "0"], "--concurrency: must be a whole number >= 1", id="c"),
        pytest.param(["--kind", "worker", "--max-latency", "-1"], "--max-latency: must be a number > 0", id="latency"),
        pytest.param(["--kind", "worker", "--jobs-per-dyno", "0"], "--jobs-per-dyno: must be a number > 0", id="jobs"),
        pytest.param(["--policy", "nope"], "--policy: unknown policy 'nope'", id="policy"),
        pytest.param(["--size", "tiny"], "--size: unknown dyno size 'tiny'", id="size"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every flag's bad value ends in exit 2 and a line that starts with the flag, never a traceback."""
    status, lines = _cli(argv, capsys)
    assert (2, True) == (status, any(line.startswith("  " + expected) for line in lines))


def test_bad_plot_path_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """End to end, as `make demo` runs it: a bad --plot exits 2 with one problem and no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "autoscaler", "simulate", "--plot", str(tmp_path / "missing" / "x.png")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected = (
        f"  --plot: cannot write {tmp_path / 'missing' / 'x.png'}: the directory {tmp_path / 'missing'} does not exist"
    )
    assert (2, expected, "") == (done.returncode, done.stderr.splitlines()[-1], done.stdout)


# --- --env-file ------------------------------------------------------------------------------------

TOKEN = "HRKU-never-printed-0123456789"
REDIS_PASSWORD = "never-printed-either"
WEB_ENV = f"""# heroku config -s -a my-autoscaler
AUTOSCALER_APP='my-app'
HEROKU_API_KEY='{TOKEN}'
REDIS_URL='redis://h:{REDIS_PASSWORD}@redis.example.com:6379'
AUTOSCALER_PROCESSES__WEB__SOURCE='web'
AUTOSCALER_PROCESSES__WEB__MAX_DYNOS='20'
AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS='50'
AUTOSCALER_PROCESSES__WEB__PROCESSES_PER_DYNO='4'
"""
WORKER_ENV = """AUTOSCALER_PROCESSES__WORKER__SOURCE=rq
AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS=8
AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO=40
AUTOSCALER_PROCESSES__WORKER__CONCURRENCY=5
"""
BURST = ["--scenario", "flash-crowd", *SHORT]


def _env(tmp_path: Path, text: str) -> str:
    path = tmp_path / "autoscaler.env"
    path.write_text(text)
    return str(path)


def _ours_row(data: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = data["policies"][0]
    assert "ours" == row["policy"]
    return row


def test_env_file_is_the_same_daemon_as_the_flags(tmp_path: Path) -> None:
    """A file that says what the defaults say simulates the same run: the same daemon, the same rows."""
    from_file = simulate_json(["--env-file", _env(tmp_path, WEB_ENV), *BURST])
    from_flags = simulate_json(BURST)
    assert from_flags["policies"] == from_file["policies"]


def test_budget_in_the_env_file_caps_ours(tmp_path: Path) -> None:
    """AUTOSCALER_MAX_MONTHLY_COST caps ours as it caps the daemon: a lower peak and cost than without,
    never more dynos than the budget pays for; the baselines are not capped."""
    free = simulate_json(["--env-file", _env(tmp_path, WEB_ENV), *BURST])
    capped = simulate_json(["--env-file", _env(tmp_path, WEB_ENV + "AUTOSCALER_MAX_MONTHLY_COST='150'\n"), *BURST])
    budget_dynos = 150 // 50  # Standard-2X at $50/month
    ours, ours_free = _ours_row(capped), _ours_row(free)
    assert (True, True, True, True) == (
        ours["peak_dynos"] < ours_free["peak_dynos"],
        ours["cost_usd"] < ours_free["cost_usd"],
        ours["peak_dynos"] <= budget_dynos,
        capped["policies"][1:] == free["policies"][1:],
    )


def test_env_file_prices_set_the_budget_and_the_cost(tmp_path: Path) -> None:
    """AUTOSCALER_PRICES prices the size for the daemon's budget and for the report."""
    env = WEB_ENV + "AUTOSCALER_PRICES='{\"standard-2x\": 25}'\nAUTOSCALER_MAX_MONTHLY_COST=100\n"
    text = simulate_text(["--env-file", _env(tmp_path, env), *BURST])
    data = simulate_json(["--env-file", _env(tmp_path, env), *BURST])
    assert (True, True, True) == (
        "formation: Standard-2X at $25/month" in text,
        "at most 4 Standard-2X dynos" in text,
        _ours_row(data)["peak_dynos"] <= 4,
    )


def test_env_file_sets_the_process_the_tick_and_the_engine(tmp_path: Path) -> None:
    """The process's targets, bounds, engine settings and AUTOSCALER_INTERVAL are the run's; the token,
    the app and the source's URL are never printed."""
    env = WEB_ENV + "AUTOSCALER_PROCESSES__WEB__DOWNSCALE_DELAY=120\nAUTOSCALER_INTERVAL=30\n"
    env = env.replace("MAX_DYNOS='20'", "MAX_DYNOS='12'").replace("QUEUE_TIME_MS='50'", "QUEUE_TIME_MS='80'")
    text = simulate_text(["--env-file", _env(tmp_path, env), *SHORT])
    expected = [
        "process type web (SOURCE web)",
        "target p95 queue time 80 ms",
        "1-12 dynos",
        "ours ticks every 30 s",
        'engine settings: {"downscale_delay": 120.0}',
    ]
    assert (expected, False, False, False) == (
        [line for line in expected if line in text],
        TOKEN in text,
        REDIS_PASSWORD in text,
        "my-app" in text,
    )


def test_flags_win_over_the_env_file(tmp_path: Path) -> None:
    """A process flag given with --env-file overrides the file's value."""
    assert "1-6 dynos" in simulate_text(["--env-file", _env(tmp_path, WEB_ENV), "--max-dynos", "6", *SHORT])


def test_env_file_process_picks_the_kind_and_process(tmp_path: Path) -> None:
    """--process picks a process type; its source decides the kind, a worker without MAX_LATENCY is
    scaled on JOBS_PER_DYNO alone (the report's target is then the SLO only)."""
    path = _env(tmp_path, WEB_ENV + WORKER_ENV)
    data = simulate_json(["--env-file", path, "--process", "worker", *SHORT])
    text = simulate_text(["--env-file", path, "--process", "worker", *SHORT])
    assert ("worker", True, True) == (
        data["scenario"]["kind"],
        "MAX_LATENCY 60 s (the SLO only: the process sets no MAX_LATENCY), JOBS_PER_DYNO 40" in text,
        "not simulated: the file's other process types (web)" in text,
    )


def test_env_file_is_deterministic_with_api_failures(tmp_path: Path) -> None:
    """The same file, seed and failures give byte-identical JSON; the failures are counted and ours
    never exceeds MAX_DYNOS."""
    argv = ["--env-file", _env(tmp_path, WEB_ENV.replace("'20'", "'4'")), "--api-failures", "0.5", *BURST]
    first, second = simulate_text([*argv, "--json"]), simulate_text([*argv, "--json"])
    ours = _ours_row(json.loads(first))
    assert (first, True, True) == (second, ours["api_failures"] > 0, ours["peak_dynos"] <= 4)


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        pytest.param(
            WEB_ENV + "AUTOSCALER_PROCESSES__WEB__MAX_DYNOZ=5\n",
            [],
            "--env-file: AUTOSCALER_PROCESSES__WEB__MAX_DYNOZ: unknown setting of process type 'web'; "
            "did you mean AUTOSCALER_PROCESSES__WEB__MAX_DYNOS?",
            id="misspelt process setting",
        ),
        pytest.param(
            WEB_ENV + "AUTOSCALER_MAX_MONTLY_COST=100\n",
            [],
            "--env-file: AUTOSCALER_MAX_MONTLY_COST: unknown variable; did you mean AUTOSCALER_MAX_MONTHLY_COST?",
            id="misspelt global",
        ),
        pytest.param(
            WEB_ENV.replace("QUEUE_TIME_MS='50'", "QUEUE_TIME_MS='-5'"),
            [],
            "--env-file: AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS: must be > 0",
            id="daemon's own check",
        ),
        pytest.param(
            WEB_ENV + WORKER_ENV,
            [],
            "--process: {path} configures several process types (web, worker): choose one with --process",
            id="ambiguous",
        ),
        pytest.param(
            WEB_ENV + WORKER_ENV,
            ["--process", "clock"],
            "--process: {path} configures no process type 'clock'; it has: web, worker",
            id="unknown process",
        ),
        pytest.param(
            WEB_ENV, ["--scenario", "batch-dump"], "--scenario: batch-dump has no web variant", id="kind of scenario"
        ),
        pytest.param(WEB_ENV + "oops\n", [], "--env-file: {path} line 9: expected NAME=value", id="not an assignment"),
        pytest.param(WEB_ENV + "A='open\n", [], "--env-file: {path} line 9: No closing quotation", id="open quote"),
        pytest.param(WEB_ENV, ["--config", "x.json"], "--config: give either --config or --env-file", id="both"),
    ],
)
def test_bad_env_file_exits_2_naming_the_variable(
    tmp_path: Path, text: str, extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configuration the daemon refuses is refused with the daemon's message, marked as the env file's;
    the token is never printed."""
    path = _env(tmp_path, text)
    status, lines = _cli(["--env-file", path, *extra], capsys)
    assert (2, True, False) == (
        status,
        any(line.startswith("  " + expected.format(path=path)) for line in lines),
        any(TOKEN in line for line in lines),
    )


def test_process_without_env_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """--process picks a process type of --env-file or of --from-history; alone it is a usage error."""
    assert (2, ["  --process: picks a process type of --env-file or of --from-history; give one of them too"]) == _cli(
        ["--process", "web"], capsys
    )


def test_env_file_reads_shell_quoting_without_evaluating() -> None:
    """heroku config -s quoting: single quotes (an escaped quote inside), plain values, values over
    several lines; comments and blank lines skipped; nothing expanded."""
    text = "# a comment\n\nA='it'\\''s #1'\nB=plain#hash\nC='one\ntwo'\nD=\"$HOME\"\nE=\n"
    assert {"A": "it's #1", "B": "plain#hash", "C": "one\ntwo", "D": "$HOME", "E": ""} == envfile.parse(text, "f")
