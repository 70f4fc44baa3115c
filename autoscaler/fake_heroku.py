"""A local stand-in for the Platform API, for demos, end-to-end tests and benchmarks.

It serves the few endpoints the autoscaler uses (``GET /account``, ``GET /apps/{app}``,
``GET``/``PATCH /apps/{app}/formation``, ``GET /dyno-sizes``) from memory, checks the
bearer token and the Accept header as Heroku does, and records every PATCH body. It
binds to loopback only. Run it by hand with::

    python -m autoscaler.fake_heroku --port 5111 --app demo-app --token demo-token

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


class FakeHeroku:
    """In-memory state of one fake app, served by :meth:`start`."""

    def __init__(self, app: str, token: str, formation: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.app_id = str(uuid.uuid4())
        self.token = token
        self.formation: dict[str, dict[str, Any]] = {}
        for process, (quantity, size) in (formation or {"worker": (1, "Standard-1X")}).items():
            self.set(process, quantity, size)
        self.patches: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.fault: Callable[[str, str], str | None] | None = None
        """Fault injection: called with (method, path); returns one of FAULTS, or None to answer normally."""
        self.slow_seconds = 1.0
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

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        app_paths = {f"/apps/{self.app}", f"/apps/{self.app_id}"}
        if method == "GET" and path == "/account":
            return 200, {"id": str(uuid.uuid4()), "email": "demo@example.com"}
        if method == "GET" and path == "/dyno-sizes":
            return 200, [_dyno_size(size) for size in sizes.CEDAR_SIZES]
        if method == "GET" and path in app_paths:
            return 200, {"id": self.app_id, "name": self.app, "generation": {"name": "cedar"}}
        if path in {p + "/formation" for p in app_paths}:
            if method == "GET":
                with self.lock:
                    return 200, list(self.formation.values())
            return self._patch(body)
        return 404, {"id": "not_found", "message": "Couldn't find that app."}

    def _patch(self, body: Any) -> tuple[int, Any]:
        updates = body.get("updates") if isinstance(body, dict) else None
        if not isinstance(updates, list):
            return 422, {"id": "invalid_params", "message": "updates is required"}
        with self.lock:
            self.patches.append(body)
            changed = []
            for update in updates:
                process = update.get("type")
                if process not in self.formation:
                    return 404, {"id": "not_found", "message": f"Couldn't find that process type ({process})."}
                entry = self.formation[process]
                size = (update.get("dyno_size") or {}).get("name") or entry["size"]
                self.set(process, int(update.get("quantity", entry["quantity"])), size)
                changed.append(self.formation[process])
            return 200, changed

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", str(uuid.uuid4()))
        handler.send_header("RateLimit-Remaining", "4400")
        handler.end_headers()
        handler.wfile.write(data)


def _dyno_size(size: sizes.DynoSize) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": size.key,
        "memory": size.memory_mb / 1024,
        "cost": {"cents": int(size.monthly_usd * 100), "unit": "month"},
        "dedicated": size.tier not in {sizes.Tier.ECO, sizes.Tier.BASIC, sizes.Tier.STANDARD},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for the Heroku Platform API (loopback only).")
    parser.add_argument("--port", type=int, default=5111)
    parser.add_argument("--app", default="demo-app")
    parser.add_argument("--token", default="demo-token")
    args = parser.parse_args()
    fake = FakeHeroku(args.app, args.token)
    url = fake.start(args.port)
    print(f"fake Platform API for app {args.app!r} on {url} (token {args.token!r}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
