"""``tune`` on every built-in scenario, for web and for workers, as one table.

    .venv/bin/python -m benchmarks.tune [--seeds 2] [--only diurnal,step-burst] [--save DIR]

Writes an env file with the default settings of ``simulate`` (a web process: Standard-2X, 1-20 dynos,
4 processes per dyno, QUEUE_TIME_MS 50; a worker: Standard-2X, 1-20 dynos, CONCURRENCY 5,
MAX_LATENCY 60), runs ``python -m autoscaler tune --env-file FILE --scenario S --kind K --json``
in-process for each pair of :data:`benchmarks.scenarios.SCENARIOS`, and prints, per pair, the
current and the suggested SLO minutes and cost (means over the seeds), what changed, the settings
simulated and the time taken. Markdown, for docs/tune.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from autoscaler.__main__ import main as autoscaler_main
from benchmarks.scenarios import SCENARIOS

ENV = """AUTOSCALER_APP='my-app'
REDIS_URL='redis://127.0.0.1:6379'
AUTOSCALER_PROCESSES__WEB__SOURCE='web'
AUTOSCALER_PROCESSES__WEB__SIZE='standard-2x'
AUTOSCALER_PROCESSES__WEB__MIN_DYNOS='1'
AUTOSCALER_PROCESSES__WEB__MAX_DYNOS='20'
AUTOSCALER_PROCESSES__WEB__PROCESSES_PER_DYNO='4'
AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS='50'
AUTOSCALER_PROCESSES__WORKER__SOURCE='rq'
AUTOSCALER_PROCESSES__WORKER__SIZE='standard-2x'
AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS='1'
AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS='20'
AUTOSCALER_PROCESSES__WORKER__CONCURRENCY='5'
AUTOSCALER_PROCESSES__WORKER__MAX_LATENCY='60'
"""
"""The defaults of ``simulate`` as config vars."""


def run(env_file: str, scenario: str, kind: str, seeds: int) -> dict[str, Any]:
    out = io.StringIO()
    argv = ["tune", "--env-file", env_file, "--scenario", scenario, "--kind", kind, "--seeds", str(seeds), "--json"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = autoscaler_main(argv, env={})
    if status != 0:
        raise SystemExit(f"tune {scenario} {kind} exited {status}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _score(entry: dict[str, Any]) -> str:
    return f"{entry['slo_minutes']:g} / {entry['cost_usd']:.2f}"


def _changes(result: dict[str, Any]) -> str:
    suggested = result["suggested"]
    if suggested is None:
        return "nothing better found"
    before = result["current"]["settings"]
    return ", ".join(
        f"{name.rsplit('__', 1)[-1]} {_plain(before[name])} → {_plain(value)}"
        for name, value in suggested["changed"].items()
    )


def _plain(value: object) -> str:
    return "no limit" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--only", help="comma-separated scenario names (default every one)")
    parser.add_argument("--save", metavar="DIR", help="also write each run's JSON to DIR/SCENARIO-KIND.json")
    args = parser.parse_args()
    only = None if args.only is None else set(args.only.split(","))
    print("| scenario | current SLO min / USD | suggested SLO min / USD | changed | settings tried | time |")
    print("|---|---|---|---|---|---|")
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        env_file = Path(directory) / "autoscaler.env"
        env_file.write_text(ENV)
        for scenario, kind in SCENARIOS:
            if only is not None and scenario not in only:
                continue
            result = run(str(env_file), scenario, kind, args.seeds)
            if args.save is not None:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                (Path(args.save) / f"{scenario}-{kind}.json").write_text(json.dumps(result, indent=2) + "\n")
            suggested = result["suggested"]
            cells = [
                f"{scenario} {kind}",
                _score(result["current"]),
                "–" if suggested is None else _score(suggested),
                _changes(result),
                str(result["evaluations"]),
                f"{result['seconds']:.0f} s",
            ]
            print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\nmeans over seeds 1-{args.seeds}; the whole table in {time.monotonic() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
