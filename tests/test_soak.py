"""The soak run as a test (marked slow: `make soak` runs it; the default suite skips it)."""

from __future__ import annotations

import pytest

from benchmarks.soak import run_soak


@pytest.mark.slow
def test_soak_keeps_every_invariant() -> None:
    """2,000 accelerated ticks with 20 % API faults and a failing, wandering signal: no wrong scaling,
    no crash, no secret in the output, the formation within bounds, memory flat after warm-up."""
    report = run_soak(ticks=2000, fault_rate=0.2, seed=11)
    assert (0, 0, 0, 0) == (report.wrong_scalings, report.out_of_bounds, report.crashes, report.secrets_found), (
        report.problems
    )
    assert report.rss_end - report.rss_warm < 8.0
    assert sum(report.faults.values()) > 300
