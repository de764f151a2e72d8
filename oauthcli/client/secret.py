"""The client secret: read afresh from its file or ``$OAUTHCLI_CLIENT_SECRET``, never cached."""

from __future__ import annotations

from pathlib import Path

from oauthcli import settings
from oauthcli.errors import ConfigError


def read_client_secret(path: str | Path | None) -> str | None:
    """The secret in ``path`` (first line, stripped) when given, else ``$OAUTHCLI_CLIENT_SECRET``, else None."""
    if path is None or str(path) == "":
        return settings.env_client_secret()
    return read_secret_file(Path(path), "client secret file")


def read_secret_file(path: Path, what: str) -> str:
    """The secret held in ``path`` (stripped), registered for masking; a ``ConfigError``
    naming ``what`` ("client secret file", "--subject-token-file") when it cannot be."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read {what} {path}: {reason}") from None
    if not secret:
        raise ConfigError(f"{what} {path} is empty")
    return register(secret)


# Secrets this process has read (passwords, client secrets): the CLI's --debug traceback
# masks them as the one-line messages do. Kept in memory only, for the process's life.
_registered: list[str] = []


def register(secret: str) -> str:
    """Remember ``secret`` for masking in ``--debug`` output; returns it unchanged."""
    if secret and secret not in _registered:
        _registered.append(secret)
    return secret


def registered() -> list[str]:
    """The secrets read so far, plus ``$OAUTHCLI_CLIENT_SECRET`` (it may be in any answer)."""
    env = settings.env_client_secret()
    return [*_registered, env] if env else list(_registered)
