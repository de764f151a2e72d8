"""``oauthcli client ...``: OAuth clients of ``oauthcli serve`` (client credentials, browser, device)."""

from pathlib import Path
from typing import Annotated

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import read_stdin_line, resolve_store_path
from oauthcli.cli.options import ClaimOption, JsonOption, StoreOption

app = typer.Typer(
    help="Manage OAuth clients (client_credentials, authorization code, device) in the user store.",
    no_args_is_help=True,
)

IdArg = Annotated[
    str,
    typer.Argument(
        help="Client id.",
        metavar="CLIENT_ID",
        show_default=False,
        autocompletion=complete.client_ids,
    ),
]


def _store(store: Path | None):
    from oauthcli.store import UserStore

    return UserStore(resolve_store_path(store))


def _new_secret_hash(secret_stdin: bool, secret_out: Path | None, rounds: int) -> str:
    """The stored hash of the client secret: one read from stdin (chosen by a person: bcrypt),
    or one generated into a new 0600 file (256 random bits: a fast salted hash, see
    ``oauthcli.passwords``). The secret is never on argv, never printed."""
    from oauthcli.errors import UsageError
    from oauthcli.passwords import generate_secret, hash_generated_secret, hash_password

    if secret_stdin == (secret_out is not None):
        raise UsageError("give exactly one of --secret-stdin or --new-secret-file FILE")
    if secret_stdin:
        secret = read_stdin_line("client secret")
        if len(secret) < 16:
            raise UsageError("the client secret must be at least 16 characters")
        with output.working(f"hashing the secret with bcrypt at cost {rounds}"):
            return hash_password(secret, rounds)
    from oauthcli.fileio import atomic_write

    assert secret_out is not None
    if secret_out.exists():
        raise UsageError(f"{secret_out} already exists; the new secret is not written over it")
    secret = generate_secret()
    hashed = hash_generated_secret(secret)
    atomic_write(secret_out, (secret + "\n").encode(), mode=0o600)
    return hashed


@app.command("add")
def add(
    client_id: IdArg,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="Scope the client may be granted (repeatable).",
            show_default=False,
        ),
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option("--secret-stdin", help="Read the client secret from the first line of stdin."),
    ] = False,
    secret_out: Annotated[
        Path | None,
        typer.Option(
            "--new-secret-file",
            help="Generate a random secret into this new file (mode 0600), e.g. for OAUTHCLI_CLIENT_SECRET.",
            show_default=False,
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="A public client (browser app, CLI): no secret; PKCE required at /authorize.",
        ),
    ] = False,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            help="Where /authorize may send codes (repeatable); http://127.0.0.1 matches any port.",
            show_default=False,
        ),
    ] = None,
    post_logout_redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--post-logout-redirect-uri",
            help="Where /logout may send the browser back (repeatable; exact match).",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            help="The aud of access tokens issued to this client (repeatable).",
            show_default=False,
        ),
    ] = None,
    claim: ClaimOption = None,
    require_dpop: Annotated[
        bool,
        typer.Option(
            "--require-dpop",
            help="Its token requests must carry a DPoP proof (RFC 9449): bound tokens only.",
        ),
    ] = False,
    require_par: Annotated[
        bool,
        typer.Option(
            "--require-par",
            help="/authorize takes this client's requests only when pushed to /par (RFC 9126).",
        ),
    ] = False,
    token_exchange: Annotated[
        bool,
        typer.Option(
            "--token-exchange",
            help="The client may exchange tokens at /token (RFC 8693).",
        ),
    ] = False,
    exchange_audience: Annotated[
        list[str] | None,
        typer.Option(
            "--exchange-audience",
            help="An audience the client may ask exchanged tokens for (repeatable).",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Add a client; a confidential client's secret is stored hashed (bcrypt for a chosen one)."""
    from oauthcli import settings
    from oauthcli.claims import parse_claim_assignment
    from oauthcli.errors import UsageError
    from oauthcli.store import Client, validate_name, validate_redirect_uri, validate_scopes

    validate_name(client_id, "client id")
    scopes = validate_scopes([s for value in scope or [] for s in value.split()])
    redirect_uris = list(dict.fromkeys(validate_redirect_uri(u) for u in redirect_uri or []))
    logout_uris = list(
        dict.fromkeys(validate_redirect_uri(u) for u in post_logout_redirect_uri or [])
    )
    claims = dict(parse_claim_assignment(c) for c in claim or [])
    audiences = list(dict.fromkeys(audience or []))
    if any(not a or a != a.strip() for a in audiences):
        raise UsageError("--audience must not be empty or start or end with a space")
    user_store = _store(store)
    if user_store.exists() and client_id in user_store.load().clients:
        raise UsageError(f"client {client_id!r} already exists")
    if user_store.exists() and client_id in user_store.load().users:
        raise UsageError(f"{client_id!r} is a username; a client id must not be a username")
    hashed = ""
    if public:
        if secret_stdin or secret_out is not None:
            raise UsageError(
                "a --public client has no secret: drop --secret-stdin/--new-secret-file"
            )
    else:
        rounds = settings.bcrypt_rounds(
            user_store.load().bcrypt_rounds if user_store.exists() else None
        )
        hashed = _new_secret_hash(secret_stdin, secret_out, rounds)
    with user_store.edit(create=True) as data:
        if client_id in data.clients:
            raise UsageError(f"client {client_id!r} already exists")
        data.clients[client_id] = Client(
            client_id=client_id,
            hashed_secret=hashed,
            scopes=scopes,
            public=public,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=logout_uris,
            audience=(audiences[0] if len(audiences) == 1 else audiences) or None,
            claims=claims,
            require_dpop=require_dpop,
            require_pushed_authorization_requests=require_par,
            token_exchange=token_exchange or bool(exchange_audience),
            exchange_audiences=list(exchange_audience or []),
        )
    where = f"; secret in {secret_out}" if secret_out else ""
    output.note(f"added client {client_id!r} to {user_store.path}{where}")


def _registered_rows(store: Path | None) -> list[dict]:
    """Clients registered at a running serve's /register (RFC 7591), from its state:
    ``$OAUTHCLI_STATE`` (Redis) or the SQLite file beside the store."""
    from oauthcli import settings
    from oauthcli.server.registered import REGISTERED
    from oauthcli.state import open_state

    url = settings.state_url()
    path = resolve_store_path(store)
    state = open_state(url, path, settings.state_password())
    try:
        if url is None and not state.has_data():
            return []  # no state file yet: nothing registered (and none created)
        records = state.items(REGISTERED)
    finally:
        state.close()
    return [
        {
            "client_id": key,
            "client_name": record.get("client_name"),
            "token_endpoint_auth_method": record.get("token_endpoint_auth_method"),
            "grant_types": list(record.get("grant_types") or []),
            "scope": record.get("scope", ""),
            "redirect_uris": list(record.get("redirect_uris") or []),
            "client_id_issued_at": record.get("client_id_issued_at"),
        }
        for key, record in records.items()
    ]


@app.command("list")
def list_clients(
    json_output: JsonOption = False,
    registered: Annotated[
        bool,
        typer.Option(
            "--registered",
            help="List the clients registered at serve's /register (RFC 7591), kept in its state.",
        ),
    ] = False,
    store: StoreOption = None,
) -> None:
    """List clients (never their secret hashes)."""
    if registered:
        found = _registered_rows(store)
        if json_output:
            output.print_json(found)
            return
        output.table(
            ["CLIENT ID", "NAME", "AUTH", "SCOPE", "REDIRECT URIS"],
            fit=True,
            rows=[
                [
                    r["client_id"],
                    r["client_name"] or "-",
                    r["token_endpoint_auth_method"],
                    r["scope"] or "-",
                    " ".join(r["redirect_uris"]) or "-",
                ]
                for r in found
            ],
        )
        return
    clients = list(_store(store).load().clients.values())
    rows = [
        {
            "client_id": c.client_id,
            "disabled": c.disabled,
            "scopes": list(c.scopes),
            "public": c.public,
            "redirect_uris": list(c.redirect_uris),
            "post_logout_redirect_uris": list(c.post_logout_redirect_uris),
            "audience": c.audience,
            "claims": dict(c.claims),
            "require_dpop": c.require_dpop,
            "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
            "token_exchange": c.token_exchange,
            "exchange_audiences": list(c.exchange_audiences),
        }
        for c in clients
    ]
    if json_output:
        output.print_json(rows)
        return
    output.table(
        ["CLIENT ID", "TYPE", "STATUS", "SCOPES", "REDIRECT URIS"],
        fit=True,
        rows=[
            [
                r["client_id"],
                "public" if r["public"] else "confidential",
                "disabled" if r["disabled"] else "active",
                " ".join(r["scopes"]) or "-",
                " ".join(r["redirect_uris"]) or "-",
            ]
            for r in rows
        ],
    )


@app.command("remove")
def remove(client_id: IdArg, store: StoreOption = None) -> None:
    """Remove a client."""
    from oauthcli.errors import UsageError

    with _store(store).edit() as data:
        if client_id not in data.clients:
            raise UsageError(f"no client {client_id!r} in the store")
        del data.clients[client_id]
    output.note(f"removed client {client_id!r}")


def _set_disabled(client_id: str, disabled: bool, store: Path | None) -> None:
    from oauthcli.errors import UsageError

    with _store(store).edit() as data:
        client = data.clients.get(client_id)
        if client is None:
            raise UsageError(f"no client {client_id!r} in the store")
        unchanged = client.disabled == disabled
        client.disabled = disabled
    state = "disabled" if disabled else "enabled"
    output.note(
        f"client {client_id!r} is already {state}" if unchanged else f"{state} client {client_id!r}"
    )


@app.command("disable")
def disable(client_id: IdArg, store: StoreOption = None) -> None:
    """Disable a client: its client_credentials requests are refused until enabled."""
    _set_disabled(client_id, True, store)


@app.command("enable")
def enable(client_id: IdArg, store: StoreOption = None) -> None:
    """Enable a disabled client."""
    _set_disabled(client_id, False, store)
