"""The ``http_json`` source against a local HireFire-format endpoint: a threaded HTTP/1.1
server on loopback serving one constant document, which counts the requests it answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from autoscaler.signals.http_json import build as build_http_json
from benchmarks.sources.harness import Bench, Result, Tally


def serve(document: bytes, served: Tally) -> ThreadingHTTPServer:
    """A server on an ephemeral loopback port answering every GET with ``document``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real app server
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            served.add()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_json(bench: Bench) -> list[Result]:
    document = [
        {"name": "web", "value": 12},
        {"name": "worker", "value": sum(bench.counts)},
        {"name": "mailer", "value": 0},
    ]
    served = Tally()
    server = serve(json.dumps(document).encode(), served)
    bench.cleanup.callback(server.server_close)
    bench.cleanup.callback(server.shutdown)
    url = f"http://127.0.0.1:{server.server_address[1]}/hirefire/bench-token/info"
    source = bench.build(build_http_json, "worker", source="http_json", url=url)
    setup = "local HireFire-format endpoint (constant cost)"
    return [bench.measure("http_json", setup, source, 0.0, lambda: served.total)]
