"""What a profile from an OpenID provider login needs again later: client authentication,
the parameters to refresh with, and a refreshed ID token checked like the first one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.errors import Reason

if TYPE_CHECKING:
    from oauthcli.client.answer import TokenResponse
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.cache import CacheEntry


def client_authentication(
    entry: CacheEntry, secret: str | None = None
) -> ClientAuthentication | None:
    """The client authentication of ``entry``; None for a basic/post client when ``secret`` is not given."""
    from oauthcli.client.assertion import ClientAuthentication, load_client_key

    if not entry.client_id:
        return None
    issuer, token_url = entry.issuer, entry.token_url
    if entry.client_auth == "none":
        return ClientAuthentication(
            entry.client_id, "none", issuer=issuer, token_endpoint=token_url
        )
    if entry.client_auth == "private-key-jwt" and entry.client_key_file:
        key = load_client_key(Path(entry.client_key_file))
        return ClientAuthentication(
            entry.client_id, "private-key-jwt", key=key, issuer=issuer, token_endpoint=token_url
        )
    if secret is not None:
        method = entry.client_auth or "basic"
        return ClientAuthentication(
            entry.client_id, method, secret, issuer=issuer, token_endpoint=token_url
        )
    return None  # the secret-based path of ``grants.refresh_grant`` reads it


def refresh_parameters(entry: CacheEntry) -> dict[str, str | list[str]]:
    """``resource`` (RFC 8707 2.2: the first, current one) and ``audience``, asked for again."""
    extra: dict[str, str | list[str]] = {}
    if entry.resources:
        extra["resource"] = entry.resources[0]
    if entry.audience:
        extra["audience"] = entry.audience
    return extra


def refreshed_id_token(entry: CacheEntry, response: TokenResponse, http: Any) -> str | None:
    """The new ID token of a refresh answer, verified (OIDC Core 12.2); else the old one."""
    from oauthcli.client.idtoken import verify_id_token
    from oauthcli.errors import TokenError

    new = response.raw.get("id_token")
    jwks = entry.endpoints.get("jwks")
    if not isinstance(new, str) or not (entry.issuer and jwks and entry.client_id):
        return entry.id_token
    claims = verify_id_token(
        new,
        issuer=entry.issuer,
        client_id=entry.client_id,
        jwks_uri=jwks,
        http_client=http,
        nonce=None,
        access_token=response.access_token,
    )
    if entry.id_token:
        import jwt

        old = jwt.decode(entry.id_token, options={"verify_signature": False})
        if old.get("sub") != claims.get("sub"):
            raise TokenError(
                "the refreshed ID token is about another user (sub changed)", Reason.CLAIM
            )
    return new


def _expired(jwt_token: str, margin: int) -> bool:
    import time

    import jwt

    try:
        exp = jwt.decode(jwt_token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return False
    return isinstance(exp, int | float) and time.time() + margin >= exp


def fresh_id_token(source: Any) -> str:
    """The ID token of a ``credentials.ProfileToken``, refreshed first when it has expired."""
    from oauthcli.client.answer import check_header_safe
    from oauthcli.client.cache import EXPIRY_MARGIN
    from oauthcli.errors import AuthenticationError

    entry = source.fresh()
    if not entry.id_token:
        raise AuthenticationError(
            f"profile {source.profile!r} has no ID token: log in with --issuer-url "
            "and the openid scope"
        )
    if _expired(entry.id_token, EXPIRY_MARGIN) and source.can_refresh:
        entry = source.refresh()
    if not entry.id_token or _expired(entry.id_token, 0):
        raise AuthenticationError(
            f"the ID token of profile {source.profile!r} has expired and the provider gave "
            "no new one: log in again"
        )
    return check_header_safe(entry.id_token, "ID token")


def login_arguments(entry: CacheEntry) -> dict[str, Any] | None:
    """The options of ``login --issuer-url`` that made ``entry``, to log in the same way
    again when its tokens are dead; None for a profile no person logs in to again (a local
    store, a password or client-credentials login: those are run as the person ran them)."""
    if not (entry.source == "remote" and entry.issuer and entry.client_id):
        return None
    if entry.grant not in ("authorization_code", "device_code"):
        return None
    from oauthcli.urls import origin_of

    token_url = entry.token_url or ""
    return {
        "issuer_url": entry.issuer,
        "grant": entry.grant.replace("_", "-"),
        "client_id": entry.client_id,
        "client_auth": entry.client_auth,
        "client_secret_file": entry.client_secret_file,
        "client_key": entry.client_key_file,
        "scopes": entry.scope.split(),
        "resources": list(entry.resources),
        "audience": entry.audience,
        "insecure_http": bool(token_url) and origin_of(token_url) in entry.allowed_origins,
        "redirect_uri": entry.redirect_uri,
        "dpop_key_file": entry.dpop_key_file,
    }


def login_command(profile: str, arguments: dict[str, Any]) -> list[str]:
    """``oauthcli --profile P login --issuer-url ...`` for :func:`login_arguments`: what a
    person runs at a terminal (never a secret: files are named, not read)."""
    command = ["--profile", profile, "login", "--issuer-url", str(arguments["issuer_url"])]
    command += ["--client-id", str(arguments["client_id"])]
    if arguments["grant"] != "authorization-code":
        command += ["--grant", str(arguments["grant"])]
    for option, key in (
        ("--client-auth", "client_auth"),
        ("--client-secret-file", "client_secret_file"),
        ("--client-key", "client_key"),
        ("--audience", "audience"),
        ("--redirect-uri", "redirect_uri"),
    ):
        if arguments[key] and not (key == "client_auth" and arguments[key] in ("none", "basic")):
            command += [option, str(arguments[key])]
    if arguments["scopes"]:
        command += ["--scope", " ".join(arguments["scopes"])]
    for resource in arguments["resources"]:
        command += ["--resource", resource]
    if arguments["insecure_http"]:
        command.append("--insecure-http")
    if arguments["dpop_key_file"]:
        command.append("--dpop")
    return command
