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

Each error's ``reason`` is a :class:`Reason` (a ``StrEnum``: the code as ``--json`` prints it);
:func:`exit_code_for_status` is the one rule from a server's HTTP status to an exit code.

Something worth saying that is not an error (a store other users can read, a
password hash of a scheme oauthcli cannot check) is an ``OAuthCliWarning``
through :mod:`warnings`; the CLI prints it as ``oauthcli: warning: ...``.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import IntEnum, StrEnum


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


class Reason(StrEnum):
    """Every stable machine code a failure carries (``--json``'s ``error``; verify's verdicts).

    A ``StrEnum``: each member *is* its string, so JSON output is the plain code, and a raise
    site cannot name a code that is not here (mypy). README "Reason codes" lists each with
    the exit code(s) it comes with; ``tests/test_errors.py`` holds the two together.
    """

    # The error's family, when it carries no reason of its own (``family_reason``).
    INTERNAL = "internal"
    USAGE = "usage"
    AUTH = "auth"
    TOKEN_INVALID = "token_invalid"
    TOKEN_TIME = "token_time"
    REMOTE = "remote"
    STORE = "store"
    ABORTED = "aborted"
    # Usage: refused before sending.
    BAD_TIMEOUT = "bad_timeout"
    DESTINATION = "destination"
    PLAIN_HTTP = "plain_http"
    PROXY = "proxy"
    # Authentication (OAuth error codes, RFC 6749 5.2, and the client's own refusals).
    INVALID_GRANT = "invalid_grant"
    INVALID_CLIENT = "invalid_client"
    INVALID_SCOPE = "invalid_scope"
    INVALID_TARGET = "invalid_target"  # RFC 8707 2: a resource the server does not serve
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    INACTIVE = "inactive"
    NOT_LOGGED_IN = "not_logged_in"
    NO_REFRESH = "no_refresh"
    NO_SECRET = "no_secret"
    REFRESH_REJECTED = "refresh_rejected"
    REPLACED = "replaced"
    INTERACTION_REQUIRED = "interaction_required"  # a login needs a person, none is here
    LOCKED = "locked"  # another process held the profile (its login) past --timeout
    STATUS_401 = "status_401"
    STATUS_403 = "status_403"
    # Token checks (oauthcli.verify.verifier's codes, and the server's own).
    TOO_LARGE = "too_large"
    OPAQUE = "opaque"
    ENCRYPTED = "encrypted"
    MALFORMED = "malformed"
    DUPLICATE_KEY = "duplicate_key"
    ALGORITHM = "algorithm"
    CRIT = "crit"
    KEY = "key"
    SIGNATURE = "signature"
    TYPE = "type"
    CLAIM = "claim"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    TOO_OLD = "too_old"
    ISSUER = "issuer"
    AUDIENCE = "audience"
    SCOPE = "scope"
    NONCE = "nonce"
    AT_HASH = "at_hash"
    AUDIT = "audit"
    BATCH = "batch"
    REVOKED = "revoked"
    REUSED = "reused"
    STALE = "stale"
    UNKNOWN_SUBJECT = "unknown_subject"
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    BINDING = "binding"
    USE_DPOP_NONCE = "use_dpop_nonce"
    # Remote: the server failed us.
    TIMEOUT = "timeout"
    TLS = "tls"
    TLS_VERIFY = "tls_verify"
    CONNECT = "connect"
    NETWORK = "network"
    REDIRECT = "redirect"
    HTTP_STATUS = "http_status"
    BAD_ANSWER = "bad_answer"
    UNSUPPORTED = "unsupported"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_REQUEST = "invalid_request"


def family_reason(exit_code: int) -> Reason:
    """The reason of an error that carries none: its family (``usage``, ``auth``, ``remote`` ...)."""
    return Reason(ExitCode(exit_code).name.lower())


# OAuth error codes (RFC 6749 5.2, RFC 6750 3.1, RFC 8628 3.5, RFC 7009 2.2.1) that say the
# server is at fault or did not understand us, and those that refuse our credentials or grant.
REMOTE_OAUTH_ERRORS = frozenset(
    {
        "server_error",
        "temporarily_unavailable",
        "invalid_request",
        "unsupported_grant_type",
        "unsupported_token_type",
        "unsupported_response_type",
    }
)
AUTH_OAUTH_ERRORS = frozenset(
    {
        "invalid_client",
        "invalid_grant",
        "invalid_scope",
        "unauthorized_client",
        "access_denied",
        "expired_token",
        "invalid_token",
        "insufficient_scope",
    }
)


def exit_code_for_status(
    status: int, oauth_error: str | None = None, *, refusals: Collection[int] = (401, 403)
) -> ExitCode:
    """The exit code for a server's failed answer: its HTTP ``status`` and OAuth ``error`` code.

    The one rule every caller uses: a code that refuses our credentials or grant is exit 3
    (AUTH), one that blames the server or the request's form exit 6 (REMOTE); without a
    known code, a 5xx is REMOTE and a status in ``refusals`` AUTH (401/403 for resources,
    RFC 6750 3.1; the token endpoint adds 400, RFC 6749 5.2); anything else REMOTE.
    """
    if oauth_error in REMOTE_OAUTH_ERRORS:
        return ExitCode.REMOTE
    if oauth_error in AUTH_OAUTH_ERRORS:
        return ExitCode.AUTH
    if status >= 500:
        return ExitCode.REMOTE
    if status in refusals:
        return ExitCode.AUTH
    return ExitCode.REMOTE


class OAuthCliError(Exception):
    """Root of every error oauthcli raises on purpose; ``str()`` is the message for people."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
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
    reason: Reason

    def __init__(self, message: str, reason: Reason = Reason.INVALID_GRANT) -> None:
        super().__init__(message, reason=reason)


class TokenError(OAuthCliError):
    """A token failed a check; ``reason`` is a stable machine code (``--json`` ``error``)."""

    exit_code = ExitCode.TOKEN_INVALID
    reason: Reason

    def __init__(self, message: str, reason: Reason) -> None:
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
