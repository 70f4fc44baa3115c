"""Settings: every variable, defaults, precedence, and each kind of invalid value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.config import (
    ALL_FIELDS,
    DEFAULT_API_URL,
    RQSettings,
    Settings,
    env_name,
    load_settings,
    require_runtime,
    resolve_token,
)
from autoscaler.errors import ConfigError
from autoscaler.urls import check_api_url

from .conftest import ROOT

WORKER = {
    "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
    "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "5",
    "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    return info.value.problems


def test_defaults() -> None:
    """Without optional variables every documented default applies."""
    settings = load_settings(WORKER)
    assert (
        DEFAULT_API_URL,
        2.0,
        False,
        "logfmt",
        "info",
        None,
        None,
    ) == (
        settings.heroku_api_url,
        settings.interval,
        settings.dry_run,
        settings.log_format,
        settings.log_level,
        settings.max_monthly_cost,
        settings.notify_url,
    )
    worker = settings.processes["worker"]
    assert (1, 5, 300.0, ["default"], None) == (
        worker.min_dynos,
        worker.max_dynos,
        worker.downscale_delay,
        worker.queue_names(),
        worker.size,
    )


def test_every_global_variable_is_read() -> None:
    """Each documented global variable lands in its setting."""
    env = {
        **WORKER,
        "HEROKU_API_KEY": "HRKU-abc",
        "HEROKU_API_URL": "http://127.0.0.1:5000",
        "AUTOSCALER_APP": "my-app",
        "AUTOSCALER_INTERVAL": "30",
        "AUTOSCALER_DRY_RUN": "yes",
        "AUTOSCALER_LOG_FORMAT": "JSON",
        "AUTOSCALER_LOG_LEVEL": "debug",
        "AUTOSCALER_MAX_MONTHLY_COST": "500",
        "AUTOSCALER_NOTIFY_URL": "https://hooks.slack.com/services/T/B/X",
        "AUTOSCALER_STATE_URL": "redis://state:6379",
        "DATABASE_URL": "postgres://u:p@db/x",
        "CLOUDAMQP_URL": "amqps://u:p@mq/v",
        "AUTOSCALER_PRICES": '{"standard-2x": 45}',
        "WEB_CONCURRENCY": "4",
    }
    s = load_settings(env)
    assert ({"standard-2x": 45.0}, 4) == (s.prices, s.web_concurrency)
    assert s.heroku_api_key is not None
    assert s.notify_url is not None
    assert (
        "HRKU-abc",
        "http://127.0.0.1:5000",
        "my-app",
        30.0,
        True,
        "json",
        "debug",
        500.0,
        "https://hooks.slack.com/services/T/B/X",
        "redis://state:6379",
        "postgres://u:p@db/x",
        "amqps://u:p@mq/v",
    ) == (
        s.heroku_api_key.get_secret_value(),
        s.heroku_api_url,
        s.app_name,
        s.interval,
        s.dry_run,
        s.log_format,
        s.log_level,
        s.max_monthly_cost,
        s.notify_url.get_secret_value(),
        s.effective_state_url,
        s.database_url,
        s.cloudamqp_url,
    )


def test_every_process_field_is_read() -> None:
    """Each documented per-process field lands in the process's settings."""
    env = {
        "REDIS_URL": "redis://h:6379",
        "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
        "AUTOSCALER_PROCESSES__WORKER__QUEUES": "high, default",
        "AUTOSCALER_PROCESSES__WORKER__URL": "redis://other:6379/2",
        "AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS": "0",
        "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "12",
        "AUTOSCALER_PROCESSES__WORKER__SIZE": "standard-2x",
        "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "50",
        "AUTOSCALER_PROCESSES__WORKER__MAX_LATENCY": "30",
        "AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY": "600",
        "AUTOSCALER_PROCESSES__WORKER__CONCURRENCY": "4",
        "AUTOSCALER_PROCESSES__WORKER__PREFIX": "myrq",
        "AUTOSCALER_PROCESSES__WORKER__VERIFY_TLS": "true",
    }
    s = load_settings(env)
    w = s.processes["worker"]
    assert isinstance(w, RQSettings)
    assert (
        ["high", "default"],
        "redis://other:6379/2",
        0,
        12,
        "Standard-2X",
        50.0,
        30.0,
        600.0,
        4,
        "myrq",
        True,
    ) == (
        w.queue_names(),
        s.source_url(w),
        w.min_dynos,
        w.max_dynos,
        w.size,
        w.jobs_per_dyno,
        w.max_latency,
        w.downscale_delay,
        w.concurrency,
        s.rq_prefix(w),
        w.verify_tls,
    )


def test_web_processes_per_dyno_defaults_to_web_concurrency() -> None:
    """A web process without PROCESSES_PER_DYNO takes WEB_CONCURRENCY, as gunicorn does."""
    env = {
        "REDIS_URL": "redis://h:6379",
        "WEB_CONCURRENCY": "3",
        "AUTOSCALER_PROCESSES": '{"web": {"source": "web", "max_dynos": 5, "queue_time_ms": 50},'
        ' "api": {"source": "web", "max_dynos": 5, "queue_time_ms": 50, "processes_per_dyno": 8}}',
    }
    processes = load_settings(env).processes
    assert (3, 8) == (processes["web"].processes_per_dyno, processes["api"].processes_per_dyno)


def test_schedules_are_validated() -> None:
    """A schedule with a bad cron or time zone names the variable."""
    env = {**WORKER, "AUTOSCALER_PROCESSES__WORKER__SCHEDULES": '[{"cron": "61 * * * *", "duration": 60}]'}
    assert problems(env)[0].startswith("AUTOSCALER_PROCESSES__WORKER__SCHEDULES (0.cron): invalid cron")
    env = {
        **WORKER,
        "AUTOSCALER_PROCESSES__WORKER__SCHEDULES": '[{"cron": "0 8 * * *", "duration": 60, "timezone": "Mars/Base"}]',
    }
    assert problems(env)[0].startswith("AUTOSCALER_PROCESSES__WORKER__SCHEDULES (0.timezone): unknown time zone")


def test_app_defaults_to_heroku_app_name() -> None:
    """AUTOSCALER_APP falls back to HEROKU_APP_NAME (runtime-dyno-metadata)."""
    assert "from-meta" == load_settings({**WORKER, "HEROKU_APP_NAME": "from-meta"}).app_name


def test_redis_tls_url_wins_over_redis_url() -> None:
    """Heroku Redis: REDIS_TLS_URL is used before REDIS_URL, for sources and state."""
    s = load_settings({**WORKER, "REDIS_TLS_URL": "rediss://:p@tls:6380"})
    assert ("rediss://:p@tls:6380", "rediss://:p@tls:6380") == (
        s.source_url(s.processes["worker"]),
        s.effective_state_url,
    )


def test_state_url_defaults_to_memory_without_redis() -> None:
    """Without AUTOSCALER_STATE_URL or a Redis add-on, state is in memory (None)."""
    env = {**WORKER, "AUTOSCALER_PROCESSES__WORKER__URL": "redis://x:6379"}
    del env["REDIS_URL"]
    assert load_settings(env).effective_state_url is None


def test_json_map_and_nested_variables_merge() -> None:
    """AUTOSCALER_PROCESSES JSON and per-field variables combine; the per-field variable wins."""
    env = {
        "REDIS_URL": "redis://h:6379",
        "AUTOSCALER_PROCESSES": '{"worker": {"source": "rq", "max_dynos": 10, "jobs_per_dyno": 50}}',
        "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "3",
    }
    w = load_settings(env).processes["worker"]
    assert (3, 50.0) == (w.max_dynos, w.jobs_per_dyno)


def test_process_type_names_are_case_insensitive() -> None:
    """AUTOSCALER_PROCESSES__Worker__... and __WORKER__ name the same process, `worker`."""
    env = {
        "REDIS_URL": "redis://h:6379",
        "AUTOSCALER_PROCESSES__Worker__SOURCE": "rq",
        "autoscaler_processes__WORKER__max_dynos": "2",
        "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "5",
    }
    assert ["worker"] == list(load_settings(env).processes)


def test_queues_accept_a_json_list() -> None:
    """QUEUES may be a JSON list as well as comma-separated names."""
    env = {**WORKER, "AUTOSCALER_PROCESSES__WORKER__QUEUES": '["a", "b"]'}
    assert ["a", "b"] == load_settings(env).processes["worker"].queue_names()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS": "6"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: must be >= MIN_DYNOS (6)",
            id="max below min",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "lots"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: must be a whole number, got 'lots'",
            id="not a number",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS": "-1"},
            "AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS: must be >= 0, got '-1'",
            id="negative",
        ),
        pytest.param(
            {"AUTOSCALER_INTERVAL": "0.5"},
            "AUTOSCALER_INTERVAL: must be >= 1, got '0.5'",
            id="interval below 1",
        ),
        pytest.param(
            {"AUTOSCALER_INTERVAL": "60", "AUTOSCALER_PROCESSES__WORKER__PREDICT": "true"},
            "AUTOSCALER_PROCESSES__WORKER__PREDICT: the forecast learns and judges minute by minute and needs a "
            "tick at least every 30s; AUTOSCALER_INTERVAL is 60",
            id="predict with a slow tick",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__PREDICT": "maybe"},
            "AUTOSCALER_PROCESSES__WORKER__PREDICT: must be true or false (also 1/0, yes/no, on/off)",
            id="bad predict",
        ),
        pytest.param(
            {"AUTOSCALER_DRY_RUN": "maybe"},
            "AUTOSCALER_DRY_RUN: must be true or false (also 1/0, yes/no, on/off)",
            id="bad boolean",
        ),
        pytest.param(
            {"AUTOSCALER_LOG_FORMAT": "xml"},
            "AUTOSCALER_LOG_FORMAT: must be one of 'logfmt', 'json' or 'console'",
            id="bad log format",
        ),
        pytest.param(
            {"AUTOSCALER_LOG_LEVEL": "loud"},
            "AUTOSCALER_LOG_LEVEL: must be one of 'debug', 'info', 'warning' or 'error'",
            id="bad log level",
        ),
        pytest.param(
            {"AUTOSCALER_MAX_MONTHLY_COST": "0"},
            "AUTOSCALER_MAX_MONTHLY_COST: must be > 0, got '0'",
            id="zero budget",
        ),
        pytest.param(
            {"HEROKU_API_URL": "http://api.heroku.com"},
            "HEROKU_API_URL: must use https:// (http:// is accepted only for loopback hosts), "
            "got 'http://api.heroku.com'",
            id="plain http to a remote host",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SIZE": "huge"},
            "AUTOSCALER_PROCESSES__WORKER__SIZE: unknown dyno size 'huge'; known sizes: eco, basic,",
            id="unknown size",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SOURCE": "kafka"},
            "AUTOSCALER_PROCESSES__WORKER__SOURCE: must be one of rq, celery, dramatiq, redis_list, sql, http_json, "
            "web, router, got 'kafka'",
            id="unknown source",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__MAXDYNOS": "3"},
            "AUTOSCALER_PROCESSES__WORKER__MAXDYNOS: unknown setting of process type 'worker'; "
            "did you mean AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS?",
            id="misspelt field",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "0"},
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO: must be > 0, got '0'",
            id="zero target",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES": "{not json"},
            "AUTOSCALER_PROCESSES: not valid JSON",
            id="bad JSON map",
        ),
    ],
)
def test_invalid_value_is_named(env: dict[str, str], expected: str) -> None:
    """Each kind of invalid value gives a line that names the variable and what is wrong."""
    found = problems({**WORKER, **env})
    assert any(line.startswith(expected) for line in found), found


def test_missing_target_is_reported() -> None:
    """A process needs at least one target."""
    env = dict(WORKER)
    del env["AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO"]
    assert [
        "AUTOSCALER_PROCESSES__WORKER: needs at least one target: set "
        "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO or AUTOSCALER_PROCESSES__WORKER__MAX_LATENCY"
    ] == problems(env)


def test_missing_max_dynos_is_required() -> None:
    """MAX_DYNOS has no default."""
    env = dict(WORKER)
    del env["AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS"]
    assert ["AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: required"] == problems(env)


def test_missing_redis_url_is_reported() -> None:
    """An rq source without URL, REDIS_TLS_URL or REDIS_URL is an error, not a silent localhost."""
    env = dict(WORKER)
    del env["REDIS_URL"]
    assert ["AUTOSCALER_PROCESSES__WORKER__URL: required: set it, or REDIS_TLS_URL / REDIS_URL"] == problems(env)


def test_no_process_is_an_error() -> None:
    """Nothing to scale is a configuration error."""
    assert problems({})[0].startswith("AUTOSCALER_PROCESSES: no process type configured")


def test_every_problem_is_listed_at_once() -> None:
    """Several invalid variables give one line each, not just the first."""
    found = problems({**WORKER, "AUTOSCALER_INTERVAL": "x", "AUTOSCALER_DRY_RUN": "x", "AUTOSCALER_LOG_LEVEL": "x"})
    assert ["AUTOSCALER_DRY_RUN", "AUTOSCALER_INTERVAL", "AUTOSCALER_LOG_LEVEL"] == sorted(
        line.split(":")[0] for line in found
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SOURCE": "sql", "DATABASE_URL": "postgres://db/x"},
            "AUTOSCALER_PROCESSES__WORKER__QUERY: set either QUERY (a query of your own) or PRESET",
            id="sql without query or preset",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SOURCE": "sql", "AUTOSCALER_PROCESSES__WORKER__PRESET": "pgqueuer"},
            "AUTOSCALER_PROCESSES__WORKER__URL: required: set it, or DATABASE_URL",
            id="sql without a database",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SOURCE": "http_json"},
            "AUTOSCALER_PROCESSES__WORKER__URL: required: the URL to GET",
            id="http_json without a URL",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SOURCE": "redis_list"},
            "AUTOSCALER_PROCESSES__WORKER__QUEUES: required: the Redis list keys to count",
            id="redis_list without keys",
        ),
    ],
)
def test_source_requirements_are_named(env: dict[str, str], expected: str) -> None:
    """Each source names what it still needs."""
    assert any(line.startswith(expected) for line in problems({**WORKER, **env})), problems({**WORKER, **env})


def test_sql_preset_is_valid_configuration() -> None:
    """A PRESET with DATABASE_URL is enough for the sql source."""
    env = {
        **WORKER,
        "AUTOSCALER_PROCESSES__WORKER__SOURCE": "sql",
        "AUTOSCALER_PROCESSES__WORKER__PRESET": "procrastinate",
        "DATABASE_URL": "postgres://u:p@db:5432/x",
    }
    assert "postgres://u:p@db:5432/x" == load_settings(env).source_url(load_settings(env).processes["worker"])


def test_error_text_never_contains_a_url_password() -> None:
    """A rejected URL is echoed with its password masked."""
    found = problems({**WORKER, "HEROKU_API_URL": "http://user:hunter22@api.example.com"})
    assert all("hunter22" not in line for line in found)
    assert any("user:***@api.example.com" in line for line in found)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.heroku.com", True),
        ("http://127.0.0.1:5000", True),
        ("http://localhost:5000", True),
        ("http://[::1]:5000", True),
        ("http://127.8.9.10", True),
        ("http://api.heroku.com", False),
        ("http://10.0.0.1", False),
        ("ftp://api.heroku.com", False),
        ("api.heroku.com", False),
    ],
)
def test_api_url_scheme(url: str, ok: bool) -> None:
    """https anywhere; http only for loopback hosts."""
    assert ok == (check_api_url(url) is None)


def test_env_name_for_a_nested_field() -> None:
    """Error locations map back to the variable a user sets."""
    assert "AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS" == env_name("processes", "web", "queue_time_ms")


def test_token_from_environment(tmp_path: Path) -> None:
    """HEROKU_API_KEY is the token when set, even with a netrc present."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.heroku.com\n  login me@example.com\n  password from-netrc\n")
    netrc.chmod(0o600)
    settings = load_settings({**WORKER, "HEROKU_API_KEY": "from-env"})
    assert "from-env" == resolve_token(settings, netrc)


def test_token_from_netrc(tmp_path: Path) -> None:
    """Without HEROKU_API_KEY the api.heroku.com entry of ~/.netrc is used."""
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine git.heroku.com\n  login me@example.com\n  password git-token\n"
        "machine api.heroku.com\n  login me@example.com\n  password api-token\n"
    )
    netrc.chmod(0o600)
    assert "api-token" == resolve_token(load_settings(WORKER), netrc)


def test_no_token_anywhere(tmp_path: Path) -> None:
    """No variable and no netrc entry: no token, and run/once/check refuse to start naming HEROKU_API_KEY."""
    settings = load_settings({**WORKER, "AUTOSCALER_APP": "a"})
    token = resolve_token(settings, tmp_path / "missing")
    with pytest.raises(ConfigError) as info:
        require_runtime(settings, token)
    assert info.value.problems[0].startswith("HEROKU_API_KEY: required")


def test_app_is_required_for_runtime() -> None:
    """run/once/check need the app name."""
    with pytest.raises(ConfigError) as info:
        require_runtime(load_settings(WORKER), "token")
    assert info.value.problems[0].startswith("AUTOSCALER_APP: required")


def test_settings_are_frozen() -> None:
    """Validated once: settings cannot be changed afterwards."""
    settings: Settings = load_settings(WORKER)
    with pytest.raises(ValueError, match="frozen"):
        settings.interval = 3  # type: ignore[misc]


def test_invalid_configuration_exits_2_without_traceback() -> None:
    """The command line turns invalid configuration into exit status 2, one line per variable, on stderr."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        **WORKER,
        "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "0",
        "AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS": "2",
        "AUTOSCALER_INTERVAL": "fast",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "autoscaler", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 2 == proc.returncode
    assert "" == proc.stdout
    assert "Traceback" not in proc.stderr
    assert "AUTOSCALER_INTERVAL: must be a number, got 'fast'" in proc.stderr


# --- what a new user gets wrong ----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_DRYRUN": "true"},
            "AUTOSCALER_DRYRUN: unknown variable; did you mean AUTOSCALER_DRY_RUN?",
            id="misspelt safety switch",
        ),
        pytest.param(
            {"AUTOSCALER_INTERVALL": "5"},
            "AUTOSCALER_INTERVALL: unknown variable; did you mean AUTOSCALER_INTERVAL?",
            id="misspelt global",
        ),
        pytest.param(
            {"autoscaler_max_monthly_cots": "50"},
            "autoscaler_max_monthly_cots: unknown variable; did you mean AUTOSCALER_MAX_MONTHLY_COST?",
            id="any case",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNOS": "5"},
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNOS: unknown setting of process type 'worker'; "
            "did you mean AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO?",
            id="misspelt process field",
        ),
        pytest.param(
            {"AUTOSCALER_ZZZZZZ": "1"},
            "AUTOSCALER_ZZZZZZ: unknown variable; see docs/configuration.md for the known names",
            id="nothing close",
        ),
    ],
)
def test_unknown_autoscaler_variable_is_refused(env: dict[str, str], expected: str) -> None:
    """An AUTOSCALER_* variable the product does not read is an error naming it and the closest known name:
    a typo must never leave a setting (such as dry run) silently at its default."""
    assert [expected] == problems({**WORKER, **env})


def test_known_variables_are_accepted() -> None:
    """Every documented global variable and every per-process field passes the unknown-name check."""
    from autoscaler.config import known_globals, unknown_variables

    env = {name: "x" for name in known_globals()}
    env.update({f"AUTOSCALER_PROCESSES__WEB__{field.upper()}": "x" for field in ALL_FIELDS})
    env["AUTOSCALER_PROCESSES__WEB"] = "{}"
    assert [] == unknown_variables(env)
    assert "AUTOSCALER_DRY_RUN" in known_globals()


def test_unknown_field_in_the_json_map_names_the_map() -> None:
    """A misspelt field inside AUTOSCALER_PROCESSES is reported against AUTOSCALER_PROCESSES, the variable set."""
    env = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUTOSCALER_PROCESSES": '{"worker": {"source": "rq", "max_dynos": 3, "jobs_per_dyno": 5, "max_latncy": 3}}',
    }
    assert ["AUTOSCALER_PROCESSES (worker.max_latncy): unknown setting; did you mean MAX_LATENCY?"] == problems(env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_STATE_URL": "postgres://u:secret@db.example.com/x"},
            "AUTOSCALER_STATE_URL: must be a redis://, rediss:// or unix:// URL, "
            "got 'postgres://u:***@db.example.com/x' (the state store is Redis)",
            id="state store not Redis",
        ),
        pytest.param(
            {"AUTOSCALER_NOTIFY_URL": "hooks.slack.com/services/T0/B0/secret"},
            "AUTOSCALER_NOTIFY_URL: must be an https:// (or http://) webhook URL with a host",
            id="webhook without scheme",
        ),
        pytest.param(
            {"AUTOSCALER_PRICES": '{"standard-3x": 10}'},
            "AUTOSCALER_PRICES: unknown dyno size 'standard-3x'; known sizes: eco, basic, standard-1x,",
            id="price of an unknown size",
        ),
        pytest.param(
            {"AUTOSCALER_PRICES": '{"standard-2x": }'},
            "AUTOSCALER_PRICES: not valid JSON (Expecting value at character 16)",
            id="prices not JSON",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SIZE": "basic", "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "8"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: 8 is more than Heroku runs of Basic dynos per process type (1)",
            id="basic dynos above one",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SIZE": "performance-m", "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "12"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: 12 is more than Heroku runs of Performance-M dynos per "
            "process type (10)",
            id="performance above ten",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__SCHEDULES": '[{"cron": "0 9 * * 1-5", "duration": 3600, "min_dynos": 9}]'},
            "AUTOSCALER_PROCESSES__WORKER__SCHEDULES: schedule 1 (0 9 * * 1-5) asks for min_dynos 9, "
            "more than MAX_DYNOS (5)",
            id="schedule above max",
        ),
        pytest.param(
            {"REDIS_URL": "not-a-url"},
            "REDIS_URL (read by process type 'worker'): must be a redis://, rediss:// or unix:// URL, got 'not-a-url'",
            id="add-on URL named as set",
        ),
    ],
)
def test_values_a_tick_could_not_use_are_refused_at_start(env: dict[str, str], expected: str) -> None:
    """What would fail on every tick (or crash-loop run) is refused up front, naming the variable the user set."""
    found = problems({**WORKER, **env})
    assert any(line.startswith(expected) for line in found), found
    assert 1 == len(found), found


def test_raised_size_limit_admits_more_performance_dynos() -> None:
    """SIZE_LIMIT (a raise Heroku granted) lifts the Performance per-type limit; Basic never gets one."""
    env = {**WORKER, "AUTOSCALER_PROCESSES__WORKER__SIZE": "performance-m"}
    env |= {"AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "20", "AUTOSCALER_PROCESSES__WORKER__SIZE_LIMIT": "30"}
    assert 20 == load_settings(env).processes["worker"].max_dynos


def test_empty_value_means_unset() -> None:
    """`heroku config:set NAME=` leaves an empty value: it is the same as not setting the variable."""
    env = {**WORKER, "AUTOSCALER_MAX_MONTHLY_COST": "", "AUTOSCALER_INTERVAL": "  ", "AUTOSCALER_DRYRUN": ""}
    settings = load_settings(env)
    assert settings.max_monthly_cost is None
    assert 2.0 == settings.interval


def test_secret_in_an_unusable_webhook_url_is_not_echoed() -> None:
    """The webhook URL is a secret: an error about it does not quote it."""
    found = problems({**WORKER, "AUTOSCALER_NOTIFY_URL": "ftp://hooks.example.com/T0/supersecret"})
    assert "supersecret" not in " ".join(found)


def test_a_setting_of_another_source_is_refused_naming_the_source() -> None:
    """Each source owns its settings: PRESET (the sql source's) on an rq process says whose setting it is."""
    env = {**WORKER, "AUTOSCALER_PROCESSES__WORKER__PRESET": "pgqueuer"}
    expected = (
        "AUTOSCALER_PROCESSES__WORKER__PRESET: not a setting of the rq source; its own settings are VERIFY_TLS, "
        "QUEUES, PREFIX"
    )
    assert [expected] == problems(env)


def test_every_source_names_a_module_that_builds_it() -> None:
    """The registry is the one table of sources: each names the module whose build() makes it."""
    import importlib

    from autoscaler.config import SOURCES

    assert ["rq", "celery", "dramatiq", "redis_list", "sql", "http_json", "web", "router"] == list(SOURCES)
    for kind, model in SOURCES.items():
        assert kind == model.model_fields["source"].annotation.__args__[0]  # type: ignore[union-attr]
        assert callable(importlib.import_module(model.MODULE).build)


def test_missing_source_is_named() -> None:
    """A process type without SOURCE is told which sources there are."""
    env = {key: value for key, value in WORKER.items() if not key.endswith("__SOURCE")}
    assert [
        "AUTOSCALER_PROCESSES__WORKER__SOURCE: required: one of rq, celery, dramatiq, redis_list, sql, http_json, "
        "web, router"
    ] == problems(env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__QUEUE_TIME_MS": "100"},
            "AUTOSCALER_PROCESSES__WORKER__QUEUE_TIME_MS: not read by the rq source, which reads JOBS_PER_DYNO, "
            "MAX_LATENCY, JOB_DURATION",
            id="web target on a worker",
        ),
        pytest.param(
            {"AUTOSCALER_PROCESSES__WORKER__PROCESSES_PER_DYNO": "4"},
            "AUTOSCALER_PROCESSES__WORKER__PROCESSES_PER_DYNO: not read by the rq source, which reads JOBS_PER_DYNO, "
            "MAX_LATENCY, JOB_DURATION",
            id="web setting on a worker",
        ),
    ],
)
def test_a_target_of_another_kind_is_refused(env: dict[str, str], expected: str) -> None:
    """A target the process's source never reads would be ignored without a word: it is refused instead."""
    assert [expected] == problems({**WORKER, **env})


def test_a_worker_target_on_a_web_process_is_refused() -> None:
    """MAX_LATENCY on a web process is named, with what a web process reads."""
    env = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUTOSCALER_PROCESSES__WEB__SOURCE": "web",
        "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "5",
        "AUTOSCALER_PROCESSES__WEB__QUEUE_TIME_MS": "50",
        "AUTOSCALER_PROCESSES__WEB__MAX_LATENCY": "30",
    }
    expected = "AUTOSCALER_PROCESSES__WEB__MAX_LATENCY: not read by the web source, which reads QUEUE_TIME_MS, "
    assert [expected + "PROCESSES_PER_DYNO"] == problems(env)
