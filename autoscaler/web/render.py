"""The status page's HTML: one server-rendered page, no script and nothing fetched from elsewhere
(the charts are inline SVG from :mod:`autoscaler.history.chart`, the style is inline CSS), readable
on a phone. :func:`render_page` is a pure function of the settings and the history read; every
text shown goes through the redactor first. The request handling is :mod:`autoscaler.web.dashboard`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from pydantic import SecretStr

from autoscaler import __version__
from autoscaler.config import ProcessConfig, Settings
from autoscaler.history import History, SignalSpec, Slot, Status, main_signal, signal_value
from autoscaler.history.chart import chart
from autoscaler.history.model import number
from autoscaler.redact import MASK, Redactor, redact_url

DEFAULT_HOURS = 24
EVENTS_SHOWN = 30
REFRESH = 60
"""Seconds between two reloads of an open page."""
RANGES = ((6, "6 h"), (24, "24 h"), (72, "3 days"), (192, "8 days"))

STYLE = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--ok:#15803d;--bad:#b91c1c;--warn:#b45309;
--dynos:#2563eb;--desired:#d97706;--signal:#7c3aed;--target:#dc2626}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}
header{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:baseline;justify-content:space-between}
h1{font-size:1.35rem;margin:4px 0}
h2{font-size:1.1rem;margin:0 0 4px}
h3{font-size:1rem;margin:12px 0 4px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px;margin:12px 0}
.muted,small{color:var(--muted)}
.forecast{color:#1d5fa6}
.ranges a{margin-left:8px}
.ranges a.on{font-weight:600;color:var(--fg);text-decoration:none}
.badges{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0 0;padding:0;list-style:none}
.badge{border-radius:999px;padding:2px 10px;font-size:.85rem;border:1px solid currentColor}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.figures{display:flex;flex-wrap:wrap;gap:4px 20px;margin:4px 0}
.figures b{font-size:1.15rem}
.charts{display:grid;grid-template-columns:minmax(0,1fr);gap:12px}
.charts section{margin:0;min-width:0}
@media (min-width:1000px){.charts.many{grid-template-columns:repeat(2,minmax(0,1fr))}}
.scroll{overflow-x:auto}
svg.chart{width:100%;height:auto;display:block}
svg text{font-size:13px;fill:var(--muted)}
@media (max-width:700px){svg text{font-size:19px}svg .empty{font-size:22px}main{padding:8px}section{padding:10px}}
svg .panel{font-weight:600;fill:var(--fg)}
svg .ylabel{text-anchor:end}
svg .xlabel{text-anchor:middle}
svg .target-label{text-anchor:end;fill:var(--target)}
svg .empty{text-anchor:middle;font-size:15px}
svg .grid{stroke:var(--line);stroke-width:1}
svg .tick{stroke:var(--line);stroke-dasharray:2 3}
svg .axis{stroke:#9ca3af}
svg .dynos{fill:none;stroke:var(--dynos);stroke-width:2}
svg .dynos-area{fill:var(--dynos);fill-opacity:.12;stroke:none}
svg .desired{fill:none;stroke:var(--desired);stroke-width:1.6;stroke-dasharray:5 3}
svg .signal{fill:none;stroke:var(--signal);stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
svg .target{stroke:var(--target);stroke-width:1.3;stroke-dasharray:6 4}
svg .ev.up{fill:var(--ok)} svg .ev.down{fill:var(--dynos)}
svg .ev.dry{fill:#fff;stroke:var(--ok);stroke-width:1.5} svg .ev.down.dry{stroke:var(--dynos)}
svg .ev.failed{stroke:var(--bad);stroke-width:2.5;fill:none}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:.85rem;color:var(--muted);margin:4px 0 0}
.key{display:inline-block;width:18px;height:0;border-top:2px solid;vertical-align:middle;margin-right:4px}
.key.dynos{border-color:var(--dynos)}.key.desired{border-color:var(--desired);border-top-style:dashed}
.key.signal{border-color:var(--signal)}.key.target{border-color:var(--target);border-top-style:dashed}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);white-space:nowrap}
td.num,td.reason{white-space:nowrap}
td code{overflow-wrap:normal}
td.msg{min-width:16em}
code{font-size:.85em;overflow-wrap:anywhere}
dl.settings{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:.9rem}
dl.settings dt{color:var(--muted)}dl.settings dd{margin:0;overflow-wrap:anywhere}
.health li{margin:2px 0}
ul.health{padding-left:1.2em;margin:4px 0}
"""


def _when(at: float, now: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    if abs(now - at) < 86400 and moment.date() == datetime.fromtimestamp(now, UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%d %b %H:%M")


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.0f}"


class _Page:
    """One rendering of the page: the settings, what was read, and the redactor every text goes through."""

    def __init__(self, settings: Settings, redactor: Redactor, now: float) -> None:
        self.settings = settings
        self.redact = redactor
        self.now = now

    def t(self, value: object) -> str:
        """Text for the page: secrets masked, then HTML-escaped."""
        return escape(self.redact(str(value)))

    # --- health and figures --------------------------------------------------------------

    def health(self, history: History, problem: str | None) -> tuple[list[str], list[str]]:
        """(badges, lines) of the daemon's health."""
        status = history.status
        badges: list[str] = []
        lines: list[str] = []
        if problem is not None:
            badges.append('<li class="badge bad">history unreadable</li>')
            lines.append(f'<li class="bad">{self.t(problem)}</li>')
        dry_run = status.dry_run if status is not None else self.settings.dry_run
        badges.append(
            '<li class="badge warn">dry run: nothing is sent</li>' if dry_run else '<li class="badge ok">live</li>'
        )
        if status is None:
            if problem is None:
                badges.append('<li class="badge warn">no tick recorded</li>')
                lines.append(
                    '<li class="warn">No tick recorded yet: is the daemon running (<code>heroku ps</code>) '
                    "with the same state store and <code>AUTOSCALER_APP</code>?</li>"
                )
        else:
            age = self.now - status.at
            stale = age > max(3 * status.interval, 90.0)
            badges.append(
                f'<li class="badge {"bad" if stale else "ok"}">last tick {_ago(age)}</li>'
                if stale
                else f'<li class="badge ok">ticking: {_ago(age)}</li>'
            )
            if stale:
                lines.append(
                    f'<li class="bad">No tick recorded for {_ago(age).removesuffix(" ago")}: the daemon is stopped, '
                    "crashed, or cannot reach the state store.</li>"
                )
            scale_errors = [e for e in status.errors if e.startswith(("formation:", "scale:"))]
            if status.api_ok and not scale_errors:
                lines.append('<li class="ok">Platform API: answering.</li>')
            else:
                badges.append('<li class="badge bad">Platform API failing</li>')
                detail = "; ".join(scale_errors) or "the formation could not be read"
                lines.append(f'<li class="bad">Platform API failing: {self.t(detail)}</li>')
            for name, process in status.processes.items():
                if process.signal_error:
                    badges.append(f'<li class="badge bad">signal of {self.t(name)} unknown</li>')
                    lines.append(
                        f'<li class="bad">Signal of {self.t(name)} unknown: {self.t(process.signal_error)}</li>'
                    )
                else:
                    lines.append(f'<li class="ok">Signal of {self.t(name)}: read.</li>')
            for error in status.errors:
                if not error.startswith(("formation:", "scale:")) and ": signal unknown:" not in error:
                    lines.append(f'<li class="bad">{self.t(error)}</li>')
        leader = history.leader
        recorder = status.instance if status is not None else ""
        by = f" (last recorded by <code>{self.t(recorder)}</code>)" if recorder and recorder != leader else ""
        if leader:
            lines.append(f"<li>Leader: <code>{self.t(leader)}</code>{by}</li>")
        else:
            lines.append(f"<li>Leader: no daemon holds the lease now{by}</li>")
        return badges, lines

    def figures(self, status: Status | None) -> str:
        if status is None or not status.processes:
            return ""
        now = [p.monthly_usd for p in status.processes.values()]
        wanted = [p.desired_monthly_usd for p in status.processes.values()]
        total = None if None in now else sum(v for v in now if v is not None)
        total_wanted = None if None in wanted else sum(v for v in wanted if v is not None)
        dynos = sum(p.current for p in status.processes.values())
        text = [
            f"<div>monthly run-rate <b>{_usd(total)}</b></div>",
            f"<div>as decided <b>{_usd(total_wanted)}</b></div>",
            f"<div>dynos managed <b>{dynos}</b></div>",
        ]
        if self.settings.max_monthly_cost is not None:
            text.append(f"<div>budget <b>{_usd(self.settings.max_monthly_cost)}</b></div>")
        return f'<div class="figures">{"".join(text)}</div>'

    # --- per process type -----------------------------------------------------------------

    def process(self, name: str, slots: Sequence[Slot], status: Status | None, start: float) -> str:
        spec = main_signal(self.settings.processes[name])
        latest = status.processes.get(name) if status is not None else None
        out = [f'<section class="process" id="p-{self.t(name)}"><h2>{self.t(name)}</h2>']
        if latest is not None:
            size = latest.size if latest.size == latest.desired_size else f"{latest.size} → {latest.desired_size}"
            out.append(
                f"<div><b>{latest.current}</b> × {self.t(size)}, wanted <b>{latest.desired}</b> · "
                f"<code>{self.t(latest.reason)}</code> · {_usd(latest.monthly_usd)}/month</div>"
                f'<div class="muted">{self.t(latest.message)}</div>'
            )
            if latest.forecast is not None:
                out.append(f'<div class="forecast">Forecast (PREDICT): {self.t(latest.forecast)}</div>')
        last = slots[-1] if slots else None
        value = signal_value(spec, last) if last is not None else None
        out.append(f'<div class="muted">{self.t(self._signal_text(spec, value))}</div>')
        out.append(f'<div class="scroll">{chart(name, slots, spec, start, self.now)}</div>')
        out.append(
            '<div class="legend"><span><i class="key dynos"></i>dynos</span>'
            '<span><i class="key desired"></i>desired</span>'
            f'<span><i class="key signal"></i>{self.t(spec.label)} (largest of each minute)</span>'
            + ('<span><i class="key target"></i>target</span>' if spec.target is not None else "")
            + "<span>▲▼ scaled · △▽ dry run · ✕ failed</span></div></section>"
        )
        return "".join(out)

    def _signal_text(self, spec: SignalSpec, value: float | None) -> str:
        now = "unknown" if value is None else f"{number(round(value, 2))} {spec.unit}"
        target = "" if spec.target is None else f" (target {number(spec.target)} {spec.unit})"
        return f"{spec.label}: {now}{target}"

    # --- decisions and settings -------------------------------------------------------------

    def decisions(self, history: History) -> str:
        if not history.events:
            return '<p class="muted">No decision recorded yet.</p>'
        rows = []
        for event in history.events[:EVENTS_SHOWN]:
            change = f"{event.current} → {event.desired}" if event.desired != event.current else f"{event.current}"
            if event.size != event.desired_size:
                change += f" ({event.size} → {event.desired_size})"
            outcome = {
                "scaled": '<span class="ok">scaled</span>',
                "dry_run": '<span class="warn">dry run</span>',
                "failed": '<span class="bad">failed</span>',
                "waiting": '<span class="warn">not sent yet</span>',
            }.get(event.outcome, "")
            rows.append(
                f'<tr><td class="num">{_when(event.at, self.now)}</td><td>{self.t(event.process)}</td>'
                f'<td class="num">{self.t(change)}</td>'
                f'<td class="reason"><code>{self.t(event.reason)}</code> {outcome}</td>'
                f'<td class="msg">{self.t(event.message)}</td></tr>'
            )
        return (
            '<div class="scroll"><table class="decisions"><thead><tr><th>time (UTC)</th><th>process</th>'
            "<th>dynos</th><th>reason</th><th>message</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
        )

    def setting_value(self, key: str, value: Any) -> str:
        if isinstance(value, SecretStr):
            return f"set ({MASK})"
        if isinstance(value, str) and "://" in value:
            return self.t(redact_url(value))
        if isinstance(value, list | tuple):
            return self.t(", ".join(str(v) for v in value))
        if isinstance(value, dict):
            return self.t(", ".join(f"{k}={v}" for k, v in value.items()))
        return self.t(value)

    def settings_html(self) -> str:
        s = self.settings
        shown: list[tuple[str, Any]] = [
            ("AUTOSCALER_APP", s.app_name or "not set"),
            ("AUTOSCALER_INTERVAL", f"{number(s.interval)} s"),
            ("AUTOSCALER_DRY_RUN", str(s.dry_run).lower()),
            ("AUTOSCALER_MAX_MONTHLY_COST", _usd(s.max_monthly_cost) if s.max_monthly_cost else "none"),
            ("AUTOSCALER_NOTIFY_URL", s.notify_url if s.notify_url else "not set"),
            ("AUTOSCALER_NOTIFY_AFTER", f"{number(s.notify_after)} s"),
            ("state store", s.effective_state_url or "in memory"),
            ("HEROKU_API_URL", s.heroku_api_url),
            ("HEROKU_API_KEY", s.heroku_api_key if s.heroku_api_key else "not set on this dyno"),
            ("log drain (AUTOSCALER_DRAIN_PASSWORD)", "on" if s.drain_password else "off"),
            ("AUTOSCALER_PRICES", s.prices or "Heroku's list prices"),
            ("AUTOSCALER_LOG_FORMAT / LEVEL", f"{s.log_format} / {s.log_level}"),
        ]
        out = ['<dl class="settings">']
        out += [f"<dt>{self.t(k)}</dt><dd>{self.setting_value(k, v)}</dd>" for k, v in shown]
        out.append("</dl>")
        for name, process in s.processes.items():
            out.append(f"<h3>{self.t(name)}</h3>{self.process_settings(process)}")
        return "".join(out)

    def process_settings(self, process: ProcessConfig) -> str:
        out = ['<dl class="settings">']
        for key, value in process:
            if value is None or value == [] or value == ():
                continue
            out.append(f"<dt>{self.t(key.upper())}</dt><dd>{self.setting_value(key, value)}</dd>")
        out.append("</dl>")
        return "".join(out)


def render_page(
    settings: Settings,
    history: History,
    *,
    now: float,
    hours: int = DEFAULT_HOURS,
    redactor: Redactor | None = None,
    problem: str | None = None,
) -> str:
    """The whole page (a pure function of what was read; the benchmark times it)."""
    page = _Page(settings, redactor or Redactor(settings.secrets()), now)
    start = now - hours * 3600
    badges, lines = page.health(history, problem)
    app = settings.app_name or "(AUTOSCALER_APP not set)"
    ranges = "".join(f'<a href="?hours={h}"{" class=on" if h == hours else ""}>{label}</a>' for h, label in RANGES)
    processes = list(settings.processes)
    charts = "".join(page.process(name, history.slots.get(name, []), history.status, start) for name in processes)
    body = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="refresh" content="{REFRESH}">',
        '<meta name="robots" content="noindex">',
        f"<title>autoscaler · {page.t(app)}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f'<header><h1>autoscaler · {page.t(app)}</h1><nav class="ranges muted">last{ranges}</nav></header>',
        f'<ul class="badges">{"".join(badges)}</ul>',
        page.figures(history.status),
        f'<div class="charts{" many" if len(processes) > 1 else ""}">\0charts\0</div>',
        f"<section><h2>Latest decisions</h2>{page.decisions(history)}</section>",
        f'<section><h2>Health</h2><ul class="health">{"".join(lines)}</ul></section>',
        f"<section><h2>Settings</h2>{page.settings_html()}</section>",
        f"<footer><small>autoscaler {escape(__version__)} · times in UTC · "
        f"this page reloads every {REFRESH} s</small></footer>",
        "</main></body></html>",
    ]
    # Every text was redacted on its way in; the whole page once more, but for the charts (numbers,
    # and their texts already redacted), which are most of its bytes.
    return page.redact("".join(body)).replace("\0charts\0", charts)
