"""Command line: ``python -m autoscaler COMMAND`` (also the ``autoscaler`` console script).

This is the only module that reads the real environment and clock, configures logging
for the process and calls ``sys.exit``. Exit status: 0 ok, 1 a tick or a check failed,
2 invalid configuration or usage (every problem on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from autoscaler import __version__, logs, plan, simulate, tune
from autoscaler.clock import SystemClock
from autoscaler.config import DEFAULT_API_URL, Settings, load_settings, require_runtime, resolve_token, token_problem
from autoscaler.daemon import Daemon, TickResult
from autoscaler.decision_log import decision_fields
from autoscaler.errors import ConfigError, HerokuError, SignalError
from autoscaler.heroku import HerokuClient
from autoscaler.history import HistoryStore, MemoryHistory, RedisHistory
from autoscaler.history import cli as history_cli
from autoscaler.loop import Stopper, run_forever
from autoscaler.notify import Notifier, NullNotifier, WebhookNotifier
from autoscaler.redact import Redactor
from autoscaler.signals import Reading
from autoscaler.signals.build import SIGNAL_TIMEOUT, build_sources
from autoscaler.signals.redis_conn import connect
from autoscaler.state import LEASE_MIN_TTL, Lease, MemoryState, RedisState, StateStore
from autoscaler.urls import check_api_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoscaler",
        description="Keeps a Heroku app's formation the right size. Configured by environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"autoscaler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="the daemon: one tick every AUTOSCALER_INTERVAL seconds until SIGTERM")
    commands.add_parser("once", help="exactly one tick, then exit (for Heroku Scheduler or cron)")
    check = commands.add_parser("check", help="validate configuration, token, app and signals; never scales")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    web = commands.add_parser("web", help="the optional web process: receives the scaled app's log drain on $PORT")
    web.add_argument("--host", default=None, help="address to listen on (default: every interface, as Heroku needs)")
    history_cli.configure_parser(
        commands.add_parser("history", help="what the daemon saw and did, a row per process type and minute")
    )
    plan.configure_parser(
        commands.add_parser("plan", help="the cheapest dyno size and count for a RAM-bound app (offline)")
    )
    simulate.configure_parser(
        commands.add_parser("simulate", help="what each scaling policy would have done to a workload (offline)")
    )
    tune.configure_parser(
        commands.add_parser("tune", help="better settings for a process type, found by simulating the daemon (offline)")
    )
    return parser


class _Runtime:
    """Everything run/once/check need, built from validated settings."""

    def __init__(self, settings: Settings, token: str, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self.api = HerokuClient(token, base_url=settings.heroku_api_url)
        self.sources = build_sources(settings)
        self.state_client = None
        if settings.effective_state_url:  # built (no socket yet) for check too, so it refuses what run refuses
            try:
                self.state_client = connect(settings.effective_state_url, timeout=SIGNAL_TIMEOUT)
            except SignalError as exc:
                raise ConfigError([f"AUTOSCALER_STATE_URL: {exc}"]) from None

    def daemon(self, *, shared: bool = True) -> Daemon:
        """The daemon; ``shared=False`` (for ``check``) keeps state in memory and takes no lease,
        so a check leaves nothing behind for the running daemon."""
        settings = self.settings
        state: StateStore = MemoryState()
        lease = None
        recorded: HistoryStore | None = MemoryHistory() if shared else None
        if shared and self.state_client is not None:
            app = settings.app_name or ""
            state = RedisState(self.state_client, app)
            lease = Lease(self.state_client, app, ttl=max(settings.interval, LEASE_MIN_TTL))
            recorded = RedisHistory(self.state_client, app)
        notifier: Notifier = NullNotifier()
        if shared and settings.notify_url is not None:
            notifier = WebhookNotifier(settings.notify_url.get_secret_value(), settings.app_name or "")
        return Daemon(
            settings,
            self.api,
            self.sources,
            clock=SystemClock(),
            state=state,
            lease=lease,
            notifier=notifier,
            history=recorded,
        )

    def close(self) -> None:
        self.api.close()


def _prepare(env: Mapping[str, str], stream: TextIO, *, quiet: bool = False) -> _Runtime:
    """Validate everything run, once and check need, alike for all three; ``quiet`` logs only
    warnings and errors (``check`` prints its own report)."""
    settings = load_settings(env)
    token = resolve_token(settings)
    require_runtime(settings, token)
    assert token is not None  # require_runtime raised otherwise
    redactor = Redactor([token, *settings.secrets()])
    logs.configure(settings.log_format, "warning" if quiet else settings.log_level, redactor, stream)
    return _Runtime(settings, token, redactor)


def cmd_run(env: Mapping[str, str], out: TextIO) -> int:
    runtime = _prepare(env, out)
    stopper = Stopper()
    stopper.install()
    try:
        clean = run_forever(runtime.daemon(), stopper)
    finally:
        stopper.restore()
        runtime.close()
    if not clean:  # a tick's thread is still running and would hold the interpreter open
        sys.stdout.flush()
        os._exit(0)
    return 0


def cmd_once(env: Mapping[str, str], out: TextIO) -> int:
    runtime = _prepare(env, out)
    predicting = [name for name, process in runtime.settings.processes.items() if process.predict]
    if predicting:
        logs.get_logger().warning(
            "predict_needs_run",
            processes=",".join(predicting),
            message="PREDICT learns from a tick every few seconds: `once` records too seldom to forecast",
        )
    daemon = runtime.daemon()
    try:
        result: TickResult = daemon.tick()
    finally:
        daemon.close()
        runtime.close()
    return 0 if result.ok else 1


def _check(runtime: _Runtime) -> dict[str, Any]:
    """Every check of ``check``, as the JSON object it prints: the token, the app, then the first two
    steps of the daemon's own tick (observe, decide) on a daemon that keeps its state in memory.
    Never PATCHes."""
    settings, api = runtime.settings, runtime.api
    app = settings.app_name or ""
    errors: list[str] = []
    try:
        api.account()
    except HerokuError as exc:
        errors.append(f"token (GET /account): {exc}")
    try:
        api.app(app)
    except HerokuError as exc:
        errors.append(f"app {app}: {exc}")
    daemon = runtime.daemon(shared=False)
    observed = daemon.observe(read_without_formation=True)
    if observed.formation_error is not None and not errors:
        errors.append(f"formation of {app}: {observed.formation_error}")
    errors += observed.errors
    unread = Reading.unknown(0.0, "not read")  # a process type missing from the formation
    processes = {
        name: _reading_report(observed.readings.get(name, unread), process.source)
        for name, process in settings.processes.items()
    }
    for decision in daemon.decide(observed.observations, observed.formation or {}):
        processes[decision.process].update(quantity=decision.current, **decision_fields(decision))
    for entry in processes.values():
        if entry["quantity"] is None:  # no decision: say why, for the report
            read = observed.formation is not None
            entry["message"] = f"not in the formation of {app}" if read else "the formation could not be read"
    return {"ok": not errors, "app": app, "processes": processes, "errors": [runtime.redactor(e) for e in errors]}


def _reading_report(reading: Reading, source: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "quantity": None,
        "size": None,
        "depth": reading.depth,
        "latency": reading.latency,
        "busy": reading.busy,
        "desired": None,
        "desired_size": None,
        "reason": None,
        "message": None,
    }
    if reading.latency_is_lower_bound:
        entry["latency_is_lower_bound"] = True
    if source == "web":
        entry.update(reading.web_fields())
    elif source == "router":
        entry.update(reading.router_fields())
    return entry


def _shown(value: object) -> str:
    """A reading as a person reads it: "unknown" for no value, numbers rounded."""
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _print_check(report: Mapping[str, Any], out: TextIO) -> None:
    out.write(f"app: {report['app']}\n")
    for name, p in report["processes"].items():
        signals = " ".join(
            f"{key}={_shown(p[key])}"
            for key in ("depth", "latency", "busy", "rate", "queue_time_p95", "app_time", "response_time_p95")
            if key in p and (key in {"depth", "latency", "busy"} or p[key] is not None)
        )
        if p["quantity"] is None:
            out.write(f"{name}: {p['message']}  {signals}\n")
            continue
        out.write(
            f"{name}: {p['quantity']} x {p['size']}  {signals}  → desired {p['desired']} x {p['desired_size']} "
            f"({p['reason']}: {p['message']})\n"
        )
    for error in report["errors"]:
        out.write(f"FAILED: {error}\n")
    out.write("ok\n" if report["ok"] else f"{len(report['errors'])} check(s) failed\n")


def cmd_check(env: Mapping[str, str], out: TextIO, as_json: bool) -> int:
    runtime = _prepare(env, sys.stderr, quiet=True)
    try:
        report = _check(runtime)
    finally:
        runtime.close()
    if as_json:
        out.write(runtime.redactor(json.dumps(report)) + "\n")
    else:
        text = io.StringIO()
        _print_check(report, text)
        out.write(runtime.redactor(text.getvalue()))
    return 0 if report["ok"] else 1


def cmd_web(env: Mapping[str, str], host: str | None) -> int:
    from autoscaler.web.server import PUBLIC_HOST, serve  # starlette and uvicorn: only for this command

    return serve(env, host=host or PUBLIC_HOST)


def _live_sizes(env: Mapping[str, str]) -> Callable[[], list[tuple[str, float | None, float | None]]] | None:
    """For ``plan --live``: a reader of ``GET /dyno-sizes`` with the configured token, or None without one."""
    token = (env.get("HEROKU_API_KEY") or "").strip()
    if not token:
        return None
    base_url = env.get("HEROKU_API_URL") or DEFAULT_API_URL

    def fetch() -> list[tuple[str, float | None, float | None]]:
        problems = [f"HEROKU_API_URL: {check_api_url(base_url)}"] if check_api_url(base_url) else []
        problems += [f"HEROKU_API_KEY: {token_problem(token)}"] if token_problem(token) else []
        if problems:
            raise ConfigError(problems)
        try:
            with HerokuClient(token, base_url=base_url) as client:
                return [(s.name, s.memory_gb, s.monthly_usd) for s in client.dyno_sizes()]
        except HerokuError as exc:
            raise ConfigError([f"--live: GET /dyno-sizes failed: {Redactor([token])(str(exc))}"]) from None

    return fetch


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point. Returns the exit status (the console script passes it to sys.exit)."""
    args = _parser().parse_args(argv)
    environ = dict(os.environ if env is None else env)
    out = sys.stdout
    try:
        if args.command == "run":
            return cmd_run(environ, out)
        if args.command == "once":
            return cmd_once(environ, out)
        if args.command == "check":
            return cmd_check(environ, out, args.json)
        if args.command == "web":
            return cmd_web(environ, args.host)
        if args.command == "simulate":
            return simulate.run(args, out, environ)
        if args.command == "tune":
            return tune.run(args, out, environ)
        if args.command == "history":
            return history_cli.run(args, out, environ, err=sys.stderr, clock=SystemClock().time)
        if args.command == "plan":
            return plan.run(args, out, environ, fetch_sizes=_live_sizes(environ))
    except ConfigError as exc:
        sys.stderr.write("autoscaler: invalid configuration or usage:\n")
        for problem in exc.problems:
            sys.stderr.write(f"  {problem}\n")
        return 2
    raise AssertionError(f"unhandled command {args.command}")  # argparse only allows the above


if __name__ == "__main__":
    sys.exit(main())
