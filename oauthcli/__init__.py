"""oauthcli: issue, inspect and verify OAuth2 tokens and JWTs.

The core (store, passwords, accounts, keys, tokens, sessions, verify/, client/,
server/) is plain Python, usable from a test suite without the command-line layer
(``oauthcli/cli/``); README's Development section maps every module.
"""

__version__ = "0.2.0"

from oauthcli.errors import (
    AuthenticationError,
    ConfigError,
    ExitCode,
    OAuthCliError,
    RemoteError,
    StoreError,
    TokenError,
    TokenTimeError,
    UsageError,
)

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ExitCode",
    "OAuthCliError",
    "RemoteError",
    "StoreError",
    "TokenError",
    "TokenTimeError",
    "UsageError",
    "__version__",
]
