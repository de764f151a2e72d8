"""Cached credentials in use: keep a profile's token fresh and send it only where it belongs.

``call``, ``header`` and ``refresh`` share this: a token from a local store is
refreshed against that store, a remote one against its token URL; a token is
sent to its own origin only (loopback hosts for local tokens) unless the user
widened the list with ``--allow-origin``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli import settings
from oauthcli.cache import CacheEntry, TokenCache
from oauthcli.errors import (
    AuthenticationError,
    ConfigError,
    RemoteError,
    TokenError,
    UsageError,
)
from oauthcli.urls import is_loopback_host, origin_of

if TYPE_CHECKING:
    import httpx

    from oauthcli.bearer import BearerAuth as BearerAuth

# Refresh a little before expiry, so the token doesn't lapse on its way to the server.
EXPIRY_MARGIN = 30


def check_header_safe(token: str, what: str = "access token") -> str:
    """``token`` if it can go in an ``Authorization`` header as is; ``RemoteError`` if not.

    Servers are not trusted here: a token with a line break or a space would
    inject a header into ``curl -H "$(oauthcli header)"`` or a request.
    """
    if not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise RemoteError(
            f"the server's {what} contains spaces or control characters: refusing to use it"
        )
    return token


def check_destination(entry: CacheEntry, url: str, extra_origins: Iterable[str] = ()) -> None:
    """Refuse (``UsageError``, before any connection) to send ``entry``'s token where it does not belong.

    A remote profile's token goes to its token URL's origin; a local profile's to
    loopback hosts; either also to ``entry.allowed_origins`` and ``extra_origins``.
    """
    target = origin_of(url)
    allowed = {origin_of(o) for o in [*entry.allowed_origins, *extra_origins]}
    if entry.source == "remote" and entry.token_url:
        allowed.add(origin_of(entry.token_url))
        where = f"its token endpoint's origin {origin_of(entry.token_url)}"
    else:
        if is_loopback_host(urlsplit(url).hostname or ""):
            return
        where = "loopback hosts (it came from a local store)"
    if target not in allowed:
        raise UsageError(
            f"refusing to send this profile's token to {target}: it is only sent to {where}; "
            f"add --allow-origin {target} to allow it"
        )


def client_secret_for(entry: CacheEntry) -> str | None:
    """The client secret for ``entry``'s client, read afresh (it is never cached).

    The file given at login (``--client-secret-file``) when there was one, else
    ``$OAUTHCLI_CLIENT_SECRET``; None for a profile without a client id.
    """
    if not entry.client_id:
        return None
    if not entry.client_secret_file:
        return settings.env_client_secret()
    path = Path(entry.client_secret_file)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read client secret file {path}: {reason}") from None
    if not secret:
        raise ConfigError(f"client secret file {path} is empty")
    return secret


def refresh(
    entry: CacheEntry,
    *,
    scopes: list[str] | None = None,
    client_factory: Callable[[], httpx.Client] | None = None,
) -> CacheEntry:
    """A new cache entry from ``entry``'s refresh token (rotation honoured).

    A service account (client credentials, no refresh token) gets a new token
    with its client secret instead, as ``login --grant client-credentials`` did.
    """
    if not entry.refresh_token:
        if is_client_login(entry):
            return _renew_client_credentials(entry, scopes, client_factory)
        raise AuthenticationError(
            "the cached token cannot be refreshed (no refresh token): log in again"
        )
    if entry.source == "remote":
        return _refresh_remote(entry, scopes, client_factory)
    return _refresh_local(entry, scopes)


_LOCAL_REFRESH_REFUSALS = {
    "reused": "refresh token was already used: the session is revoked, log in again",
    "revoked": "the session has ended (revoked or expired): log in again",
    "expired": "the refresh token has expired: log in again",
    "signature": "the refresh token was not signed by the store's current key: log in again",
}


def _refresh_local(entry: CacheEntry, scopes: list[str] | None) -> CacheEntry:
    from oauthcli.issuer import settings_for_store
    from oauthcli.sessions import SessionStore
    from oauthcli.store import UserStore
    from oauthcli.tokens import TokenService

    if not entry.store:
        raise ConfigError("the cached token does not say which store issued it: log in again")
    store = UserStore(entry.store)
    data = store.load()
    issuer = settings_for_store(store.path, data.issuer)
    service = TokenService(issuer, issuer.signing_key(), SessionStore.for_store(store.path))
    try:
        pair = service.refresh(entry.refresh_token or "", data.users.get, scopes)
    except TokenError as exc:
        # Whatever is wrong with the refresh token, the way out is a new login: exit 3.
        message = _LOCAL_REFRESH_REFUSALS.get(
            exc.reason, f"the refresh token was refused ({exc}): log in again"
        )
        raise AuthenticationError(message) from None
    return replace(
        entry,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_at=int(time.time()) + pair.expires_in,
        scope=pair.scope,
        obtained_at=int(time.time()),
    )


def _refresh_remote(
    entry: CacheEntry, scopes: list[str] | None, client_factory: Callable[[], httpx.Client] | None
) -> CacheEntry:
    from oauthcli import remote

    if not entry.token_url:
        raise ConfigError("the cached token does not record its token URL: log in again")
    from oauthcli.client import profile

    make = client_factory or remote.make_client
    asked = remote.scope_string(scopes)
    with make() as client:
        response = remote.refresh_grant(
            client,
            entry.token_url,
            entry.refresh_token or "",
            scopes,
            client_id=entry.client_id,
            client_secret=client_secret_for(entry) if entry.client_auth != "none" else None,
            client_auth=entry.client_auth or "basic",  # type: ignore[arg-type]
            # the URL passed this check at login; --insecure-http then is remembered as an allowed origin
            insecure_http=origin_of(entry.token_url) in entry.allowed_origins,
            auth=profile.client_authentication(entry),
            extra=profile.refresh_parameters(entry),
        )
        id_token = profile.refreshed_id_token(entry, response, client)
    check_header_safe(response.access_token)
    now = int(time.time())
    return replace(
        entry,
        access_token=response.access_token,
        token_type=response.token_type.lower(),
        # RFC 6749 6: the server may rotate the refresh token, or keep the old one valid
        refresh_token=response.refresh_token or entry.refresh_token,
        expires_at=now + response.expires_in if response.expires_in is not None else None,
        # no scope in the answer: what was asked for, or else what the session had
        scope=response.scope if response.scope is not None else (asked or entry.scope),
        obtained_at=now,
        id_token=id_token,
    )


def is_client_login(entry: CacheEntry) -> bool:
    """True for a remote client-credentials login: a client id, no user."""
    return (
        entry.source == "remote"
        and bool(entry.token_url and entry.client_id)
        and not entry.username
        and entry.grant in (None, "client_credentials")
    )


def can_refresh(entry: CacheEntry) -> bool:
    """Whether ``refresh(entry)`` can work: a refresh token, or a client whose secret is at hand."""
    if entry.refresh_token:
        return True
    if not is_client_login(entry):
        return False
    try:
        return client_secret_for(entry) is not None
    except ConfigError:
        return False  # unreadable secret file: refresh() would say why


def _renew_client_credentials(
    entry: CacheEntry, scopes: list[str] | None, client_factory: Callable[[], httpx.Client] | None
) -> CacheEntry:
    from oauthcli import remote

    secret = client_secret_for(entry)
    if secret is None:
        raise AuthenticationError(
            "the client's token cannot be renewed without its secret: "
            "set OAUTHCLI_CLIENT_SECRET or log in again"
        )
    assert entry.token_url is not None and entry.client_id is not None
    asked = remote.scope_string(scopes) or entry.scope
    with (client_factory or remote.make_client)() as client:
        response = remote.client_credentials_grant(
            client,
            entry.token_url,
            entry.client_id,
            secret,
            asked or None,
            entry.client_auth or "basic",  # type: ignore[arg-type]
            insecure_http=origin_of(entry.token_url) in entry.allowed_origins,
        )
    check_header_safe(response.access_token)
    now = int(time.time())
    return replace(
        entry,
        access_token=response.access_token,
        token_type=response.token_type.lower(),
        refresh_token=response.refresh_token,
        expires_at=now + response.expires_in if response.expires_in is not None else None,
        scope=response.scope if response.scope is not None else asked,
        obtained_at=now,
    )


class ProfileToken:
    """The token of one cache profile, refreshed (and saved) when it has expired or is refused."""

    def __init__(
        self,
        cache: TokenCache,
        profile: str,
        client_factory: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.cache = cache
        self.profile = profile
        self.client_factory = client_factory
        entry = cache.load(profile)
        if entry is None:
            raise AuthenticationError(
                f"no token cached for profile {profile!r}: run 'oauthcli login' first"
            )
        self.entry: CacheEntry = entry

    def refresh(self) -> CacheEntry:
        """Refresh under the profile's lock and save; adopt a refresh another process just made.

        Two commands refreshing one profile at once must not both present the same
        rotating refresh token: the second would be refused (or revoke the session).
        """
        stale = self.entry
        adopted: CacheEntry | None = None

        def change(current: CacheEntry | None) -> CacheEntry | None:
            nonlocal adopted
            if current is None:
                raise AuthenticationError(
                    f"profile {self.profile!r} was logged out while in use: log in again"
                )
            if _issuer_of(current) != _issuer_of(stale):
                raise AuthenticationError(
                    f"profile {self.profile!r} was replaced by another login while in use: "
                    "run the command again"
                )
            # Compared by both tokens: some servers mint identical JWTs within one second.
            changed = (current.access_token, current.refresh_token) != (
                stale.access_token,
                stale.refresh_token,
            )
            if changed and not current.expired(margin=EXPIRY_MARGIN):
                adopted = current
                return None
            return refresh(current, client_factory=self.client_factory)

        saved = self.cache.update(self.profile, change)
        self.entry = saved or adopted or self.entry
        return self.entry

    def fresh(self) -> CacheEntry:
        """The entry, refreshed first if its access token has (nearly) expired."""
        if self.entry.expired(margin=EXPIRY_MARGIN):
            if not can_refresh(self.entry):
                raise AuthenticationError(
                    f"the token of profile {self.profile!r} has expired and cannot be refreshed: "
                    "log in again"
                )
            self.refresh()
        return self.entry

    def allow_origins(self, origins: Iterable[str]) -> None:
        """Remember ``origins`` (``--allow-origin``) in the profile, under its lock."""
        wanted = [origin_of(o) for o in origins]
        if not wanted or all(o in self.entry.allowed_origins for o in wanted):
            return

        def change(current: CacheEntry | None) -> CacheEntry | None:
            if current is None or _issuer_of(current) != _issuer_of(self.entry):
                return None  # logged out or replaced meanwhile: nothing of ours to widen
            current.allowed_origins = list(dict.fromkeys([*current.allowed_origins, *wanted]))
            return current

        saved = self.cache.update(self.profile, change)
        if saved is not None:
            self.entry = saved

    @property
    def can_refresh(self) -> bool:
        return can_refresh(self.entry)


def _issuer_of(entry: CacheEntry) -> tuple[str, str | None]:
    """Where an entry's tokens come from, and hence where they may be sent."""
    return entry.source, entry.token_url if entry.source == "remote" else entry.store


def __getattr__(name: str) -> Any:
    # BearerAuth needs httpx, which ``header`` with a valid token never has to import.
    if name == "BearerAuth":
        from oauthcli.bearer import BearerAuth

        return BearerAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
