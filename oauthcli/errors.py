"""The error family of oauthcli and the exit code each one maps to.

Core modules raise these with a message meant for a person; ``oauthcli.cli.main``
is the one place that turns them into a line on stderr and an exit code::

    OAuthCliError                 1  internal error (also the fallback)
    ├── UsageError                2  bad option value, unsafe request refused before sending
    ├── AuthenticationError       3  wrong credentials, inactive user, scope not granted
    ├── TokenError                4  token malformed, bad signature, wrong iss/aud/scope ...
    │   └── TokenTimeError        5  token expired, not yet valid, or older than --max-age
    ├── RemoteError               6  network failure or unusable answer from a server
    └── StoreError                7  user store or configuration unreadable or inconsistent
        ├── ConfigError           7  missing key material, bad [issuer] settings
        └── StateUnavailable      7  the server state (SQLite file, Redis) cannot be reached
    (Ctrl-C at a prompt or mid-command: ExitCode.ABORTED, 130, as shells report SIGINT)

Something worth saying that is not an error (a store other users can read, a
password hash of a scheme oauthcli cannot check) is an ``OAuthCliWarning``
through :mod:`warnings`; the CLI prints it as ``oauthcli: warning: ...``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    TOKEN_INVALID = 4
    TOKEN_TIME = 5
    REMOTE = 6
    STORE = 7
    ABORTED = 130  # Ctrl-C / a prompt abandoned (128 + SIGINT, as shells report it)


class OAuthCliError(Exception):
    """Root of every error oauthcli raises on purpose; ``str()`` is the message for people."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # A stable machine code for the failure (``timeout``, ``invalid_grant`` ...), or None.
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class UsageError(OAuthCliError):
    exit_code = ExitCode.USAGE


class AuthenticationError(OAuthCliError):
    """Credentials refused; ``reason`` says why, as a stable code the server maps to OAuth errors.

    Reasons: ``invalid_grant`` (wrong username or password, the default), ``inactive``
    (disabled user), ``invalid_scope`` (scope not granted), ``invalid_client``; client side
    also ``unauthorized_client``, ``refresh_rejected``, ``no_refresh``, ``no_secret``.
    """

    exit_code = ExitCode.AUTH
    reason: str

    def __init__(self, message: str, reason: str = "invalid_grant") -> None:
        super().__init__(message, reason=reason)


class TokenError(OAuthCliError):
    """A token failed a check; ``reason`` is a stable machine code (``--json`` ``error``)."""

    exit_code = ExitCode.TOKEN_INVALID
    reason: str

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message, reason=reason)


class TokenTimeError(TokenError):
    """Expired, not yet valid, or issued longer ago than allowed."""

    exit_code = ExitCode.TOKEN_TIME


class RemoteError(OAuthCliError):
    """A server failed us; ``reason``: ``timeout``, ``tls``, ``connect``, ``network``, ``redirect``,
    ``http_status``, ``bad_answer``, ``too_large``, ``unsupported`` ..."""

    exit_code = ExitCode.REMOTE


class StoreError(OAuthCliError):
    exit_code = ExitCode.STORE


class ConfigError(StoreError):
    pass


class StateUnavailable(StoreError):
    """The shared state (refresh sessions, revocations, throttling, records) cannot be reached.

    ``serve`` answers 503 ``temporarily_unavailable`` while it lasts; the message
    names the backend but never its password.
    """


class OAuthCliWarning(UserWarning):
    """A condition the user should hear about that does not stop the command."""
