"""Token cache, one JSON file per profile: ``<cache dir>/<profile>.json``.

The directory is 0700 and files 0600, written atomically. A cache that others
can read is refused rather than used: tokens are credentials. Each entry
records where its tokens came from (a local store or a remote token URL) so a
token is only ever sent back to where it belongs.
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.errors import AuthenticationError, Reason, StoreError, UsageError
from oauthcli.fileio import (
    LockTimeout,
    atomic_write,
    ensure_private_dir,
    exclusive_lock,
    is_private,
)

if TYPE_CHECKING:
    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.secretstore import Keyring

# The cache file's field saying its tokens are in the OS keyring, and the fields kept
# there (oauthcli.client.secretstore holds the same names).
MARKER = "token_store"
SECRET_FIELDS = ("access_token", "refresh_token", "id_token", "dpop_key")

_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# Refresh a little before expiry, so the token doesn't lapse on its way to the server
# (the profile token and the ID token both use it).
EXPIRY_MARGIN = 30


@dataclass
class CacheEntry:
    access_token: str
    token_type: str = "bearer"
    expires_at: int | None = None
    refresh_token: str | None = None
    scope: str = ""
    # "local": store is the absolute store path; "remote": token_url is the token endpoint
    source: str = "local"
    store: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_auth: str | None = None
    # where to read the client secret again at refresh time; the secret itself is never cached
    client_secret_file: str | None = None
    username: str | None = None
    allowed_origins: list[str] = field(default_factory=list)
    obtained_at: int = field(default_factory=lambda: int(time.time()))
    # Logins at an OpenID provider (login --issuer-url); absent (defaults) in older caches.
    grant: str | None = None  # "authorization_code", "device_code", "password", ...
    issuer: str | None = None
    # the provider's endpoints by oauthcli's name: token, revocation, userinfo, jwks ...
    endpoints: dict[str, str] = field(default_factory=dict)
    id_token: str | None = None
    client_key_file: str | None = None  # private-key-jwt: the key is read again to refresh
    resources: list[str] = field(default_factory=list)  # RFC 8707, sent again on refresh
    audience: str | None = None
    # Why the profile's tokens are known to be dead ("revoked at the provider ...", "refresh
    # refused ..."), set by the command that learnt it; a new login clears it.
    revoked: str | None = None
    # login --dpop: the profile's DPoP key file (RFC 9449); refresh and call sign with it.
    dpop_key_file: str | None = None
    # A browser login's registered --redirect-uri: a new login of the profile uses it again.
    redirect_uri: str | None = None
    # That key itself (PEM) while its profile is in memory; never written to the cache file:
    # with the keyring token store it is kept in the profile's keyring item, not in the file.
    dpop_key: str | None = field(default=None, repr=False)

    def expired(self, now: float | None = None, margin: int = 0) -> bool:
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) + margin >= self.expires_at

    def token_response(self, now: float | None = None) -> dict[str, Any]:
        """The entry as an RFC 6749 section 5.1 response: what every ``--json`` of a login,
        a refresh and ``token`` prints."""
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type}
        if self.expires_at is not None:
            at = int(time.time() if now is None else now)
            body["expires_in"] = max(0, self.expires_at - at)
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        if self.id_token:
            body["id_token"] = self.id_token
        return body

    def subject(self) -> str | None:
        """Who the tokens are for, as a person reads it: the login's username, else the ID
        token's (then the access token's) ``preferred_username``, ``email`` or ``sub``;
        ``None`` for a client's own token. Read without checking signatures: for display."""
        if self.username:
            return self.username
        for token in (self.id_token, self.access_token):
            claims = _unverified_claims(token)
            for name in ("preferred_username", "email", "sub"):
                value = claims.get(name)
                if isinstance(value, str) and value and value != self.client_id:
                    return value
        return None

    def provider(self) -> str:
        """Where the tokens come from: the issuer, the token endpoint or the store."""
        return str(self.issuer or (self.token_url if self.source == "remote" else self.store))

    @classmethod
    def from_token_response(
        cls,
        response: TokenResponse,
        *,
        now: float,
        asked_scope: str = "",
        previous: CacheEntry | None = None,
        **fields: Any,
    ) -> CacheEntry:
        """The entry for a token endpoint's answer: every login and every refresh builds it here.

        ``previous`` is the entry a refresh renews (its other fields are kept); ``fields``
        are the login's own (source, token URL, client ...). The expiry is ``expires_in``
        or else the access token's own ``exp`` (``answer.expires_at``; RFC 6749 5.1 makes
        ``expires_in`` only RECOMMENDED); no ``refresh_token`` in a refresh answer keeps the
        old one (RFC 6749 6); no ``scope`` means what was asked for, else what the entry had
        (RFC 6749 5.1).
        """
        from oauthcli.client.answer import expires_at

        at = int(now)
        old_scope = previous.scope if previous is not None else ""
        values: dict[str, Any] = {
            "access_token": response.access_token,
            "token_type": response.token_type.lower(),
            "expires_at": expires_at(response, at),
            "refresh_token": response.refresh_token
            or (previous.refresh_token if previous is not None else None),
            "scope": response.scope if response.scope is not None else (asked_scope or old_scope),
            "obtained_at": at,
            **fields,
        }
        return replace(previous, **values) if previous is not None else cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheEntry:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _unverified_claims(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    from oauthcli.errors import TokenError
    from oauthcli.verify.parse import parse

    try:
        return parse(token).payload
    except TokenError:  # opaque, encrypted, malformed: nothing to read
        return {}


def _in_keyring(path: Path) -> bool:
    """Whether the file at ``path`` says its tokens are in the OS keyring."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(MARKER) == "keyring"


def validate_profile(name: str) -> str:
    if not _PROFILE.fullmatch(name):
        raise UsageError(f"invalid profile name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


class TokenCache:
    """The profiles' entries: one file each, and with ``storage`` "keyring" (or "auto"
    where there is one) their tokens in the OS keyring (``oauthcli.client.secretstore``).
    ``storage`` decides where a save puts the tokens; a load reads them where its file
    says they are (one cache API, wherever the secrets are)."""

    def __init__(self, directory: Path, storage: str = "file") -> None:
        from oauthcli.client.secretstore import check_choice

        self.directory = Path(directory)
        self.storage = check_choice(storage)

    def path(self, profile: str) -> Path:
        return self.directory / f"{validate_profile(profile)}.json"

    def profiles(self) -> list[str]:
        """The names of the profiles cached here, sorted (files that are no profile skipped)."""
        try:
            names = [p.name[: -len(".json")] for p in self.directory.glob("*.json")]
        except OSError:  # no cache yet, or not a directory
            return []
        return sorted(n for n in names if _PROFILE.fullmatch(n))

    def check(self, profile: str) -> Path:
        """The profile's file path, after checking the name and that the cache is private."""
        path = self.path(profile)
        self._check_private(path)
        return path

    def _check_private(self, path: Path) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"token cache directory {self.directory} is not a directory")
        for target, kind in ((self.directory, "directory"), (path, "file")):
            if target.exists() and not is_private(target):
                mode = stat.S_IMODE(target.stat().st_mode)
                if kind == "directory":
                    fix = f"run 'chmod 700 {target}'"
                else:
                    fix = f"run 'chmod 600 {target}' or 'oauthcli logout'"
                raise StoreError(
                    f"token cache {kind} {target} is accessible to other users (mode {mode:o}); "
                    f"refusing to use it: {fix}"
                )

    def load(self, profile: str) -> CacheEntry | None:
        path = self.path(profile)
        if not path.exists():
            return None
        self._check_private(path)
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                raise TypeError
            if data.get(MARKER) == "keyring":
                data.update(self._from_keyring(profile, path))
            if not isinstance(data.get("access_token"), str):
                raise TypeError
            return CacheEntry.from_dict(data)
        except (ValueError, TypeError):
            raise StoreError(
                f"token cache {path} is corrupt; run 'oauthcli logout --profile {profile}'"
            ) from None
        except PermissionError:
            raise StoreError(f"token cache {path} is not readable (permission denied)") from None

    def _from_keyring(self, profile: str, path: Path) -> dict[str, Any]:
        from oauthcli.client.secretstore import for_reading

        tokens = for_reading().get(path)
        if tokens is None:
            raise StoreError(
                f"the tokens of profile {profile!r} are gone from the OS keyring: "
                f"run 'oauthcli logout --profile {profile}' and log in again"
            )
        return {k: tokens.get(k) for k in SECRET_FIELDS}

    def _write(self, path: Path, entry: CacheEntry) -> None:
        """The entry to its file; its tokens to the OS keyring when that is the store."""
        data = asdict(entry)
        keyring = self._keyring_for_saving()
        key_file = Path(entry.dpop_key_file) if entry.dpop_key_file else None
        if keyring is not None:
            # the keyring first: a file that says "keyring" always finds tokens there
            keyring.put(path, {k: data.pop(k) for k in SECRET_FIELDS})
            data[MARKER] = "keyring"
            atomic_write(path, json.dumps(data, indent=1).encode(), mode=0o600)
            if key_file is not None and entry.dpop_key:
                key_file.unlink(missing_ok=True)  # the DPoP key lives in the keyring now
            return
        if _in_keyring(path):
            from oauthcli.client.secretstore import for_reading

            for_reading().delete(path)  # no stale copy left behind in the keyring
        dpop_key = data.pop("dpop_key")
        if key_file is not None and dpop_key and not key_file.exists():
            atomic_write(key_file, dpop_key.encode(), mode=0o600)  # back from the keyring
        atomic_write(path, json.dumps(data, indent=1).encode(), mode=0o600)

    def _keyring_for_saving(self) -> Keyring | None:
        """The OS keyring to save tokens in, or None for the file (``auto`` says so once)."""
        if self.storage == "file":
            return None
        from oauthcli.client.secretstore import find_keyring

        keyring, why = find_keyring()
        if keyring is not None:
            return keyring
        if self.storage == "keyring":
            raise StoreError(
                f"the token store is the OS keyring, and there is {why}: "
                "use --token-store file (or auto) to keep tokens in the 0600 cache file"
            )
        noted = self.directory / ".token-store-noted"
        if not noted.exists():
            import warnings

            from oauthcli.errors import OAuthCliWarning

            warnings.warn(
                OAuthCliWarning(
                    f"{why}: tokens are kept in {self.directory} (files 0600); said once "
                    "(--token-store file: the file, without this note)"
                ),
                stacklevel=2,
            )
            atomic_write(noted, b"", mode=0o600)
        return None

    @contextlib.contextmanager
    def _locked(self, path: Path, wait: float | None = None) -> Iterator[None]:
        """The profile's lock, for writing: a cache we cannot write to is a clear ``StoreError``;
        one another process holds longer than ``wait`` seconds, exit 3 (``timeout``)."""
        try:
            with exclusive_lock(path, wait):
                yield
        except LockTimeout:
            raise AuthenticationError(
                f"another oauthcli held profile {path.stem!r} for more than {wait:g} s "
                "(a login there is not finished): try again, or raise --timeout",
                reason=Reason.LOCKED,
            ) from None
        except OSError as exc:  # permission denied, read-only file system, disk full
            raise StoreError(f"cannot write token cache {path}: {exc.strerror or exc}") from None

    def _prepare(self, profile: str) -> Path:
        path = self.path(profile)
        try:
            ensure_private_dir(self.directory)
        except OSError as exc:
            raise StoreError(
                f"cannot create token cache directory {self.directory}: {exc.strerror}"
            ) from None
        self._check_private(path)
        return path

    def save(self, profile: str, entry: CacheEntry) -> Path:
        path = self._prepare(profile)
        with self._locked(path):
            self._write(path, entry)
        return path

    def update(
        self,
        profile: str,
        change: Callable[[CacheEntry | None], CacheEntry | None],
        wait: float | None = None,
    ) -> CacheEntry | None:
        """Load, ``change`` and save a profile under its lock; return what was saved.

        Refreshing inside ``change`` is what keeps two concurrent refreshes of one
        profile from presenting the same rotating refresh token twice (which
        would revoke the session), and logging in inside it is what makes one
        browser login serve every process that waited on the lock meanwhile.
        ``change`` returning None leaves the file alone. ``wait``: at most this many
        seconds for another process's hold (exit 3, ``timeout``); None, as long as it takes.
        """
        path = self._prepare(profile)
        with self._locked(path, wait):
            new = change(self.load(profile))
            if new is not None:
                self._write(path, new)
            return new

    def delete(
        self, profile: str, before: Callable[[CacheEntry | None], None] | None = None
    ) -> bool:
        """Forget a profile's tokens under its lock; ``True`` when there were any.

        Under the lock, a refresh in flight finishes first and one that starts later finds
        nothing to refresh, so a logged-out profile cannot come back. ``before`` sees the
        entry (``None`` when unreadable) under the same lock (logout revokes it there). The
        lock file itself is never removed: a process waiting on it would lock a file no
        longer in the directory while a newcomer locks a new one, both "exclusively".
        """
        path = self.path(profile)
        if not path.exists():
            return False
        with self._locked(path):
            if not path.exists():
                return False
            if before is not None:
                try:
                    found = self.load(profile)
                except StoreError:
                    found = None  # unreadable or unsafe: still deleted, just not revoked
                before(found)
            if _in_keyring(path):
                from oauthcli.client.secretstore import for_reading

                for_reading().delete(path)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot remove token cache {path}: {exc.strerror or exc}"
                ) from None
        return True
