"""The status page in a real browser: the real web process (``python -m autoscaler web`` on a free
port) serves a day of history the real daemon recorded in the real Redis, and headless Chromium
renders it. The DOM it built must hold a chart per process type (SVG, the dynos line) and the
decisions table; a screenshot is taken too.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it when missing). Without it
the test skips, saying what to install; under CI (``CI=true``) that is a failure.

``SCREENSHOT_TO=docs/status-page.png`` writes the screenshot there (how the one in the docs is made).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import redis

from autoscaler.history import RedisHistory
from autoscaler.state import Lease
from benchmarks.dashboard import DAY, demo_settings, record
from tests.conftest import ROOT, service_unavailable
from tests.test_history import cli_env
from tests.test_web_process import web_process

APP = "my-app"
PASSWORD = "dash-s3cret-0123456789abcdef"
WINDOW = (1200, 1400)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    service_unavailable("Chromium", "install it: apt-get update && apt-get install -y chromium (or run .ci/run)")
    raise AssertionError("unreachable")


def browse(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class Dom(HTMLParser):
    """What the test looks for in the DOM Chromium built: the charts, their paths, the table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.paths: dict[str, list[str]] = {}
        self.rows = 0
        self.cells: list[str] = []
        self._table = False
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg" and "chart" in (found.get("class") or ""):
            self.charts.append(found.get("data-process") or "")
        if tag == "path" and self.charts:
            self.paths.setdefault(found.get("class") or "", []).append(found.get("d") or "")
        if tag == "table" and "decisions" in (found.get("class") or ""):
            self._table = True
        if self._table and tag == "tr":
            self.rows += 1
        if tag == "td":
            self._cell = self._table

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = False
        if tag == "td":
            self._cell = False

    def handle_data(self, data: str) -> None:
        if self._cell and data.strip():
            self.cells.append(data.strip())


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_chromium_renders_the_status_page(redis_url: str, tmp_path: Path) -> None:
    browser = chromium()
    client = redis.Redis.from_url(redis_url)
    try:
        now = time.time()
        ends_at = (17 * 3600 - now % DAY) % DAY  # the recorded day ends at 17:00 of its load, whenever the test runs
        settings = demo_settings(redis_url, app=APP)
        record(settings, RedisHistory(client, APP), start=now - DAY, seconds=DAY, interval=15, shift=ends_at)
        assert Lease(client, APP, ttl=600, owner="worker.1:4:1a2b3c4d").acquire()
    finally:
        client.close()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONUNBUFFERED": "1",
        **cli_env(redis_url, AUTOSCALER_APP=APP, AUTOSCALER_DASHBOARD_PASSWORD=PASSWORD),
    }
    with web_process(env, tmp_path / "web.log") as (url, _proc):
        page = url.replace("http://", f"http://status:{PASSWORD}@") + "/"
        dumped = browse(browser, tmp_path / "profile", "--dump-dom", page)
        shot = Path(os.environ.get("SCREENSHOT_TO") or tmp_path / "status-page.png")
        if not shot.is_absolute():
            shot = ROOT / shot
        taken = browse(
            browser, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page
        )
    assert 0 == dumped.returncode, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    assert ["web", "worker", "mailer"] == dom.charts, dumped.stdout[:2000]
    assert 3 == len(dom.paths["dynos"])
    for d in dom.paths["dynos"]:  # a day of minutes: a long step line of the dynos running
        assert d.startswith("M")
        assert d.count("H") > 100
    assert 3 == len(dom.paths["signal"])
    assert dom.paths.get("ev up"), "no scale-up marked"
    assert 10 <= dom.rows <= 31
    assert any(re.fullmatch(r"\d+ → \d+", cell) for cell in dom.cells), dom.cells[:20]
    assert {"scale_up", "scale_down"} & set(dom.cells)
    assert PASSWORD not in dumped.stdout
    assert 0 == taken.returncode, taken.stderr[-2000:]
    assert WINDOW == png_size(shot)
