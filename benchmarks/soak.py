"""Soak: thousands of accelerated ticks against the local stand-in API with injected faults.

    .venv/bin/python -m benchmarks.soak [--ticks 5000] [--fault-rate 0.2] [--seed 7]

The real daemon (real HTTP client over loopback, real engine, real logging with the redactor)
ticks against :class:`autoscaler.fake_heroku.FakeHeroku`, which answers ``--fault-rate`` of
all requests with an injected fault (5xx, 429, 401, malformed JSON, a reset connection, or an
answer slower than the client's timeout). The signal is a random walk of the backlog that
also fails now and then, with a secret in its error text. Time is a fake clock moved 15 s a
tick, so hours of operation take seconds (only the "slow" faults cost real time).

Checked on every tick, and printed as a table:
- the formation never leaves ``[MIN_DYNOS, MAX_DYNOS]``;
- every PATCH the API received carries a quantity some decision asked for (no wrong scaling),
  and no PATCH lowers the formation on a tick whose reading was unknown;
- no tick raises (crashes);
- the token and the signal's secret never appear in the output;
- resident memory: at start, after warm-up, at the end.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

import structlog

from autoscaler import logs
from autoscaler.config import load_settings
from autoscaler.daemon import Daemon
from autoscaler.errors import SignalError
from autoscaler.fake_heroku import FAULTS, FakeHeroku
from autoscaler.heroku import HerokuClient
from autoscaler.redact import Redactor
from autoscaler.signals import Reading

TOKEN = "HRKU-soak-token-5f2c9e1d7a"
SIGNAL_SECRET = "soak-redis-password-31337"
MIN_DYNOS, MAX_DYNOS = 1, 12


class WanderingSource:
    """A backlog that wanders (mean-reverting around 200 jobs, with bursts of 400 jobs 3 % of the
    time) and fails 5 % of the time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.depth = 50
        self.failed = 0
        self.last_ok = True

    def read(self, now: float) -> Reading:
        burst = 400 if self.rng.random() < 0.03 else 0
        self.depth = int(self.depth * 0.85) + self.rng.randint(0, 60) + burst
        if self.rng.random() < 0.05:
            self.failed += 1
            self.last_ok = False
            raise SignalError(f"connection to redis://:{SIGNAL_SECRET}@queue.internal:6379 refused")
        self.last_ok = True
        return Reading(at=now, depth=self.depth, latency=min(600.0, self.depth / 5), busy=self.rng.randint(0, 3))

    def close(self) -> None:
        return


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.mono = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class SoakReport:
    ticks: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    signal_failures: int = 0
    patches: int = 0
    wrong_scalings: int = 0
    out_of_bounds: int = 0
    crashes: int = 0
    secrets_found: int = 0
    rss_start: float = 0.0
    rss_warm: float = 0.0
    rss_end: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.wrong_scalings or self.out_of_bounds or self.crashes or self.secrets_found) and (
            self.rss_end - self.rss_warm < 8.0
        )

    def table(self) -> str:
        rows = [
            ("ticks run", str(self.ticks)),
            *[(f"API fault injected: {kind}", str(self.faults[kind])) for kind in FAULTS],
            ("API faults injected, all kinds", str(sum(self.faults.values()))),
            ("signal read failures", str(self.signal_failures)),
            ("PATCHes received", str(self.patches)),
            ("wrong scalings", str(self.wrong_scalings)),
            ("formation out of bounds", str(self.out_of_bounds)),
            ("crashes", str(self.crashes)),
            ("secrets found in output", str(self.secrets_found)),
            (
                "resident memory at start / after warm-up / at end (MB)",
                f"{self.rss_start:.1f} / {self.rss_warm:.1f} / {self.rss_end:.1f}",
            ),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {'what':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
        return "\n".join(lines)


def run_soak(ticks: int = 5000, fault_rate: float = 0.2, seed: int = 7) -> SoakReport:
    rng = random.Random(seed)
    report = SoakReport(rss_start=rss_mb())
    fake = FakeHeroku("soak-app", TOKEN, {"worker": (2, "Standard-1X")})
    fake.slow_seconds = 0.3

    def fault(method: str, path: str) -> str | None:
        if rng.random() < fault_rate:
            kind = rng.choice(FAULTS)
            report.faults[kind] += 1
            return kind
        return None

    fake.fault = fault
    url = fake.start()
    settings = load_settings(
        {
            "HEROKU_API_KEY": TOKEN,
            "HEROKU_API_URL": url,
            "AUTOSCALER_APP": "soak-app",
            "REDIS_URL": f"redis://:{SIGNAL_SECRET}@queue.internal:6379/0",
            "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
            "AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS": str(MIN_DYNOS),
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": str(MAX_DYNOS),
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "50",
            "AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY": "45",
            "AUTOSCALER_PROCESSES__WORKER__BOOT_TIME": "15",
        }
    )
    out = io.StringIO()
    logs.configure("logfmt", "info", Redactor([TOKEN, *settings.secrets()]), out)
    clock = Clock()
    source = WanderingSource(rng)
    api = HerokuClient(TOKEN, base_url=url, timeout=0.2, sleep=clock.sleep, monotonic=clock.monotonic, rng=rng)
    daemon = Daemon(settings, api, {"worker": source}, clock=clock)
    try:
        for number in range(ticks):
            before = len(fake.patches)
            try:
                result = daemon.tick()
            except Exception as exc:  # a crash is what this run looks for
                report.crashes += 1
                report.problems.append(f"tick {number}: {type(exc).__name__}: {exc}")
                continue
            _check_tick(report, fake, result, before, source.last_ok)
            report.ticks += 1
            clock.advance(15)
            if number == ticks // 10:
                report.rss_warm = rss_mb()
            if number % 500 == 0:  # keep the captured log bounded; scan what was written
                _scan_output(report, out)
    finally:
        daemon.close()
        api.close()
        fake.stop()
        structlog.reset_defaults()
    _scan_output(report, out)
    report.signal_failures = source.failed
    report.patches = len(fake.patches)
    report.rss_end = rss_mb()
    return report


def _check_tick(report: SoakReport, fake: FakeHeroku, result: object, before: int, reading_ok: bool) -> None:
    from autoscaler.daemon import TickResult

    assert isinstance(result, TickResult)
    quantity = fake.quantities()["worker"]
    if not MIN_DYNOS <= quantity <= MAX_DYNOS:
        report.out_of_bounds += 1
        report.problems.append(f"formation {quantity} outside [{MIN_DYNOS}, {MAX_DYNOS}]")
    decided = {d.desired for d in result.decisions if d.changed}
    for body in fake.patches[before:]:
        sent = body["updates"][0]["quantity"]
        current = next((d.current for d in result.decisions), None)
        if sent not in decided or (not reading_ok and current is not None and sent < current):
            report.wrong_scalings += 1
            report.problems.append(f"PATCH {body} not among decisions {decided}")


def _scan_output(report: SoakReport, out: io.StringIO) -> None:
    text = out.getvalue()
    report.secrets_found += text.count(TOKEN) + text.count(SIGNAL_SECRET)
    out.seek(0)
    out.truncate()


def main() -> int:
    parser = argparse.ArgumentParser(description="Soak the daemon against a faulty local Platform API.")
    parser.add_argument("--ticks", type=int, default=5000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report = run_soak(args.ticks, args.fault_rate, args.seed)
    print(report.table())
    for problem in report.problems[:20]:
        print(f"problem: {problem}")
    print("ok" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
