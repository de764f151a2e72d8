"""Remote branch of ``oauthcli login`` and ``oauthcli refresh`` (issue 5): placeholder.

``tokens_cmd`` calls these two functions whenever a token endpoint is involved
(``login --url``, ``refresh`` of a profile whose ``source`` is ``"remote"``).
The contract for the implementation that replaces this module:

* ``login_remote`` reads the password itself when the grant needs one (hidden
  prompt, or the first line of stdin with ``password_stdin``), performs the
  grant and returns a ``CacheEntry`` with ``source="remote"``, ``token_url``,
  ``expires_at`` (absolute epoch seconds or None) and the client settings; the
  caller saves it in the profile and prints it (``--print`` / ``--json`` /
  summary), so nothing here prints to stdout.
* ``refresh_remote`` returns the new entry for ``entry`` (runs while the
  profile's cache lock is held; the caller saves it).
* Both raise ``OAuthCliError`` subclasses only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from oauthcli.errors import UsageError

if TYPE_CHECKING:
    from oauthcli.cache import CacheEntry


def login_remote(
    *,
    token_url: str,
    username: str | None,
    scopes: list[str],
    password_stdin: bool,
    grant: str,
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: str,
    cacert: Path | None,
    timeout: float,
    insecure_http: bool,
) -> CacheEntry:
    raise UsageError("remote login is not available yet")


def refresh_remote(
    entry: CacheEntry,
    *,
    scopes: list[str] | None,
    cacert: Path | None,
    timeout: float,
) -> CacheEntry:
    raise UsageError("refreshing a remote profile is not available yet")
