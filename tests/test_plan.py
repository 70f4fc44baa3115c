"""The ``plan`` command: hand-computed formations, log parsing, price files, errors, output shape.

Built-in Cedar sizes used below (MB, $/month, per-type limit): eco 512 $5 1, basic 512 $7 1,
standard-1x 512 $25 100 (app-wide), standard-2x 1024 $50 100, performance-m 2560 $250 10,
performance-l 14336 $500 10, performance-l-ram 30720 $500 10, performance-xl 63488 $750 10,
performance-2xl 129024 $1500 10.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from autoscaler import sizes
from autoscaler.errors import ConfigError
from autoscaler.plan import (
    Load,
    Row,
    SizeOption,
    best_row,
    builtin_sizes,
    configure_parser,
    p95,
    parse_prices,
    parse_runtime_metrics,
    plan_row,
    plan_rows,
    run,
)

COMMON_RUNTIME = [
    "eco",
    "basic",
    "standard-1x",
    "standard-2x",
    "performance-m",
    "performance-l",
    "performance-l-ram",
    "performance-xl",
    "performance-2xl",
]
ROW_KEYS = {
    "size",
    "memory_mb",
    "processes_per_dyno",
    "dynos",
    "monthly_cost",
    "cost_per_process",
    "feasible",
}

# A `heroku logs` excerpt: router lines, app output (one of them printing an l2met-looking
# token), load-average lines, a worker and a one-off dyno, a state change, and five web
# memory samples whose memory_total is above memory_rss. Web RSS: 201.5, 230, 215.25, 240, 198.
HEROKU_LOGS = """\
2024-05-02T10:00:01.104293+00:00 heroku[router]: at=info method=GET path="/" host=shop.herokuapp.com request_id=9f0c2a4e-7f47-4d63-9a0e-2c1f7f3d2a11 fwd="203.0.113.7" dyno=web.1 connect=0ms service=41ms status=200 bytes=1532 protocol=https
2024-05-02T10:00:01.106811+00:00 app[web.1]: 10.1.22.4 - - [02/May/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 1532 "-" "Mozilla/5.0"
2024-05-02T10:00:04.512001+00:00 heroku[web.1]: source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#load_avg_1m=0.46 sample#load_avg_5m=0.31 sample#load_avg_15m=0.20
2024-05-02T10:00:04.512223+00:00 heroku[web.1]: source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#memory_total=420.00MB sample#memory_rss=201.50MB sample#memory_cache=18.50MB sample#memory_swap=0.00MB sample#memory_pgpgin=348836pages sample#memory_pgpgout=343403pages sample#memory_quota=1024.00MB
2024-05-02T10:00:06.020000+00:00 heroku[web.2]: source=web.2 dyno=heroku.2808254.0c3a77c1-5d2e-4bd0-8f4a-7e11a9d5c0de sample#memory_total=480.00MB sample#memory_rss=240.00MB sample#memory_cache=12.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=51234pages sample#memory_pgpgout=49876pages
2024-05-02T10:00:07.331000+00:00 heroku[worker.1]: source=worker.1 dyno=heroku.2808254.5b1e9f30-6a41-4c1d-9e2b-3f7a8d6c4b21 sample#memory_total=910.00MB sample#memory_rss=900.00MB sample#memory_cache=10.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=1pages sample#memory_pgpgout=1pages
2024-05-02T10:00:08.000000+00:00 app[web.2]: debug source=web.2 sample#memory_rss=9999MB (the app printing l2met tokens)
2024-05-02T10:00:12.887000+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=POST path="/checkout" host=shop.herokuapp.com request_id=2b8e fwd="198.51.100.23" dyno=web.2 connect=1ms service=30000ms status=503 bytes=0 protocol=https
2024-05-02T10:00:24.512223+00:00 heroku[web.1]: source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#memory_total=430.00MB sample#memory_rss=230.00MB sample#memory_cache=18.50MB sample#memory_swap=0.00MB sample#memory_pgpgin=348900pages sample#memory_pgpgout=343450pages
2024-05-02T10:00:25.000000+00:00 heroku[run.4821]: source=run.4821 dyno=heroku.2808254.aa11bb22-cc33-dd44-ee55-ff6677889900 sample#memory_total=700.00MB sample#memory_rss=690.00MB sample#memory_cache=10.00MB
2024-05-02T10:00:26.020000+00:00 heroku[web.2]: source=web.2 dyno=heroku.2808254.0c3a77c1-5d2e-4bd0-8f4a-7e11a9d5c0de sample#memory_total=470.00MB sample#memory_rss=198.00MB sample#memory_cache=12.00MB sample#memory_swap=0.00MB
2024-05-02T10:00:30.100000+00:00 heroku[web.3]: State changed from starting to up
2024-05-02T10:00:44.512223+00:00 heroku[web.1]: source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456 sample#memory_total=440.00MB sample#memory_rss=215.25MB sample#memory_cache=18.50MB sample#memory_swap=0.00MB
"""  # noqa: E501 (real log lines are long)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="autoscaler plan")
    configure_parser(parser)
    return parser.parse_args(argv)


def _run(argv: list[str], env: Mapping[str, str] | None = None, **kwargs: Any) -> str:
    out = io.StringIO()
    assert run(_parse(argv), out, env or {}, **kwargs) == 0
    return out.getvalue()


def _json(argv: list[str], env: Mapping[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_run([*argv, "--json"], env, **kwargs))
    return data


def _problems(argv: list[str], env: Mapping[str, str] | None = None, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        run(_parse(argv), io.StringIO(), env or {}, **kwargs)
    return caught.value.problems


def _by_size(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["size"]: row for row in data["rows"]}


def _pick(*keys: str) -> list[SizeOption]:
    return [size for size in builtin_sizes() if size.key in keys]


# --- the arithmetic, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "ram", "processes", "expected"),
    [
        pytest.param(
            ("eco", "standard-1x", "standard-2x", "performance-m"),
            300.0,
            12,
            [
                # size, per dyno, dynos, monthly, cost/process, feasible
                ("eco", 1, 12, 60.0, 5.0, False),
                ("standard-1x", 1, 12, 300.0, 25.0, True),
                ("standard-2x", 3, 4, 200.0, 200 / 12, True),
                ("performance-m", 8, 2, 500.0, 500 / 12, True),
            ],
            id="300 MB x 12: eco over its limit of 1",
        ),
        pytest.param(
            ("basic", "standard-1x", "standard-2x"),
            600.0,
            4,
            [
                ("basic", 0, None, None, None, False),
                ("standard-1x", 0, None, None, None, False),
                ("standard-2x", 1, 4, 200.0, 50.0, True),
            ],
            id="600 MB: a 512 MB dyno cannot hold one process",
        ),
        pytest.param(
            ("performance-m", "performance-l"),
            250.0,
            120,
            [
                ("performance-m", 10, 12, 3000.0, 25.0, False),
                ("performance-l", 57, 3, 1500.0, 12.5, True),
            ],
            id="250 MB x 120: performance-m needs 12 > 10",
        ),
        pytest.param(
            ("standard-1x", "standard-2x"),
            512.0,
            101,
            [
                ("standard-1x", 1, 101, 2525.0, 25.0, False),
                ("standard-2x", 2, 51, 2550.0, 2550 / 101, True),
            ],
            id="512 MB x 101: standard-1x over the app-wide 100",
        ),
        pytest.param(
            ("standard-2x",),
            1024 / 3,
            3,
            [("standard-2x", 3, 1, 50.0, 50 / 3, True)],
            id="1024/3 MB fits exactly three times despite float noise",
        ),
    ],
)
def test_plan_rows_known_answers(
    sizes: tuple[str, ...],
    ram: float,
    processes: int,
    expected: list[tuple[str, int, int | None, float | None, float | None, bool]],
) -> None:
    """processes/dyno, dynos, monthly cost, cost/process and feasibility match hand arithmetic."""
    rows = plan_rows(_pick(*sizes), ram, processes)
    actual = [
        (row.size, row.processes_per_dyno, row.dynos, row.monthly_cost, row.cost_per_process, row.feasible)
        for row in rows
    ]
    assert actual == [
        (size, k, dynos, cost, None if per is None else pytest.approx(per), feasible)
        for size, k, dynos, cost, per, feasible in expected
    ]


@pytest.mark.parametrize(
    ("sizes", "ram", "processes", "best"),
    [
        pytest.param(COMMON_RUNTIME, 300.0, 12, "standard-2x", id="cheapest feasible wins"),
        pytest.param(COMMON_RUNTIME, 512.0, 1, "eco", id="one process fits the $5 eco"),
        pytest.param(("standard-1x", "standard-2x"), 512.0, 2, "standard-2x", id="tie at $50 goes to 1 dyno over 2"),
        pytest.param(
            ("performance-m", "performance-l", "performance-l-ram"),
            1000.0,
            10,
            "performance-l",
            id="tie at $500 and 1 dyno goes to the smaller size",
        ),
        pytest.param(("performance-m",), 250.0, 120, None, id="nothing feasible gives no best"),
        pytest.param(("eco", "basic"), 600.0, 1, None, id="nothing fits gives no best"),
    ],
)
def test_best_row_known_answers(sizes: tuple[str, ...], ram: float, processes: int, best: str | None) -> None:
    """The best row is the cheapest feasible; a tie goes to fewer dynos, then to the catalogue order."""
    chosen = best_row(plan_rows(_pick(*sizes), ram, processes))
    assert (None if chosen is None else chosen.size) == best


def test_tie_prefers_fewer_dynos_even_when_listed_later() -> None:
    """A later size with the same cost and fewer dynos beats an earlier one."""
    sizes = [SizeOption("small", 1024, 50.0, 100), SizeOption("big", 2048, 100.0, 100)]
    chosen = best_row(plan_rows(sizes, 512.0, 4))
    assert chosen is not None
    assert (chosen.size, chosen.dynos, chosen.monthly_cost) == ("big", 1, 100.0)


def test_max_dynos_lifts_the_performance_limit() -> None:
    """With max_dynos 12, performance-m at 12 dynos becomes feasible."""
    row = plan_rows(_pick("performance-m"), 250.0, 120, max_dynos=12)[0]
    assert (row.dynos, row.feasible, row.note) == (12, True, "")


def test_max_dynos_lifts_the_eco_limit() -> None:
    """With max_dynos 3, three eco dynos are feasible."""
    row = plan_rows(_pick("eco"), 512.0, 3, max_dynos=3)[0]
    assert (row.dynos, row.monthly_cost, row.feasible) == (3, 15.0, True)


def test_max_dynos_can_also_lower_a_limit() -> None:
    """max_dynos replaces every size's limit, so 4 standard-2x dynos fail a limit of 3."""
    row = plan_rows(_pick("standard-2x"), 300.0, 12, max_dynos=3)[0]
    assert (row.dynos, row.feasible, row.note) == (4, False, "needs 4 dynos, limit 3")


def test_infeasible_row_says_why_for_a_process_that_does_not_fit() -> None:
    """A size too small for one process has a note naming the process size."""
    row = plan_rows(_pick("eco"), 600.0, 1)[0]
    assert row.note == "one process (600 MB) does not fit"


# --- processes needed from the load (150 req/s, 120 ms, p95 queue wait ≤ 50 ms) --------------

WORKED_LOAD = Load(rps=150.0, app_time_s=0.120, queue_time_s=0.050, quantile=0.95)


@pytest.mark.parametrize(
    ("per_dyno", "dynos", "feasible"),
    [
        pytest.param(1, 245, False, id="k=1: 245 dynos, over the app-wide 100"),
        pytest.param(2, 38, True, id="k=2"),
        pytest.param(4, 11, True, id="k=4"),
        pytest.param(8, 4, True, id="k=8"),
        pytest.param(16, 2, True, id="k=16"),
        pytest.param(32, 1, True, id="k=32"),
    ],
)
def test_load_mode_reproduces_the_k_table(per_dyno: int, dynos: int, feasible: bool) -> None:
    """A size holding k processes of 100 MB needs the dynos random routing needs for k per dyno;
    processes = dynos × k."""
    size = SizeOption(f"k{per_dyno}", per_dyno * 100, 10.0, 100)
    row = plan_row(size, 100.0, WORKED_LOAD)
    assert (row.processes_per_dyno, row.dynos, row.processes, row.feasible) == (
        per_dyno,
        dynos,
        dynos * per_dyno,
        feasible,
    )


def test_load_mode_without_a_formation_is_infeasible() -> None:
    """When no dyno count up to the search cap meets the target, the row has no dynos."""
    row = plan_row(SizeOption("tiny", 100, 1.0, 100), 100.0, Load(1e6, 1.0, 0.05))
    assert (row.dynos, row.monthly_cost, row.feasible) == (None, None, False)


def test_load_mode_per_size_via_the_command() -> None:
    """256 MB per process: standard-1x (k=2) needs 38 dynos ($950), standard-2x (k=4) 11 ($550)."""
    data = _json(
        [
            "--ram-per-process=256",
            "--rps=150",
            "--app-time-ms=120",
            "--queue-time-ms=50",
            "--sizes=standard-1x,standard-2x",
        ]
    )
    assert data["rows"] == [
        {
            "size": "standard-1x",
            "memory_mb": 512,
            "processes_per_dyno": 2,
            "dynos": 38,
            "monthly_cost": 950.0,
            "cost_per_process": 12.5,
            "feasible": True,
        },
        {
            "size": "standard-2x",
            "memory_mb": 1024,
            "processes_per_dyno": 4,
            "dynos": 11,
            "monthly_cost": 550.0,
            "cost_per_process": 12.5,
            "feasible": True,
        },
    ]
    assert data["best"]["size"] == "standard-2x"


def test_load_mode_bigger_dynos_pool_better() -> None:
    """160 MB per process: performance-m holds 16 and needs 2 dynos, $500."""
    row = _by_size(
        _json(
            [
                "--ram-per-process=160",
                "--rps=150",
                "--app-time-ms=120",
                "--queue-time-ms=50",
                "--sizes=performance-m",
            ]
        )
    )["performance-m"]
    assert (row["processes_per_dyno"], row["dynos"], row["monthly_cost"]) == (16, 2, 500.0)


def test_load_mode_quantile_flag_tightens_the_target() -> None:
    """At --quantile 0.99 the k=4 formation needs more than the 11 dynos of the 95 % target."""
    row = _json(
        [
            "--ram-per-process=256",
            "--rps=150",
            "--app-time-ms=120",
            "--queue-time-ms=50",
            "--quantile=0.99",
            "--sizes=standard-2x",
        ]
    )["rows"][0]
    assert row["dynos"] > 11


def test_load_mode_table_has_a_processes_column() -> None:
    """The readable output of the load mode shows the processes each size runs."""
    text = _run(
        ["--ram-per-process=256", "--rps=150", "--app-time-ms=120", "--queue-time-ms=50", "--sizes=standard-2x"]
    )
    header = next(line for line in text.splitlines() if "proc/dyno" in line)
    assert "processes" in header.split()


# --- log parsing ---------------------------------------------------------------------------------


def test_parse_runtime_metrics_keeps_only_web_memory_rss() -> None:
    """Only heroku[web.N] memory_rss values count: not memory_total, router, app, worker or run lines."""
    samples = parse_runtime_metrics(HEROKU_LOGS.splitlines(), "web")
    assert [(sample.dyno, sample.rss_mb) for sample in samples] == [
        ("web.1", 201.5),
        ("web.2", 240.0),
        ("web.1", 230.0),
        ("web.2", 198.0),
        ("web.1", 215.25),
    ]


def test_parse_runtime_metrics_of_another_process_type() -> None:
    """process_type selects the dynos: the worker excerpt has one sample of 900 MB."""
    samples = parse_runtime_metrics(HEROKU_LOGS.splitlines(), "worker")
    assert [(sample.dyno, sample.rss_mb) for sample in samples] == [("worker.1", 900.0)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("source=web.1 sample#memory_rss=210.5MB", 210.5, id="bare drain line"),
        pytest.param("source=web.1 sample#memory_rss=0.25GB", 256.0, id="GB"),
        pytest.param("source=web.1 sample#memory_rss=512000kB", 500.0, id="kB"),
        pytest.param("source=web.1 sample#memory_rss=300", 300.0, id="no unit means MB"),
        pytest.param(
            "\x1b[36m2024-05-02T10:00:04+00:00 heroku[web.1]:\x1b[0m source=web.1 sample#memory_rss=99MB",
            99.0,
            id="coloured terminal output",
        ),
        pytest.param("source=web.1 sample#memory_rss=12parsecs", None, id="unknown unit"),
        pytest.param("source=web.1 sample#memory_rss=0.00MB", None, id="zero is not a reading"),
        pytest.param("source=web.1 sample#memory_total=300MB", None, id="memory_total only"),
        pytest.param("dyno=web.1 sample#memory_rss=300MB", None, id="no source"),
        pytest.param("source=webby sample#memory_rss=300MB", None, id="source without a dyno number"),
        pytest.param(
            "2024-05-02T10:00:04+00:00 app[web.1]: source=web.1 sample#memory_rss=300MB", None, id="app output"
        ),
    ],
)
def test_parse_runtime_metrics_single_lines(line: str, expected: float | None) -> None:
    """Each line yields its RSS in MB, or nothing when it is not a usable sample."""
    samples = parse_runtime_metrics([line], "web")
    assert [sample.rss_mb for sample in samples] == ([] if expected is None else [pytest.approx(expected)])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([7.0], 7.0, id="one value"),
        pytest.param([201.5, 240.0, 230.0, 198.0, 215.25], 240.0, id="under 20 values: the largest"),
        pytest.param([float(v) for v in range(20, 0, -1)], 19.0, id="20 values: the 19th"),
        pytest.param([float(v) for v in range(1, 101)], 95.0, id="100 values: the 95th"),
        pytest.param([float(v) for v in range(1, 41)], 38.0, id="40 values: the 38th"),
    ],
)
def test_p95_by_nearest_rank(values: list[float], expected: float) -> None:
    """p95 is the ceil(0.95·n)-th smallest value."""
    assert p95(values) == expected


def test_p95_of_nothing_is_an_error() -> None:
    """There is no p95 of an empty list."""
    with pytest.raises(ValueError, match="no values"):
        p95([])


def test_from_logs_divides_p95_by_web_concurrency(tmp_path: Path) -> None:
    """p95 RSS 240 MB / WEB_CONCURRENCY 2 = 120 MB per process: standard-1x holds 4."""
    logs = tmp_path / "heroku.log"
    logs.write_text(HEROKU_LOGS)
    row = _json(["--from-logs", str(logs), "--processes=8", "--sizes=standard-1x"], env={"WEB_CONCURRENCY": "2"})[
        "rows"
    ][0]
    assert (row["processes_per_dyno"], row["dynos"]) == (4, 2)


def test_from_logs_concurrency_flag_beats_web_concurrency(tmp_path: Path) -> None:
    """--concurrency 3 wins over WEB_CONCURRENCY: 240/3 = 80 MB, so standard-1x holds 6."""
    logs = tmp_path / "heroku.log"
    logs.write_text(HEROKU_LOGS)
    row = _json(
        ["--from-logs", str(logs), "--concurrency=3", "--processes=6", "--sizes=standard-1x"],
        env={"WEB_CONCURRENCY": "2"},
    )["rows"][0]
    assert row["processes_per_dyno"] == 6


def test_from_logs_without_concurrency_means_one_process(tmp_path: Path) -> None:
    """Without --concurrency or WEB_CONCURRENCY a dyno runs one process: 240 MB, standard-1x holds 2."""
    logs = tmp_path / "heroku.log"
    logs.write_text(HEROKU_LOGS)
    row = _json(["--from-logs", str(logs), "--processes=2", "--sizes=standard-1x"])["rows"][0]
    assert row["processes_per_dyno"] == 2


def test_from_logs_reads_stdin_and_says_how_many_samples() -> None:
    """``--from-logs -`` reads stdin; the header reports the p95, the samples and the dynos used."""
    text = _run(["--from-logs", "-", "--processes=4"], env={"WEB_CONCURRENCY": "2"}, stdin=io.StringIO(HEROKU_LOGS))
    assert text.splitlines()[0] == (
        "RAM per process: 120 MB = p95 memory_rss 240 MB / 2 processes per dyno (5 samples from 2 web dynos)"
    )


def test_from_logs_of_the_worker_type(tmp_path: Path) -> None:
    """--process-type worker sizes from the worker's 900 MB: only standard-2x and up hold it."""
    logs = tmp_path / "heroku.log"
    logs.write_text(HEROKU_LOGS)
    data = _json(
        ["--from-logs", str(logs), "--process-type=worker", "--processes=1", "--sizes=standard-1x,standard-2x"]
    )
    assert [row["processes_per_dyno"] for row in data["rows"]] == [0, 1]


def test_from_logs_p95_is_not_the_maximum_with_many_samples(tmp_path: Path) -> None:
    """40 samples of 301..340 MB: the p95 is the 38th, 338 MB, and one process fits in standard-1x."""
    lines = [
        f"2024-05-02T10:{i:02d}:00+00:00 heroku[web.{1 + i % 2}]: source=web.{1 + i % 2} "
        f"dyno=heroku.1.x sample#memory_total={400 + i}.00MB sample#memory_rss={301 + i}.00MB"
        for i in range(40)
    ]
    logs = tmp_path / "heroku.log"
    logs.write_text("\n".join(lines) + "\n")
    text = _run(["--from-logs", str(logs), "--processes=1", "--sizes=standard-1x"])
    assert text.splitlines()[0].startswith("RAM per process: 338 MB = p95 memory_rss 338 MB / 1 process")


# --- price files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"Standard-2X": 100, "eco": 0}', {"standard-2x": 100.0, "eco": 0.0}, id="JSON"),
        pytest.param(
            "size,monthly_usd\nStandard-2X,100\n\nperformance-m,199.5\n",
            {"standard-2x": 100.0, "performance-m": 199.5},
            id="CSV with a blank line",
        ),
        pytest.param(" Size , Monthly_USD \n2x, 60\n", {"standard-2x": 60.0}, id="CSV header any case, legacy 2x"),
    ],
)
def test_parse_prices_formats(text: str, expected: dict[str, float]) -> None:
    """JSON objects and size,monthly_usd CSV give the same {size: price} map, names normalised."""
    assert parse_prices(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param('{"eco": 5,', "not valid JSON", id="broken JSON"),
        pytest.param("[]", "header size,monthly_usd", id="JSON array"),
        pytest.param('{"eco": -5}', "not a number >= 0", id="negative price"),
        pytest.param('{"eco": "five"}', "not a number >= 0", id="text price"),
        pytest.param('{"eco": true}', "not a number >= 0", id="boolean price"),
        pytest.param('{"Eco": 5, "eco": 6}', "named twice", id="duplicate after normalising"),
        pytest.param("{}", "names no size", id="empty object"),
        pytest.param("", "header size,monthly_usd", id="empty file"),
        pytest.param("name,price\neco,5\n", "header size,monthly_usd", id="wrong CSV header"),
        pytest.param("size,monthly_usd\neco,5,extra\n", "line 2: expected 2 fields, got 3", id="extra field"),
        pytest.param("size,monthly_usd\neco,nan\n", "not a number >= 0", id="NaN price"),
        pytest.param("size,monthly_usd\n", "names no size", id="header only"),
    ],
)
def test_parse_prices_rejects_bad_files(text: str, fragment: str) -> None:
    """Every malformed price file raises ConfigError naming the problem."""
    with pytest.raises(ConfigError) as caught:
        parse_prices(text)
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_prices_file_changes_the_best_size(tmp_path: Path) -> None:
    """With standard-2x at $100, 300 MB x 12 is cheaper on 12 standard-1x ($300) than 4 standard-2x ($400)."""
    prices = tmp_path / "prices.json"
    prices.write_text('{"Standard-2X": 100}')
    data = _json(["--ram-per-process=300", "--processes=12", "--prices", str(prices)])
    assert (data["best"]["size"], _by_size(data)["standard-2x"]["monthly_cost"]) == ("standard-1x", 400.0)


def test_prices_csv_file_is_read(tmp_path: Path) -> None:
    """A CSV price file replaces the price of the sizes it names; the others keep theirs."""
    prices = tmp_path / "prices.csv"
    prices.write_text("size,monthly_usd\nstandard-1x,10\n")
    rows = _by_size(_json(["--ram-per-process=512", "--processes=2", "--prices", str(prices)]))
    assert (rows["standard-1x"]["monthly_cost"], rows["standard-2x"]["monthly_cost"]) == (20.0, 50.0)


def test_prices_file_with_unknown_size_lists_the_known(tmp_path: Path) -> None:
    """A size the catalogue does not know is an error that lists the known sizes."""
    prices = tmp_path / "prices.json"
    prices.write_text('{"standard-3x": 75}')
    problems = _problems(["--ram-per-process=300", "--processes=12", "--prices", str(prices)])
    assert problems[0].startswith("--prices: unknown size 'standard-3x'; known sizes: eco, basic, standard-1x")


def test_unreadable_prices_file(tmp_path: Path) -> None:
    """A missing price file is a ConfigError naming it."""
    missing = tmp_path / "nope.json"
    problems = _problems(["--ram-per-process=300", "--processes=12", "--prices", str(missing)])
    assert problems[0].startswith(f"--prices: cannot read {missing}")


def test_undecodable_prices_file(tmp_path: Path) -> None:
    """A price file that is not UTF-8 text is a ConfigError."""
    binary = tmp_path / "prices.csv"
    binary.write_bytes(b"\xff\xfe\x00size")
    problems = _problems(["--ram-per-process=300", "--processes=12", "--prices", str(binary)])
    assert problems[0].startswith(f"--prices: cannot read {binary}")


# --- catalogue selection and --live ---------------------------------------------------------------


def test_default_sizes_are_the_common_runtime_ones() -> None:
    """Without --sizes the table lists Eco, Basic, Standard and Performance, not Private/Shield."""
    data = _json(["--ram-per-process=300", "--processes=12"])
    assert [row["size"] for row in data["rows"]] == COMMON_RUNTIME


def test_sizes_flag_accepts_any_case_and_legacy_names() -> None:
    """--sizes Standard-2X,1x,PRIVATE-S picks those sizes, in catalogue order, lower case."""
    data = _json(["--ram-per-process=300", "--processes=12", "--sizes=Standard-2X,1x,PRIVATE-S"])
    assert [row["size"] for row in data["rows"]] == ["standard-1x", "standard-2x", "private-s"]


def test_generation_fir_plans_with_every_fir_size() -> None:
    """--generation fir: the 17 dyno-Nc-Xgb sizes at their list prices, each up to 255 dynos of a type."""
    data = _json(["--ram-per-process=300", "--processes=12", "--generation=fir"])
    rows = _by_size(data)
    assert [s.key for s in sizes.FIR_SIZES] == list(rows)
    chosen = rows["dyno-2c-4gb"]
    assert (4096, 1, 150.0, "dyno-1c-4gb") == (
        chosen["memory_mb"],
        chosen["dynos"],
        chosen["monthly_cost"],
        data["best"]["size"],
    )


def test_fir_sizes_alone_in_sizes_plan_for_fir() -> None:
    """--sizes naming only Fir sizes plans for Fir, without --generation."""
    data = _json(["--ram-per-process=300", "--processes=12", "--sizes=DYNO-4C-8GB,dyno-2c-4gb"])
    assert ["dyno-2c-4gb", "dyno-4c-8gb"] == [row["size"] for row in data["rows"]]


def test_fir_allows_255_dynos_of_a_type() -> None:
    """255 dyno-1c-0.5gb dynos are feasible on Fir; 256 are not (a bigger size is)."""
    rows = [
        _json(["--ram-per-process=400", f"--processes={n}", "--sizes=dyno-1c-0.5gb,dyno-1c-4gb"])["rows"][0]
        for n in (255, 256)
    ]
    assert [(255, True), (256, False)] == [(row["dynos"], row["feasible"]) for row in rows]


def test_fir_header_says_where_prices_come_from() -> None:
    """The readable header names the Fir list prices, the unverified dyno-16c-64gb price and Fir's limit."""
    lines = _run(["--ram-per-process=300", "--processes=12", "--generation=FIR"]).splitlines()
    assert "Sizes and prices: built-in Fir list prices" in lines
    assert any(line.startswith("dyno-16c-64gb: list price $1,000 unverified") for line in lines)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["--generation=heroku-24"], "--generation: must be cedar or fir, got 'heroku-24'", id="unknown generation"
        ),
        pytest.param(
            ["--generation=cedar", "--sizes=dyno-2c-4gb"],
            "--sizes: 'dyno-2c-4gb' is a Fir size, and this plan is for Cedar: an app runs on one generation "
            "(--generation fir plans with its sizes)",
            id="a Fir size in a Cedar plan",
        ),
        pytest.param(
            ["--sizes=dyno-2c-4gb,standard-2x"],
            "--sizes: 'dyno-2c-4gb' is a Fir size, and this plan is for Cedar: an app runs on one generation "
            "(--generation fir plans with its sizes)",
            id="both generations named",
        ),
    ],
)
def test_a_plan_is_for_one_generation(argv: list[str], expected: str) -> None:
    """A plan is for Cedar or for Fir; a size of the other generation is named as such."""
    assert [expected] == _problems(["--ram-per-process=300", "--processes=12", *argv])


def _fake_dyno_sizes() -> list[tuple[str, float | None, float | None]]:
    return [
        ("Standard-2X", 1.0, 40.0),
        ("eco", 0.5, 5.0),
        ("performance-m", 2.5, None),
        ("dyno-2c-4gb", 4.0, 90.0),
        ("mystery", None, None),
    ]


def test_live_uses_reported_memory_and_cost() -> None:
    """--live takes the Cedar sizes of /dyno-sizes: $40 standard-2x, performance-m's missing cost from
    the catalogue; it leaves out a size with neither memory nor price, and the Fir size (an app runs one
    generation: --generation fir plans with those)."""
    data = _json(
        ["--ram-per-process=500", "--processes=4", "--live"],
        env={"HEROKU_API_KEY": "token"},
        fetch_sizes=_fake_dyno_sizes,
    )
    actual = [(row["size"], row["memory_mb"], row["monthly_cost"]) for row in data["rows"]]
    assert actual == [
        ("eco", 512, 20.0),
        ("standard-2x", 1024, 80.0),
        ("performance-m", 2560, 250.0),
    ]


def test_live_fir_takes_the_reported_fir_sizes() -> None:
    """--live --generation fir plans with the Fir sizes /dyno-sizes reported, at the API's price."""
    data = _json(
        ["--ram-per-process=500", "--processes=4", "--live", "--generation=fir"],
        env={"HEROKU_API_KEY": "token"},
        fetch_sizes=_fake_dyno_sizes,
    )
    assert [("dyno-2c-4gb", 4096, 90.0)] == [(r["size"], r["memory_mb"], r["monthly_cost"]) for r in data["rows"]]


def test_live_notes_the_left_out_sizes() -> None:
    """The readable header names the sizes /dyno-sizes gave no memory or price for."""
    text = _run(
        ["--ram-per-process=500", "--processes=4", "--live"],
        env={"HEROKU_API_KEY": "token"},
        fetch_sizes=_fake_dyno_sizes,
    )
    assert "Left out (no memory or price reported): mystery" in text.splitlines()


def test_live_sizes_flag_names_reported_sizes() -> None:
    """With --live, --sizes checks names against what the API reported."""
    data = _json(
        ["--ram-per-process=500", "--processes=4", "--live", "--sizes=dyno-2c-4gb"],
        env={"HEROKU_API_KEY": "token"},
        fetch_sizes=_fake_dyno_sizes,
    )
    assert [row["size"] for row in data["rows"]] == ["dyno-2c-4gb"]


@pytest.mark.parametrize(
    ("env", "with_fetch"),
    [
        pytest.param({}, False, id="no token, no client"),
        pytest.param({}, True, id="client but no HEROKU_API_KEY"),
        pytest.param({"HEROKU_API_KEY": "token"}, False, id="token but no client"),
        pytest.param({"HEROKU_API_KEY": "  "}, True, id="blank token"),
    ],
)
def test_live_needs_heroku_api_key(env: dict[str, str], with_fetch: bool) -> None:
    """--live without a token (or without a way to call the API) is a ConfigError."""
    problems = _problems(
        ["--ram-per-process=500", "--processes=4", "--live"],
        env=env,
        fetch_sizes=_fake_dyno_sizes if with_fetch else None,
    )
    assert problems == ["--live: needs HEROKU_API_KEY (a Platform API token) in the environment"]


def test_live_with_no_usable_size() -> None:
    """An empty /dyno-sizes answer is a ConfigError, not an empty table."""
    problems = _problems(
        ["--ram-per-process=500", "--processes=4", "--live"],
        env={"HEROKU_API_KEY": "token"},
        fetch_sizes=list,
    )
    assert problems == ["--live: /dyno-sizes reported no size with a known memory and price"]


# --- output ----------------------------------------------------------------------------------------


def test_json_has_exactly_rows_and_best() -> None:
    """--json prints one object with the keys rows and best, nothing else."""
    data = _json(["--ram-per-process=300", "--processes=12"])
    assert set(data) == {"rows", "best"}


def test_json_rows_have_exactly_the_issue_keys() -> None:
    """Each row, and best, has exactly size, memory_mb, processes_per_dyno, dynos, monthly_cost,
    cost_per_process and feasible."""
    data = _json(["--ram-per-process=300", "--processes=12"])
    assert all(set(row) == ROW_KEYS for row in [*data["rows"], data["best"]])


def test_json_best_is_one_of_the_rows() -> None:
    """best repeats the chosen row exactly, costs rounded to cents."""
    data = _json(["--ram-per-process=300", "--processes=12"])
    assert data["best"] == {
        "size": "standard-2x",
        "memory_mb": 1024,
        "processes_per_dyno": 3,
        "dynos": 4,
        "monthly_cost": 200.0,
        "cost_per_process": 16.67,
        "feasible": True,
    }
    assert data["best"] in data["rows"]


def test_json_infeasible_row_has_nulls() -> None:
    """A size that cannot hold one process has null dynos and costs, and feasible false."""
    out = io.StringIO()
    with pytest.raises(ConfigError) as caught:
        run(_parse(["--ram-per-process=600", "--processes=1", "--sizes=eco", "--json"]), out, {})
    assert ["--ram-per-process, --processes: no dyno size can serve this demand (each row above says why)"] == (
        caught.value.problems
    )
    data = json.loads(out.getvalue())
    assert data == {
        "rows": [
            {
                "size": "eco",
                "memory_mb": 512,
                "processes_per_dyno": 0,
                "dynos": None,
                "monthly_cost": None,
                "cost_per_process": None,
                "feasible": False,
            }
        ],
        "best": None,
    }


def test_table_marks_the_best_row() -> None:
    """The readable table starts the best row with * and ends with the verdict."""
    lines = _run(["--ram-per-process=300", "--processes=12"]).splitlines()
    marked = [line.split()[1] for line in lines if line.startswith("*")]
    assert (marked, lines[-1]) == (["standard-2x"], "Best: 4 x standard-2x, 3 processes per dyno, $200.00/month")


def test_table_explains_infeasible_rows() -> None:
    """The note column says eco needs 12 dynos against a limit of 1."""
    lines = _run(["--ram-per-process=300", "--processes=12"]).splitlines()
    eco = next(line for line in lines if line.split()[:1] == ["eco"])
    assert eco.endswith("needs 12 dynos, limit 1")


def test_table_without_a_feasible_size() -> None:
    """When nothing is feasible the verdict says so, and plan fails (exit 2) after the table."""
    out = io.StringIO()
    with pytest.raises(ConfigError):
        run(_parse(["--ram-per-process=600", "--processes=1", "--sizes=eco,basic"]), out, {})
    assert out.getvalue().splitlines()[-1].startswith("No feasible size")


def test_table_header_with_max_dynos() -> None:
    """--max-dynos is echoed in the header."""
    text = _run(["--ram-per-process=300", "--processes=12", "--max-dynos=20"])
    assert "Dyno limit per process type: 20 (--max-dynos)" in text.splitlines()


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--processes=3"], "--ram-per-process: required (or --from-logs FILE)", id="no RAM"),
        pytest.param(
            ["--ram-per-process=0", "--processes=3"],
            "--ram-per-process: must be a number > 0, got '0'",
            id="zero RAM",
        ),
        pytest.param(
            ["--ram-per-process=-300", "--processes=3"],
            "--ram-per-process: must be a number > 0, got '-300'",
            id="negative RAM",
        ),
        pytest.param(
            ["--ram-per-process=lots", "--processes=3"],
            "--ram-per-process: must be a number > 0, got 'lots'",
            id="text RAM",
        ),
        pytest.param(
            ["--ram-per-process=inf", "--processes=3"],
            "--ram-per-process: must be a number > 0, got 'inf'",
            id="infinite RAM",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=0"],
            "--processes: must be a whole number >= 1, got '0'",
            id="zero processes",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=-2"],
            "--processes: must be a whole number >= 1, got '-2'",
            id="negative processes",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=2.5"],
            "--processes: must be a whole number >= 1, got '2.5'",
            id="fractional processes",
        ),
        pytest.param(
            ["--ram-per-process=300"],
            "--processes: required (or --rps, --app-time-ms and --queue-time-ms)",
            id="no processes",
        ),
        pytest.param(
            ["--ram-per-process=300", "--from-logs=x.log", "--processes=3"],
            "--ram-per-process: give either --ram-per-process or --from-logs, not both",
            id="RAM twice",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--rps=10", "--app-time-ms=100", "--queue-time-ms=50"],
            "--processes: give either --processes or --rps/--app-time-ms/--queue-time-ms, not both",
            id="processes and load",
        ),
        pytest.param(
            ["--ram-per-process=300", "--rps=10"],
            "--app-time-ms: required with --rps",
            id="load incomplete",
        ),
        pytest.param(
            ["--ram-per-process=300", "--rps=0", "--app-time-ms=100", "--queue-time-ms=50"],
            "--rps: must be a number > 0, got '0'",
            id="zero rps",
        ),
        pytest.param(
            ["--ram-per-process=300", "--rps=10", "--app-time-ms=-1", "--queue-time-ms=50"],
            "--app-time-ms: must be a number > 0, got '-1'",
            id="negative app time",
        ),
        pytest.param(
            ["--ram-per-process=300", "--rps=10", "--app-time-ms=100", "--queue-time-ms=0"],
            "--queue-time-ms: must be a number > 0, got '0'",
            id="zero queue time",
        ),
        pytest.param(
            ["--ram-per-process=300", "--rps=10", "--app-time-ms=100", "--queue-time-ms=50", "--quantile=1.5"],
            "--quantile: must be between 0 and 1, got '1.5'",
            id="quantile above 1",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--quantile=0.9"],
            "--quantile: only used with --rps, --app-time-ms and --queue-time-ms",
            id="quantile without load",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--max-dynos=0"],
            "--max-dynos: must be a whole number >= 1, got '0'",
            id="zero max dynos",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--concurrency=2"],
            "--concurrency: only used with --from-logs",
            id="concurrency without logs",
        ),
        pytest.param(
            ["--from-logs=x.log", "--processes=3", "--concurrency=0"],
            "--concurrency: must be a whole number >= 1, got '0'",
            id="zero concurrency",
        ),
        pytest.param(
            ["--from-logs=x.log", "--processes=3", "--process-type=web.1"],
            "--process-type: not a process type name: 'web.1'",
            id="dyno name as process type",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--sizes=standard-1x,huge,Tiny"],
            "--sizes: unknown size 'huge'; known sizes: eco, basic, standard-1x, standard-2x, performance-m, "
            "performance-l, performance-l-ram, performance-xl, performance-2xl, private-s, private-m, "
            "private-l, private-l-ram, private-xl, private-2xl, shield-s, shield-m, shield-l, shield-l-ram, "
            "shield-xl, shield-2xl",
            id="unknown size lists the known",
        ),
        pytest.param(
            ["--ram-per-process=300", "--processes=3", "--sizes=,"],
            "--sizes: names no size",
            id="empty size list",
        ),
    ],
)
def test_bad_input_raises_config_error(argv: list[str], expected: str) -> None:
    """Each bad input raises ConfigError with a line naming the flag and what is wrong."""
    assert expected in _problems(argv)


def test_every_unknown_size_is_named() -> None:
    """Two unknown sizes give two lines, with their spelling kept."""
    problems = _problems(["--ram-per-process=300", "--processes=3", "--sizes=huge,Tiny"])
    assert [problem.split(";")[0] for problem in problems] == [
        "--sizes: unknown size 'huge'",
        "--sizes: unknown size 'Tiny'",
    ]


def test_all_number_problems_are_reported_at_once() -> None:
    """Zero RAM and negative processes are reported together."""
    problems = _problems(["--ram-per-process=0", "--processes=-1"])
    assert problems == [
        "--ram-per-process: must be a number > 0, got '0'",
        "--processes: must be a whole number >= 1, got '-1'",
    ]


def test_bad_web_concurrency_is_named() -> None:
    """An unusable WEB_CONCURRENCY is a ConfigError naming the variable."""
    problems = _problems(["--from-logs=x.log", "--processes=3"], env={"WEB_CONCURRENCY": "auto"})
    assert problems == ["WEB_CONCURRENCY: must be a whole number >= 1, got 'auto'"]


def test_blank_web_concurrency_counts_as_unset() -> None:
    """An empty WEB_CONCURRENCY falls back to one process per dyno: 240 MB, standard-1x holds 2."""
    row = _json(
        ["--from-logs", "-", "--processes=2", "--sizes=standard-1x"],
        env={"WEB_CONCURRENCY": " "},
        stdin=io.StringIO(HEROKU_LOGS),
    )["rows"][0]
    assert row["processes_per_dyno"] == 2


def test_web_concurrency_is_ignored_without_logs() -> None:
    """WEB_CONCURRENCY only matters with --from-logs, so a bad one does not fail --ram-per-process."""
    data = _json(["--ram-per-process=300", "--processes=12"], env={"WEB_CONCURRENCY": "auto"})
    assert data["best"]["size"] == "standard-2x"


def test_missing_log_file(tmp_path: Path) -> None:
    """An unreadable --from-logs file is a ConfigError naming it."""
    missing = tmp_path / "missing.log"
    problems = _problems(["--from-logs", str(missing), "--processes=3"])
    assert problems[0].startswith(f"--from-logs: cannot read {missing}")


def test_logs_without_samples(tmp_path: Path) -> None:
    """Logs with no memory_rss lines at all are a ConfigError that says how to enable them."""
    logs = tmp_path / "router.log"
    logs.write_text(HEROKU_LOGS.splitlines()[0] + "\n")
    problems = _problems(["--from-logs", str(logs), "--processes=3"])
    assert problems == [
        f"--from-logs: no log-runtime-metrics sample#memory_rss lines for process type 'web' in {logs}; "
        "enable them with `heroku labs:enable log-runtime-metrics` and restart"
    ]


def test_logs_with_samples_of_other_types_only() -> None:
    """When the logs only hold other process types, the error names them."""
    problems = _problems(["--from-logs", "-", "--processes=3", "--process-type=clock"], stdin=io.StringIO(HEROKU_LOGS))
    assert "(it has samples of: run, web, worker)" in problems[0]


def test_row_as_json_rounds_costs_to_cents() -> None:
    """as_json rounds the monthly cost and cost per process to cents."""
    row = Row("x", 512, 3, 1, 3, 100.004, 100.004 / 3, True)
    assert (row.as_json()["monthly_cost"], row.as_json()["cost_per_process"]) == (100.0, 33.33)
