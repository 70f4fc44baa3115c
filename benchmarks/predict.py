"""``PREDICT=true`` against the daemon without it, on the built-in week of weekday morning rushes.

    .venv/bin/python -m benchmarks.predict [--seeds 1,2,3] [--kind web]

Runs ``python -m autoscaler simulate --scenario weekday-rush --kind K --seed N --json`` in-process
for each seed (every policy of the kind, ``ours`` and ``ours-predict`` included) and prints, per
seed, the SLO-violation minutes and cost of both, the change, and the baselines (if any) that
dominate ``ours-predict``. Markdown, for the docs.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from benchmarks.scenarios import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--kind", default="web", choices=["web", "worker"])
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(
        "| seed | ours SLO min | ours USD | ours-predict SLO min | ours-predict USD | SLO minutes | cost | "
        "ours-predict dominated by |"
    )
    print("|---" * 8 + "|")
    start = time.monotonic()
    for seed in seeds:
        result: dict[str, Any] = run("weekday-rush", args.kind, seed)
        rows = {p["policy"]: p for p in result["policies"]}
        ours, ahead = rows["ours"], rows["ours-predict"]
        fewer = (
            f"{(ahead['slo_minutes'] - ours['slo_minutes']) / ours['slo_minutes'] * 100:+.0f} %"
            if ours["slo_minutes"]
            else "–"
        )
        dearer = f"{(ahead['cost_usd'] - ours['cost_usd']) / ours['cost_usd'] * 100:+.1f} %"
        dominated = ", ".join((result.get("verdict_predict") or {}).get("dominated_by", [])) or "none"
        print(
            f"| {seed} | {ours['slo_minutes']} | {ours['cost_usd']:.2f} | {ahead['slo_minutes']} | "
            f"{ahead['cost_usd']:.2f} | {fewer} | {dearer} | {dominated} |"
        )
    print(
        f"\nweekday-rush ({args.kind}), a week at the daemon's 2 s tick; {len(seeds)} seeds in "
        f"{time.monotonic() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
