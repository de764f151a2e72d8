"""Where a profile's tokens are kept: in its 0600 cache file, or in the OS keyring.

``TokenCache`` is the one cache API; this is the pluggable detail behind it. With the
keyring, the access, refresh and ID tokens of a profile are one keyring item (service
``oauthcli``, user name: the absolute path of the profile's cache file, so two cache
directories never share tokens) holding a small JSON document, and the cache file keeps
only what is not secret (expiry, scopes, the provider's endpoints ...) with
``"token_store": "keyring"``. The ``keyring`` package (``pip install 'oauthcli[keyring]'``)
is imported only when a keyring is asked for: Secret Service (GNOME Keyring, KWallet),
macOS Keychain, Windows Credential Locker. Its fail, null and plain-text backends do not
count as a keyring: ``auto`` then keeps the tokens in the file and ``keyring`` refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from oauthcli.errors import ConfigError, StoreError, UsageError

STORES = ("auto", "keyring", "file")
SERVICE = "oauthcli"


def check_choice(
    choice: str, what: str = "the token store", error: type[StoreError | UsageError] = ConfigError
) -> str:
    value = choice.strip().lower()
    if value not in STORES:
        from oauthcli.text import clean

        raise error(f"{what} must be one of {', '.join(STORES)}, not {clean(choice, 40)!r}")
    return value


class Keyring:
    """The OS keyring's items of oauthcli, one per profile file."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    @staticmethod
    def key(path: Path) -> str:
        return os.path.abspath(path)

    def get(self, path: Path) -> dict[str, Any] | None:
        raw = self._call("read", self.backend.get_password, SERVICE, self.key(path))
        if raw is None:
            return None
        try:
            tokens = json.loads(raw)
        except ValueError:
            tokens = None
        if not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
            raise StoreError(f"the OS keyring's item for {path} is corrupt; run 'oauthcli logout'")
        return tokens

    def put(self, path: Path, tokens: dict[str, Any]) -> None:
        self._call("write", self.backend.set_password, SERVICE, self.key(path), json.dumps(tokens))

    def delete(self, path: Path) -> None:
        from keyring.errors import PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError):  # nothing there: already gone
            self._call("delete", self.backend.delete_password, SERVICE, self.key(path))

    def _call(self, what: str, method: Any, *args: str) -> Any:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            return method(*args)
        except PasswordDeleteError:
            raise
        except KeyringError as exc:  # locked, no D-Bus, refused by the person ...
            # the message names the backend's problem, never a token (they are not in args[:2])
            raise StoreError(
                f"cannot {what} the OS keyring ({backend_name(self.backend)}): {exc}"
            ) from None


def backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def find_keyring() -> tuple[Keyring | None, str]:
    """The OS keyring, or None and why there is none to use."""
    try:
        import keyring
    except ImportError:
        return None, "the keyring package is not installed (pip install 'oauthcli[keyring]')"
    backend = keyring.get_keyring()
    name = backend_name(backend)
    try:
        priority = float(type(backend).priority)
    except Exception:  # a backend's probe failing is "not usable", whatever it raised
        priority = 0.0
    if priority <= 0 or name.startswith("keyrings.alt"):  # fail, null, plain text
        return None, f"no usable OS keyring (keyring chose {name})"
    return Keyring(backend), name


def for_reading() -> Keyring:
    """The keyring, to read what a file says is there (any usable backend)."""
    found, why = find_keyring()
    if found is None:
        raise StoreError(
            f"this profile's tokens are in the OS keyring, which is not usable here: {why}"
        )
    return found
