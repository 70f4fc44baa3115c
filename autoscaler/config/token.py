"""The token: from ``HEROKU_API_KEY`` or ``~/.netrc``, and what run, once and check need beyond
the settings."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from autoscaler.config.settings import Settings
from autoscaler.errors import ConfigError


def resolve_token(settings: Settings, netrc_path: Path | None = None) -> str | None:
    """The Platform API token: ``HEROKU_API_KEY``, else the ``api.heroku.com`` entry of
    ``~/.netrc`` (as written by ``heroku login``). None when neither has one."""
    if settings.heroku_api_key is not None:
        token = settings.heroku_api_key.get_secret_value().strip()
        if token:
            return token
    path = netrc_path or Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.exists():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators("api.heroku.com")
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None:
        return None
    password = entry[2]
    return password or None


def token_problem(token: str) -> str | None:
    """What is wrong with a Platform API token's form (never quoting it), or None."""
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        return "must be a non-empty token of printable ASCII characters"
    return None


def require_runtime(settings: Settings, token: str | None) -> None:
    """Checks that only the commands that talk to Heroku need (run, once, check)."""
    problems: list[str] = []
    if token is None:
        problems.append(
            "HEROKU_API_KEY: required: set it to a Platform API token "
            "(or log in with `heroku login` so ~/.netrc has one)"
        )
    elif token_problem(token):
        problems.append(f"HEROKU_API_KEY: {token_problem(token)}")
    if not settings.app_name:
        problems.append("AUTOSCALER_APP: required: the name of the app to scale (or HEROKU_APP_NAME)")
    if problems:
        raise ConfigError(problems)
