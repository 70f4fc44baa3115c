"""A local stand-in for the Platform API, for demos, end-to-end tests and benchmarks.

It serves the endpoints the autoscaler uses from memory: ``GET /account``, ``GET /apps/{app}``
(with the app's ``generation``, Cedar or Fir), ``GET``/``PATCH /apps/{app}/formation``,
``GET /dyno-sizes`` and ``GET /apps/{app}/available-dyno-sizes`` (the catalogue's sizes and
prices, or ``prices`` of its own), ``GET /apps/{app}/dynos`` (the formation's dynos and the
``one_offs`` running) and ``GET /account/rate-limits`` (``rate_remaining``, also sent as
``RateLimit-Remaining``; with ``spend_tokens`` every other request spends one and an empty
bucket answers 429). A PATCH is refused with a 422 as Heroku refuses it: above the app's or
the size's dyno limit, with a size of the other generation, and during a deploy's release
phase and preboot (:meth:`FakeHeroku.deploy`). It checks the bearer token and the Accept
header as Heroku does, and records every PATCH body. It binds to loopback only. Run it by
hand with::

    python -m autoscaler.fake_heroku --port 5111 --app demo-app --token demo-token [--generation fir]

then point the autoscaler at it with ``HEROKU_API_URL=http://127.0.0.1:5111``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from autoscaler import sizes

ACCEPT = "application/vnd.heroku+json; version=3"
FAULTS = ("500", "503", "429", "401", "malformed", "slow", "reset")
PREBOOT_LOCK_MESSAGE = "Cannot change formation for a preboot app until release phase and preboot complete."
BUCKET = 4500
"""Tokens in an account's rate-limit bucket when full."""
REFILL_PER_SECOND = BUCKET / 3600


class FakeHeroku:
    """In-memory state of one fake app, served by :meth:`start`."""

    def __init__(
        self,
        app: str,
        token: str,
        formation: dict[str, tuple[int, str]] | None = None,
        *,
        generation: str = "cedar",
    ) -> None:
        self.app = app
        self.app_id = str(uuid.uuid4())
        self.token = token
        self.generation = sizes.Generation(generation)
        self.formation: dict[str, dict[str, Any]] = {}
        for process, (quantity, size) in (formation or {"worker": (1, "Standard-1X")}).items():
            self.set(process, quantity, size)
        self.patches: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.fault: Callable[[str, str], str | None] | None = None
        """Fault injection: called with (method, path); returns one of FAULTS, or None to answer normally."""
        self.slow_seconds = 1.0
        self.prices: dict[str, float | None] = {}
        """Monthly USD by size key for available-dyno-sizes, replacing the catalogue's; None: no cost given."""
        self.one_offs: list[dict[str, str]] = []
        """One-off dynos running now (``run.1234``, ``scheduler.5678``), listed by ``GET /apps/{app}/dynos``."""
        self.rate_remaining = 4400
        self.spend_tokens = False
        """Count tokens as Heroku does: every request but ``/account/rate-limits`` spends one, refilled at 1.25/s."""
        self._refilled_at = time.monotonic()
        self.preboot_until = 0.0
        """``time.monotonic()`` until which PATCHes are refused as during a preboot deploy."""
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def set(self, process: str, quantity: int, size: str) -> None:
        """Change the formation directly (as ``heroku ps:scale`` would)."""
        self.formation[process] = {
            "id": str(uuid.uuid4()),
            "type": process,
            "quantity": quantity,
            "size": size,
            "dyno_size": {"id": str(uuid.uuid4()), "name": size},
            "command": f"run-{process}",
            "app": {"id": self.app_id, "name": self.app},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }

    def quantities(self) -> dict[str, int]:
        with self.lock:
            return {name: int(entry["quantity"]) for name, entry in self.formation.items()}

    def run_one_off(self, name: str, size: str = "Standard-1X", state: str = "up") -> None:
        """A one-off dyno starts: ``run.1234`` (``heroku run``) or ``scheduler.5678`` (a Scheduler job)."""
        with self.lock:
            self.one_offs.append({"name": name, "type": name.split(".")[0], "size": size, "state": state})

    def deploy(self, seconds: float) -> None:
        """A deploy of a preboot app: formation changes are refused for ``seconds`` from now."""
        self.preboot_until = time.monotonic() + seconds

    def calls(self, path_suffix: str = "") -> int:
        """Requests received whose path ends with ``path_suffix`` (every request by default)."""
        with self.lock:
            return sum(1 for _, path in self.requests if path.endswith(path_suffix))

    # --- serving --------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 in a background thread; returns the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hung up (a timeout it chose) is not the stand-in's problem

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-heroku", daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?")[0].rstrip("/")
        with self.lock:
            self.requests.append((method, path))
        fault = self.fault(method, path) if self.fault is not None else None
        if fault is not None:
            return self._inject(handler, fault)
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(handler, 401, {"id": "unauthorized", "message": "Invalid credentials provided."})
        if handler.headers.get("Accept") != ACCEPT:
            return self._send(handler, 406, {"id": "not_acceptable", "message": "Missing or bad Accept header."})
        if not self._spend(path):
            return self._send(handler, 429, {"id": "rate_limit", "message": "Your account reached the API rate limit."})
        body: Any = None
        if method == "PATCH":
            length = int(handler.headers.get("Content-Length") or 0)
            try:
                body = json.loads(handler.rfile.read(length) or b"null")
            except json.JSONDecodeError:
                return self._send(handler, 400, {"id": "bad_request", "message": "Invalid JSON."})
        status, payload = self._route(method, path, body)
        self._send(handler, status, payload)

    def _inject(self, handler: BaseHTTPRequestHandler, fault: str) -> None:
        if fault == "reset":  # close the connection without an answer
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "malformed":
            data = b'[{"type": "worker", "quantity": '
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        status, error_id = {
            "500": (500, "internal_server_error"),
            "503": (503, "service_unavailable"),
            "429": (429, "rate_limit"),
            "401": (401, "unauthorized"),
            "slow": (503, "service_unavailable"),
        }[fault]
        self._send(handler, status, {"id": error_id, "message": f"injected {fault}"})

    def _spend(self, path: str) -> bool:
        """With ``spend_tokens``: refill the bucket, then take a token (``/account/rate-limits`` is free).
        False when the bucket is empty."""
        with self.lock:
            if not self.spend_tokens:
                return True
            now = time.monotonic()
            refill = int((now - self._refilled_at) * REFILL_PER_SECOND)
            if refill:
                self.rate_remaining = min(BUCKET, self.rate_remaining + refill)
                self._refilled_at = now
            if path == "/account/rate-limits":
                return True
            if self.rate_remaining <= 0:
                return False
            self.rate_remaining -= 1
            return True

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        app_paths = {f"/apps/{self.app}", f"/apps/{self.app_id}"}
        if method == "GET" and path == "/account":
            return 200, {"id": str(uuid.uuid4()), "email": "demo@example.com"}
        if method == "GET" and path == "/account/rate-limits":
            return 200, {"remaining": self.rate_remaining}
        if method == "GET" and path == "/dyno-sizes":
            return 200, [size_entry(size) for size in sizes.ALL_SIZES]
        if method == "GET" and path in app_paths:
            generation = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.generation)), "name": self.generation.value}
            return 200, {"id": self.app_id, "name": self.app, "generation": generation}
        if method == "GET" and path in {p + "/available-dyno-sizes" for p in app_paths}:
            return 200, self._available()
        if method == "GET" and path in {p + "/dynos" for p in app_paths}:
            return 200, self._dynos()
        if path in {p + "/formation" for p in app_paths}:
            if method == "GET":
                with self.lock:
                    return 200, list(self.formation.values())
            return self._patch(body)
        return 404, {"id": "not_found", "message": "Couldn't find that app."}

    def _available(self) -> list[dict[str, Any]]:
        """The sizes of the app's generation it may use outside a Private Space (all of Fir's)."""
        space_only = {sizes.Tier.PRIVATE, sizes.Tier.SHIELD}
        return [
            size_entry(size, self.prices.get(size.key), priced=self.prices.get(size.key, 0.0) is not None)
            for size in sizes.sizes_of(self.generation)
            if size.tier not in space_only
        ]

    def _dynos(self) -> list[dict[str, Any]]:
        with self.lock:
            dynos = [
                {"name": f"{entry['type']}.{n}", "type": entry["type"], "size": entry["size"], "state": "up"}
                for entry in self.formation.values()
                for n in range(1, int(entry["quantity"]) + 1)
            ]
            return [dict(dyno, id=str(uuid.uuid4())) for dyno in dynos + self.one_offs]

    def _patch(self, body: Any) -> tuple[int, Any]:
        updates = body.get("updates") if isinstance(body, dict) else None
        if not isinstance(updates, list):
            return 422, {"id": "invalid_params", "message": "updates is required"}
        with self.lock:
            self.patches.append(body)
            if time.monotonic() < self.preboot_until:
                return 422, {"id": "invalid_params", "message": PREBOOT_LOCK_MESSAGE}
            wanted = {name: (int(entry["quantity"]), str(entry["size"])) for name, entry in self.formation.items()}
            for update in updates:
                process = update.get("type")
                if process not in self.formation:
                    return 404, {"id": "not_found", "message": f"Couldn't find that process type ({process})."}
                quantity, size = wanted[process]
                size = (update.get("dyno_size") or {}).get("name") or size
                wanted[process] = (int(update.get("quantity", quantity)), size)
            refusal = limit_refusal(wanted, self.generation)
            if refusal is not None:
                return 422, {"id": "invalid_params", "message": refusal}
            for update in updates:
                self.set(update["type"], *wanted[update["type"]])
            return 200, [self.formation[update["type"]] for update in updates]

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", str(uuid.uuid4()))
        handler.send_header("RateLimit-Remaining", str(self.rate_remaining))
        handler.end_headers()
        handler.wfile.write(data)


def size_entry(size: sizes.DynoSize, price: float | None = None, *, priced: bool = True) -> dict[str, Any]:
    """One dyno size as ``/dyno-sizes`` and ``/apps/{app}/available-dyno-sizes`` answer it: the
    catalogue's memory, vCPUs and generation, and ``price`` (else the catalogue's) as monthly cents,
    or no cost at all when not ``priced``."""
    monthly = size.monthly_usd if price is None else price
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, size.key)),
        "name": size.name,
        "memory": size.memory_mb / 1024,
        "compute": size.compute or 1,
        "architecture": "amd64",
        "dedicated": size.tier not in {sizes.Tier.ECO, sizes.Tier.BASIC, sizes.Tier.STANDARD},
        "private_space_only": size.tier in {sizes.Tier.PRIVATE, sizes.Tier.SHIELD, sizes.Tier.FIR},
        "generation": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, size.generation)), "name": size.generation.value},
        "cost": {"cents": round(monthly * 100), "unit": "month"} if priced else None,
    }


def limit_refusal(formation: dict[str, tuple[int, str]], generation: sizes.Generation) -> str | None:
    """Why Heroku refuses this formation (``{type: (quantity, size)}``): more dynos than the app's
    generation runs, more of a size than it runs per process type, or a size of the other
    generation; None when it accepts it. (The wording is the stand-in's own.)"""
    app_limit = generation.app_limit
    if sum(quantity for quantity, _ in formation.values()) > app_limit:
        return f"Cannot run more than {app_limit} dynos in one {generation.value.capitalize()} app."
    for process, (quantity, name) in formation.items():
        size = sizes.lookup(name)
        if size is None:
            continue
        if size.generation is not generation:
            return f"{size.name} dynos are not available to a {generation.value.capitalize()} app."
        if size.max_per_type is not None and quantity > size.max_per_type:
            return f"Cannot run more than {size.max_per_type} {size.name} dynos of process type {process}."
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for the Heroku Platform API (loopback only).")
    parser.add_argument("--port", type=int, default=5111)
    parser.add_argument("--app", default="demo-app")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--generation", choices=[g.value for g in sizes.Generation], default="cedar")
    args = parser.parse_args()
    fake = FakeHeroku(args.app, args.token, generation=args.generation)
    url = fake.start(args.port)
    print(f"fake Platform API for app {args.app!r} on {url} (token {args.token!r}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
