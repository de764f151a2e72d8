"""Password login, once: for the local ``oauthcli login USER`` and for ``serve``'s ``/token``.

``password_login`` authenticates against the store (bcrypt; unknown users cost a
dummy verification as slow as the slowest real one), refuses disabled users,
upgrades an outdated hash, grants scopes, and starts a refresh session. Failures
are ``AuthenticationError`` with a ``reason``: ``invalid_grant`` (wrong username or
password), ``inactive`` (disabled user, only said once the password was right),
``invalid_scope``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from oauthcli.errors import AuthenticationError, OAuthCliError, Reason
from oauthcli.issuer import Audience
from oauthcli.store import StoreData, User, UserStore
from oauthcli.tokens import TokenPair, TokenService

INCORRECT = "incorrect username or password"
INACTIVE = "inactive user"


@dataclass(frozen=True)
class LoginResult:
    user: User
    pair: TokenPair
    # Set when the stored hash was of an outdated scheme or cost: True once saved as
    # bcrypt; the error when saving failed (the login itself still succeeds).
    hash_upgraded: bool = False
    upgrade_error: OAuthCliError | None = None


def authenticate(
    users: dict[str, User], username: str, password: str, rounds: int
) -> tuple[User, str | None]:
    """Check a username and password the way the tutorial's ``/token`` does.

    Returns the user and, when the stored hash is outdated, its replacement.
    Unknown users cost a dummy verification at least as slow as any stored hash's.
    """
    from oauthcli.passwords import dummy_verify, verify_password

    user = users.get(username)
    if user is None:
        dummy_verify(rounds, hashes=[u.hashed_password for u in users.values()])
        raise AuthenticationError(INCORRECT)
    ok, replacement = verify_password(password, user.hashed_password, rounds)
    if not ok:
        raise AuthenticationError(INCORRECT)
    if user.disabled:
        raise AuthenticationError(INACTIVE, Reason.INACTIVE)
    return user, replacement


def grant_scopes(allowed: list[str], requested: list[str] | None) -> list[str]:
    """The scopes to grant: all allowed when none asked, else exactly those asked."""
    if not requested:
        return list(allowed)
    missing = [s for s in requested if s not in allowed]
    if missing:
        raise AuthenticationError(f"scope not granted: {' '.join(missing)}", Reason.INVALID_SCOPE)
    return list(dict.fromkeys(requested))


def upgrade_hash(store: UserStore, user: User, replacement: str) -> OAuthCliError | None:
    """Save the bcrypt replacement of an outdated hash; return the error instead of raising."""
    try:
        with store.edit() as data:
            stored = data.users.get(user.username)
            if stored is not None and stored.hashed_password == user.hashed_password:
                stored.hashed_password = replacement
    except OAuthCliError as exc:
        return exc
    return None


def password_login(
    store: UserStore,
    data: StoreData,
    service: TokenService,
    username: str,
    password: str,
    requested: list[str] | None,
    rounds: int,
    client_id: str | None = None,
    client_scopes: Collection[str] | None = None,
    audience: Audience | None = None,
    jkt: str | None = None,
    bind_refresh: bool = False,
) -> LoginResult:
    """Authenticate, upgrade the hash, grant scopes, and issue a new session's tokens.

    Blocking (bcrypt, file locks): ``serve`` runs it in its thread pool. ``client_id`` is
    the client that authenticated the request, if any: the tokens are bound to it, and
    only scopes both the user and the client hold (``client_scopes``) are granted, as
    ``/authorize`` grants them. ``audience``: ``IssuerSettings.audience_for``'s (RFC 8707).
    """
    user, replacement = authenticate(data.users, username, password, rounds)
    upgraded, error = False, None
    if replacement is not None:
        error = upgrade_hash(store, user, replacement)
        upgraded = error is None
    allowed = [s for s in user.scopes if client_scopes is None or s in client_scopes]
    scopes = grant_scopes(allowed, requested)
    pair = service.login(
        user.username,
        scopes,
        generation=user.generation,
        client_id=client_id,
        audience=audience,
        jkt=jkt,
        bind_refresh=bind_refresh,
    )
    return LoginResult(user, pair, upgraded, error)
