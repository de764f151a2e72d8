"""Remote login: run the password or client-credentials grant and build the entry to cache.

Nothing here prints: the CLI saves the returned ``CacheEntry`` in the profile
and shows it, so a failed login caches nothing. Everything that can be refused
without the network (URL safety, the client secret file) is refused before the
password is read, and the password is sent at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from oauthcli.claims import scope_string
from oauthcli.client.cache import CacheEntry
from oauthcli.client.policy import check_url_safe, needs_insecure_http
from oauthcli.client.secret import read_client_secret
from oauthcli.errors import Reason, UsageError
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.answer import TokenResponse

Grant = Literal["password", "client_credentials"]


def login_remote(
    *,
    token_url: str,
    grant: Grant,
    username: str | None,
    read_password: Callable[[], str],
    scopes: list[str],
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: Literal["basic", "post"],
    insecure_http: bool,
    client_factory: Callable[[], httpx.Client],
    app_url: str | None = None,
    dpop_key_file: Path | None = None,
) -> CacheEntry:
    """Log in at ``token_url``; return the entry to cache (nothing is saved here).

    ``app_url`` (``login --app``): the app whose OpenAPI document named ``token_url``; its
    origin is where the token is meant to go, so it is trusted as the token URL's is.
    ``dpop_key_file`` (``login --dpop``): the request carries a proof of that key (RFC 9449).
    """
    from oauthcli.client import grants

    # Refused before any prompt or connection: a password must not even be typed for these.
    check_url_safe(token_url, insecure_http=insecure_http)
    token_url = token_url.strip()
    # The secret belongs to a client: without a client id, $OAUTHCLI_CLIENT_SECRET is not used.
    client_secret = read_client_secret(client_secret_file) if client_id else None
    if grant == "client_credentials" and (client_id is None or client_secret is None):
        raise UsageError(
            "the client-credentials grant needs a client id and its secret", reason=Reason.NO_SECRET
        )
    scope_param = scope_string(scopes)
    dpop = None
    if dpop_key_file is not None:
        from oauthcli.client.dpop_key import DPoPSigner, load_key

        dpop = DPoPSigner(load_key(dpop_key_file))

    with client_factory() as client:
        if grant == "password":
            password = read_password()
            try:
                response = grants.password_grant(
                    client,
                    token_url,
                    username or "",
                    password,
                    scope_param or None,
                    client_id,
                    client_secret,
                    client_auth,
                    insecure_http=insecure_http,
                    dpop=dpop,
                )
            finally:
                del password
        else:
            assert client_id is not None and client_secret is not None
            response = grants.client_credentials_grant(
                client,
                token_url,
                client_id,
                client_secret,
                scope_param or None,
                client_auth,
                insecure_http=insecure_http,
                dpop=dpop,
            )
    entry = entry_for(
        response,
        token_url=token_url,
        asked_scope=scope_param,
        client_id=client_id,
        client_auth=client_auth,
        client_secret_file=client_secret_file,
        username=username if grant == "password" else None,
        insecure_http=insecure_http,
        trusted_origins=[origin_of(app_url)] if app_url is not None else [],
    )
    entry.dpop_key_file = str(dpop_key_file) if dpop_key_file is not None else None
    return entry


def entry_for(
    response: TokenResponse,
    *,
    token_url: str,
    asked_scope: str,
    client_id: str | None,
    client_auth: str,
    client_secret_file: Path | None,
    username: str | None,
    insecure_http: bool,
    now: float | None = None,
    trusted_origins: Iterable[str] = (),
) -> CacheEntry:
    """The cache entry for a token endpoint's answer; ``trusted_origins`` may receive its token too."""
    # Remembered so that refresh and call keep working over the plain http the user accepted.
    insecure = [origin_of(token_url)] if insecure_http and needs_insecure_http(token_url) else []
    allowed = list(dict.fromkeys([*insecure, *trusted_origins]))
    return CacheEntry.from_token_response(
        response,
        now=time.time() if now is None else now,
        asked_scope=asked_scope,
        source="remote",
        token_url=token_url,
        client_id=client_id,
        client_auth=client_auth if client_id else None,
        client_secret_file=(
            str(client_secret_file.resolve()) if client_secret_file is not None else None
        ),
        username=username,
        allowed_origins=allowed,
    )
