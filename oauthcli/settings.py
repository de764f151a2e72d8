"""The only place that reads environment variables and default paths.

Every other module takes paths and values as arguments, so tests and library
users can pass them directly.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError

if TYPE_CHECKING:  # pathlib is imported where a path is made: decode needs none
    from pathlib import Path

ENV_STORE = "OAUTHCLI_STORE"
ENV_PROFILE = "OAUTHCLI_PROFILE"
ENV_CACHE_DIR = "OAUTHCLI_CACHE_DIR"
ENV_SECRET = "OAUTHCLI_SECRET"
ENV_TOKEN = "OAUTHCLI_TOKEN"
ENV_CLIENT_SECRET = "OAUTHCLI_CLIENT_SECRET"
ENV_BCRYPT_ROUNDS = "OAUTHCLI_BCRYPT_ROUNDS"
ENV_DEBUG = "OAUTHCLI_DEBUG"
ENV_STATE = "OAUTHCLI_STATE"
ENV_STATE_PASSWORD = "OAUTHCLI_STATE_PASSWORD"
# Set to "true" by GitHub Actions on its runners: printed tokens are masked first.
ENV_GITHUB_ACTIONS = "GITHUB_ACTIONS"
# Whether a person is at hand to log in (a browser, a device code, a password prompt):
# "1"/"true" or "0"/"false"; unset, a terminal on stdin and no CI decide (--interactive /
# --non-interactive override both).
ENV_INTERACTIVE = "OAUTHCLI_INTERACTIVE"
# Set by CI services to "true" (GitHub Actions, GitLab CI, CircleCI, Travis, Buildkite ...).
ENV_CI = "CI"
# Where tokens are kept: auto (the OS keyring when there is one), keyring or file.
ENV_TOKEN_STORE = "OAUTHCLI_TOKEN_STORE"
# exchange: the subject and actor tokens (never on argv).
ENV_SUBJECT_TOKEN = "OAUTHCLI_SUBJECT_TOKEN"
ENV_ACTOR_TOKEN = "OAUTHCLI_ACTOR_TOKEN"
# Set by GitHub Actions in a job with `permissions: id-token: write`: where and with what
# bearer token to fetch the job's OIDC token (exchange --subject-token-source github-actions).
ENV_ACTIONS_TOKEN_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ENV_ACTIONS_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
# Set by kubectl for a credential plugin: the ExecCredential apiVersion it wants (JSON).
ENV_KUBERNETES_EXEC_INFO = "KUBERNETES_EXEC_INFO"

DEFAULT_STORE = "users.toml"
DEFAULT_PROFILE = "default"
DEFAULT_BCRYPT_ROUNDS = 12


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def store_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--store``, else ``$OAUTHCLI_STORE``, else ``./users.toml``."""
    from pathlib import Path

    return Path(explicit or _env(ENV_STORE) or DEFAULT_STORE)


def store_is_named(explicit: str | os.PathLike[str] | None = None) -> bool:
    """True when the store was chosen (``--store`` or ``$OAUTHCLI_STORE``), not defaulted."""
    return bool(explicit) or _env(ENV_STORE) is not None


def profile_name(explicit: str | None = None) -> str:
    return explicit or _env(ENV_PROFILE) or DEFAULT_PROFILE


def cache_dir() -> Path:
    """``$OAUTHCLI_CACHE_DIR``, else the platform's per-user cache directory."""
    from pathlib import Path

    explicit = _env(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "oauthcli"
    if os.name == "nt":
        base = _env("LOCALAPPDATA")
        return Path(base) / "oauthcli" / "Cache" if base else home / "oauthcli"
    xdg = _env("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else home / ".cache") / "oauthcli"


def env_secret() -> bytes | None:
    value = _env(ENV_SECRET)
    return value.encode() if value else None


def env_token() -> str | None:
    return _env(ENV_TOKEN)


def env_client_secret() -> str | None:
    return _env(ENV_CLIENT_SECRET)


def env_subject_token() -> str | None:
    return _env(ENV_SUBJECT_TOKEN)


def env_actor_token() -> str | None:
    return _env(ENV_ACTOR_TOKEN)


def github_actions_id_token_request() -> tuple[str | None, str | None]:
    """``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``."""
    return _env(ENV_ACTIONS_TOKEN_URL), _env(ENV_ACTIONS_TOKEN)


def bcrypt_rounds(configured: int | None = None) -> int:
    """``$OAUTHCLI_BCRYPT_ROUNDS`` overrides the store's ``[passwords] bcrypt_rounds``."""
    raw = _env(ENV_BCRYPT_ROUNDS)
    if raw is None:
        return configured if configured is not None else DEFAULT_BCRYPT_ROUNDS
    try:
        rounds = int(raw)
    except ValueError:
        rounds = -1
    if not 4 <= rounds <= 31:
        raise ConfigError(f"{ENV_BCRYPT_ROUNDS} must be a whole number from 4 to 31, not {raw!r}")
    return rounds


def debug_enabled() -> bool:
    return _env(ENV_DEBUG) not in (None, "0", "false", "no")


def state_url() -> str | None:
    """``$OAUTHCLI_STATE``: ``serve``'s state backend when ``--state`` is not given."""
    return _env(ENV_STATE)


def state_password() -> str | None:
    """``$OAUTHCLI_STATE_PASSWORD``: the Redis password (never taken from argv)."""
    return _env(ENV_STATE_PASSWORD)


def github_actions() -> bool:
    """True on a GitHub Actions runner (``GITHUB_ACTIONS=true``)."""
    return os.environ.get(ENV_GITHUB_ACTIONS) == "true"


def interactive() -> bool | None:
    """``$OAUTHCLI_INTERACTIVE``: True or False when set, None to decide by the terminal."""
    raw = _env(ENV_INTERACTIVE)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ConfigError(f"{ENV_INTERACTIVE} must be 1 or 0 (true or false), not {raw!r}")


def ci() -> str | None:
    """The variable that says this runs in CI (``CI=true``, ``GITHUB_ACTIONS=true``), else None."""
    value = (_env(ENV_CI) or "").strip().lower()
    if value and value not in ("0", "false", "no"):
        return f"{ENV_CI}={value}"
    if github_actions():
        return f"{ENV_GITHUB_ACTIONS}=true"
    return None


def token_store() -> str | None:
    """``$OAUTHCLI_TOKEN_STORE`` as given (``--token-store`` wins; checked by the cache)."""
    return _env(ENV_TOKEN_STORE)


def kubernetes_exec_info() -> str | None:
    """What kubectl told its credential plugin (``KUBERNETES_EXEC_INFO``), as given."""
    return _env(ENV_KUBERNETES_EXEC_INFO)


def proxy_environment() -> dict[str, str]:
    """``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (either case) as urllib reads them.

    Keys are URL schemes, ``all`` and ``no``; CGI's ``HTTP_PROXY`` under a ``REQUEST_METHOD``
    is ignored, as urllib does (httpoxy).
    """
    from urllib.request import getproxies_environment

    return {k: v for k, v in getproxies_environment().items() if v}
