"""Every built-in ``simulate`` scenario, for web and for workers, as one results table.

    .venv/bin/python -m benchmarks.scenarios [--seed 1]

Runs ``python -m autoscaler simulate --scenario S --kind K --json`` in-process for each pair
and prints, per scenario, each policy's SLO-violation minutes and cost, how far ``ours`` is
from the clairvoyant cost, and which baselines (if any) dominate it. Markdown, for the README.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time

from autoscaler.__main__ import main as autoscaler_main

SCENARIOS = [
    ("diurnal", "web"),
    ("diurnal", "worker"),
    ("step-burst", "web"),
    ("step-burst", "worker"),
    ("slow-ramp", "web"),
    ("slow-ramp", "worker"),
    ("flash-crowd", "web"),
    ("flash-crowd", "worker"),
    ("batch-dump", "worker"),
    ("trickle", "web"),
    ("trickle", "worker"),
]
POLICIES = ["ours", "static-peak", "hpa", "heroku-native", "judoscale-like", "keda", "clairvoyant"]


def run(scenario: str, kind: str, seed: int) -> dict[str, object]:
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        status = autoscaler_main(["simulate", "--scenario", scenario, "--kind", kind, "--seed", str(seed), "--json"])
    finally:
        sys.stdout = saved
    if status != 0:
        raise SystemExit(f"simulate {scenario} {kind} exited {status}")
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| scenario | " + " | ".join(POLICIES) + " | ours vs clairvoyant cost | ours dominated by |")
    print("|---" * (len(POLICIES) + 3) + "|")
    start = time.monotonic()
    met = 0
    for scenario, kind in SCENARIOS:
        result = run(scenario, kind, args.seed)
        rows = {p["policy"]: p for p in result["policies"]}  # type: ignore[attr-defined]
        cells = [f"{rows[p]['slo_minutes']}/{rows[p]['cost_usd']:.2f}" if p in rows else "–" for p in POLICIES]
        ours = rows["ours"]
        verdict = result["verdict"] or {}
        dominated = ", ".join(verdict.get("dominated_by", [])) or "none"  # type: ignore[attr-defined]
        vs = ours.get("cost_vs_clairvoyant")
        vs_text = f"{vs * 100:+.0f} %" if isinstance(vs, float) else "–"
        ok = dominated == "none" and isinstance(vs, float) and vs <= 0.15
        met += ok
        print(f"| {scenario} {kind} | " + " | ".join(cells) + f" | {vs_text} | {dominated} |")
    print(
        f"\nSLO minutes / USD for the scenario; seed {args.seed}; {len(SCENARIOS)} scenarios in "
        f"{time.monotonic() - start:.1f} s; ours undominated and within 15 % of clairvoyant cost on {met}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
