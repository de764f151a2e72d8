"""oauthcli: issue, inspect and verify OAuth2 tokens and JWTs.

The core modules (store, passwords, keys, tokens, remote, cache, server) are plain
Python and can be used from a test suite without the command-line layer.
"""

__version__ = "0.1.0"

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
