"""``oauthcli init``: a new user store that every flow of ``serve`` works with at once.

One store file with an ``[issuer]`` table, a fresh signing key beside it (asymmetric by
default, so ID tokens and ``--issuer-url`` logins can be verified through the JWKS), and
optionally a first user and a public client for browser and device logins. Nothing is
written when anything would be overwritten without ``overwrite``; the key is written
first, the store last, each atomically and 0600.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from oauthcli.errors import UsageError
from oauthcli.urls import is_loopback_url

DEFAULT_ALGORITHM = "ES256"
# Where ``serve`` listens by default; the store names no issuer unless asked, so ``serve``
# on another port is its own issuer (``iss`` follows the URL it serves).
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CLIENT_ID = "cli"
DEFAULT_SCOPES = ("me", "items")


@dataclass(frozen=True)
class InitPlan:
    """What ``init`` writes; ``hashed_password`` is set when ``user`` is."""

    store_path: Path
    algorithm: str = DEFAULT_ALGORITHM
    issuer: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    user: str | None = None
    hashed_password: str | None = None
    client_id: str | None = DEFAULT_CLIENT_ID
    overwrite: bool = False


@dataclass
class InitResult:
    store_path: Path
    key_path: Path
    kid: str
    algorithm: str
    issuer: str | None
    user: str | None
    client_id: str | None
    scopes: list[str] = field(default_factory=list)


def key_path_for(store_path: Path, algorithm: str) -> Path:
    """The signing key's file beside the store: ``signing.pem`` (or ``signing.secret``)."""
    from oauthcli.keys import HMAC, family_of

    name = "signing.secret" if family_of(algorithm) == HMAC else "signing.pem"
    return store_path.parent / name


def redirect_uris(issuer: str | None) -> list[str]:
    """Where the init client's codes may go: any loopback port (the CLI's own browser login,
    RFC 8252 section 7.3; a loopback URI matches on every port, so Swagger UI's Authorize
    button on a local ``serve``'s ``/docs`` too) and, for an issuer elsewhere, its ``/docs``."""
    uris = ["http://127.0.0.1/callback", "http://127.0.0.1/docs/oauth2-redirect"]
    if issuer is not None and not is_loopback_url(issuer):
        uris.append(f"{issuer.rstrip('/')}/docs/oauth2-redirect")
    return uris


def _check_issuer(issuer: str) -> None:
    from urllib.parse import urlsplit

    from oauthcli.text import clean
    from oauthcli.urls import is_plain_remote_http

    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--issuer must be an http(s) URL with a host, not {clean(issuer, 140)!r}")
    if parts.query or parts.fragment:
        # OpenID Connect Discovery section 3 / RFC 8414 section 2: no query or fragment.
        raise UsageError("--issuer must not have a query or a fragment")
    if is_plain_remote_http(issuer):
        raise UsageError("--issuer: plain http is for loopback addresses only; use https")


def check_plan(plan: InitPlan) -> Path:
    """Refuse before anything is written; return the key file's path."""
    from oauthcli.keys import family_of
    from oauthcli.store import validate_name, validate_scopes

    family_of(plan.algorithm)
    validate_scopes(list(plan.scopes))
    if plan.issuer is not None:
        _check_issuer(plan.issuer)
    if plan.user is not None:
        validate_name(plan.user)
    if plan.client_id is not None:
        validate_name(plan.client_id, "client id")
        if plan.client_id == plan.user:
            raise UsageError(f"{plan.user!r} cannot be both the user and the client id")
    store = plan.store_path
    if store.is_dir():
        raise UsageError(f"{store} is a directory; give a file name with --store")
    if not store.parent.is_dir():
        raise UsageError(f"directory {store.parent} does not exist")
    key_path = key_path_for(store, plan.algorithm)
    if not plan.overwrite:
        for path in (store, key_path):
            if path.exists() or path.is_symlink():
                raise UsageError(f"{path} already exists (use --force to replace it)")
    return key_path


def initialise(plan: InitPlan) -> InitResult:
    """Write the key and then the store the plan describes."""
    from oauthcli.accounts import new_generation
    from oauthcli.keys import write_new_key
    from oauthcli.store import Client, StoreData, User, UserStore

    key_path = check_plan(plan)
    data = StoreData()
    table: dict[str, str] = {"algorithm": plan.algorithm}
    if plan.issuer is not None:
        table["issuer"] = plan.issuer
    table.update(access_token_ttl="15m", refresh_token_ttl="7d")
    table["key_file"] = key_path.name  # relative to the store, so the folder can move
    data.other["issuer"] = table
    scopes = list(plan.scopes)
    if plan.user is not None:
        if plan.hashed_password is None:
            raise UsageError("a first user needs a password")
        data.users[plan.user] = User(
            username=plan.user,
            hashed_password=plan.hashed_password,
            scopes=scopes,
            generation=new_generation(),
        )
    if plan.client_id is not None:
        data.clients[plan.client_id] = Client(
            client_id=plan.client_id,
            public=True,
            scopes=scopes,
            redirect_uris=redirect_uris(plan.issuer),
        )
    kid = write_new_key(key_path, plan.algorithm, overwrite=plan.overwrite)
    UserStore(plan.store_path).create(data, overwrite=plan.overwrite)
    return InitResult(
        store_path=plan.store_path,
        key_path=key_path,
        kid=kid,
        algorithm=plan.algorithm,
        issuer=plan.issuer,
        user=plan.user,
        client_id=plan.client_id,
        scopes=scopes,
    )


def next_commands(result: InitResult, store_named: bool) -> list[str]:
    """The three commands that take a newcomer from here to a browser login and an API call."""
    import shlex
    from urllib.parse import urlsplit

    store = f" --store {shlex.quote(str(result.store_path))}" if store_named else ""
    url = result.issuer or DEFAULT_URL
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    commands = [f"oauthcli{store} serve --port {port}"]
    if result.client_id is not None:
        commands.append(
            f"oauthcli login --issuer-url {shlex.quote(url)} "
            f"--client-id {shlex.quote(result.client_id)}"
        )
    elif result.user is not None:
        commands.append(f"oauthcli{store} login {shlex.quote(result.user)}")
    else:
        commands.append(f"oauthcli{store} user add alice --scope {' --scope '.join(result.scopes)}")
    commands.append(f"oauthcli call GET {url.rstrip('/')}/users/me")
    return commands
