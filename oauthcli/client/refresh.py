"""Keep a cached entry's token fresh: a refresh token, or a client's secret, traded for a new one.

A token from a local store is refreshed against that store, a remote one
against its token URL; a client-credentials login is renewed with its secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from oauthcli.claims import scope_string
from oauthcli.client.cache import CacheEntry
from oauthcli.client.dpop_key import signer_for
from oauthcli.client.secret import read_client_secret
from oauthcli.errors import AuthenticationError, ConfigError, Reason, TokenError
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.answer import TokenResponse
    from oauthcli.tokens import TokenPair


def client_secret_for(entry: CacheEntry) -> str | None:
    """The client secret for ``entry``'s client, read afresh (it is never cached).

    The file given at login when there was one, else ``$OAUTHCLI_CLIENT_SECRET``;
    None for a profile without a client id.
    """
    if not entry.client_id:
        return None
    return read_client_secret(entry.client_secret_file)


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
            "the cached token cannot be refreshed (no refresh token): log in again",
            reason=Reason.NO_REFRESH,
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
    now = time.time()
    try:
        pair = service.refresh(entry.refresh_token or "", data.users.get, scopes)
    except TokenError as exc:
        # Whatever is wrong with the refresh token, the way out is a new login: exit 3.
        message = _LOCAL_REFRESH_REFUSALS.get(
            exc.reason, f"the refresh token was refused ({exc}): log in again"
        )
        raise AuthenticationError(message, reason=Reason.REFRESH_REJECTED) from None
    return CacheEntry.from_token_response(as_token_response(pair), now=now, previous=entry)


def _refresh_remote(
    entry: CacheEntry, scopes: list[str] | None, client_factory: Callable[[], httpx.Client] | None
) -> CacheEntry:
    from oauthcli.client import grants, oidc_profile
    from oauthcli.http import make_client

    if not entry.token_url:
        raise ConfigError("the cached token does not record its token URL: log in again")
    make = client_factory or make_client
    asked = scope_string(scopes)
    with make() as client:
        response = grants.refresh_grant(
            client,
            entry.token_url,
            entry.refresh_token or "",
            scopes,
            client_id=entry.client_id,
            client_secret=client_secret_for(entry) if entry.client_auth != "none" else None,
            client_auth=entry.client_auth or "basic",  # type: ignore[arg-type]  # cached as str; grants checks the value
            # the URL passed this check at login; --insecure-http then is remembered as an allowed origin
            insecure_http=origin_of(entry.token_url) in entry.allowed_origins,
            # a login at an OpenID provider: its client authentication, resource and audience
            auth=oidc_profile.client_authentication(entry),
            extra=oidc_profile.refresh_parameters(entry),
            dpop=signer_for(entry),
        )
        id_token = oidc_profile.refreshed_id_token(entry, response, client)
    return CacheEntry.from_token_response(
        response, now=time.time(), asked_scope=asked, previous=entry, id_token=id_token
    )


def as_token_response(pair: TokenPair) -> TokenResponse:
    """A local store's token pair as the answer a token endpoint would give for it."""
    from oauthcli.client.answer import TokenResponse

    return TokenResponse(
        access_token=pair.access_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        scope=pair.scope,
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
    from oauthcli.client import grants
    from oauthcli.http import make_client

    secret = client_secret_for(entry)
    if secret is None:
        raise AuthenticationError(
            "the client's token cannot be renewed without its secret: "
            "set OAUTHCLI_CLIENT_SECRET or log in again",
            reason=Reason.NO_SECRET,
        )
    assert entry.token_url is not None and entry.client_id is not None
    asked = scope_string(scopes) or entry.scope
    with (client_factory or make_client)() as client:
        response = grants.client_credentials_grant(
            client,
            entry.token_url,
            entry.client_id,
            secret,
            asked or None,
            entry.client_auth or "basic",  # type: ignore[arg-type]  # cached as str; grants checks the value
            insecure_http=origin_of(entry.token_url) in entry.allowed_origins,
            dpop=signer_for(entry),
        )
    return CacheEntry.from_token_response(
        response, now=time.time(), asked_scope=asked, previous=entry
    )
