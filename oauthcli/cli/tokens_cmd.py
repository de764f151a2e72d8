"""``oauthcli login`` / ``refresh`` / ``logout``: get tokens and keep them.

Local login checks the password against the user store and signs with the
store's ``[issuer]`` key; ``login --url`` (and refreshing a profile that came
from a token endpoint) is delegated to ``oauthcli.client.login`` / ``oauthcli.client.refresh``;
this module only checks option combinations and prints.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import read_password, require_prompt, resolve_profile, resolve_store_path
from oauthcli.cli.options import JsonOption, PasswordStdinOption, ProfileOption, StoreOption
from oauthcli.errors import Reason, UsageError

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.cache import CacheEntry, TokenCache
    from oauthcli.issuer import IssuerSettings
    from oauthcli.keys import SigningKey
    from oauthcli.store import StoreData

ScopeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        "-s",
        help="Scope to ask for (repeatable, or space-separated); default: all the user has.",
        show_default=False,
    ),
]
PrintOption = Annotated[
    bool, typer.Option("--print", help="Print only the access token (for TOKEN=$(...)).")
]
CacertOption = Annotated[
    Path | None,
    typer.Option(
        "--cacert", help="CA bundle (PEM) to verify the token endpoint with.", show_default=False
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="text (a summary), json, or env: OAUTHCLI_ACCESS_TOKEN=... lines for .env / $GITHUB_ENV.",
        show_default=False,
        autocompletion=complete.formats,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", help="Seconds to wait for the token endpoint.", min=0.1),
]

# ---------------------------------------------------------------- shared helpers


def scope_list(values: list[str] | None) -> list[str] | None:
    """``--scope`` values, each possibly space-separated; None when none was given."""
    if not values:
        return None
    from oauthcli.claims import split_scopes

    return split_scopes(values)


def _cache() -> "TokenCache":
    from oauthcli.cli.common import token_cache

    return token_cache()


def cache_and_report(
    profile: str, entry: "CacheEntry", print_only: bool, json_output: bool, verb: str
) -> None:
    """Save ``entry`` as ``profile`` (``exchange`` too) and print it as a login does."""
    cache_path = _save_login(_cache(), profile, entry)
    _report(entry, profile, cache_path, print_only, json_output, verb)


def check_profile(profile: str, print_only: bool, json_output: bool) -> None:
    """The output options agree and the profile and cache are usable, before any request."""
    _output_mode(print_only, json_output)
    _cache().check(profile)


def load_issuer(store_path: Path, data: "StoreData") -> "tuple[IssuerSettings, SigningKey]":
    from oauthcli.issuer import settings_for_store

    issuer = settings_for_store(store_path, data.issuer)
    return issuer, issuer.signing_key()


def _output_mode(print_only: bool, json_output: bool) -> None:
    if print_only and json_output:
        raise UsageError("--print and --json contradict each other: choose one")


def _report(
    entry: "CacheEntry",
    profile: str,
    cache_path: Path,
    print_only: bool,
    json_output: bool,
    verb: str,
    fmt: str = "text",
) -> None:
    from oauthcli.cli import ci_output

    tokens = {
        "access_token": entry.access_token,
        "refresh_token": entry.refresh_token,
        "id_token": getattr(entry, "id_token", None),
    }
    if fmt == "env":
        ci_output.print_env(tokens)
        return
    if print_only:
        ci_output.emit(entry.access_token, [entry.access_token])
        return
    if json_output:
        # the tokens were just obtained: expires_in as the server's answer gave it, however
        # long the login itself took (a loaded machine must not print 899 for 900)
        ci_output.emit_json(entry.token_response(now=entry.obtained_at), tokens.values())
        return
    from datetime import UTC, datetime

    from oauthcli.durations import relative_time

    now = int(time.time())
    if 0 <= now - entry.obtained_at <= 5:
        now = entry.obtained_at  # just obtained: show the lifetime it was issued with
    # Every field may come from a server or a hand-edited cache: cleaned before it is shown.
    subject = entry.subject()
    who = output.clean(subject or f"client {entry.client_id or '?'}")
    origin = output.clean(str(entry.store if entry.source == "local" else entry.token_url))
    output.echo(f"{verb} {who} ({origin})")
    if entry.client_id and subject:
        output.echo(f"  client:   {output.clean(entry.client_id)}")
    output.echo(f"  scopes:   {output.clean(entry.scope, 2000) or '-'}")
    if entry.expires_at is None:
        output.echo("  expiry:   not stated by the server")
    else:
        try:
            when = datetime.fromtimestamp(entry.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, ValueError, OSError):
            when = "beyond year 9999"
        rel = relative_time(entry.expires_at, now, past="expired {} ago", future="expires in {}")
        output.echo(f"  expiry:   {rel} ({when})")
    output.echo(f"  refresh:  {'yes' if entry.refresh_token else 'no'}")
    output.echo(f"  profile:  {profile} ({cache_path})")


# ---------------------------------------------------------------- login


def _save_login(cache: "TokenCache", profile: str, entry: "CacheEntry") -> Path:
    """Save a new login, saying so when it replaces a profile of another subject or provider."""
    from oauthcli.errors import OAuthCliError

    try:
        previous = cache.load(profile)
    except OAuthCliError:  # a corrupt or unreadable entry is replaced without a word
        previous = None
    if previous is not None and (previous.subject(), previous.provider()) != (
        entry.subject(),
        entry.provider(),
    ):
        who = previous.subject() or f"client {previous.client_id or '?'}"
        output.note(
            f"replaced profile {profile!r}, which held {output.clean(who)} at "
            f"{output.clean(previous.provider())} (keep both with --profile NAME)"
        )
    if entry.dpop_key_file and not entry.dpop_key:
        from oauthcli.client.dpop_key import load_key

        # with the keyring token store, the key goes there with the tokens
        entry.dpop_key = load_key(Path(entry.dpop_key_file)).to_pem().decode()
    return cache.save(profile, entry)


def login_local(
    store_path: Path, username: str, requested: list[str] | None, password_stdin: bool
) -> "CacheEntry":
    """Check the password against the store and issue a new session's tokens."""
    from oauthcli import settings
    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.refresh import as_token_response
    from oauthcli.login import password_login
    from oauthcli.sessions import SessionStore
    from oauthcli.store import UserStore
    from oauthcli.tokens import TokenService

    store = UserStore(store_path)
    data = store.load()
    # Key problems are found before anyone types a password.
    issuer, key = load_issuer(store_path, data)
    password = read_password(password_stdin)
    service = TokenService(issuer, key, SessionStore.for_store(store_path))
    now = time.time()
    result = password_login(
        store,
        data,
        service,
        username,
        password,
        requested,
        settings.bcrypt_rounds(data.bcrypt_rounds),
    )
    del password
    if result.upgrade_error is not None:
        output.warn(f"could not upgrade the password hash of {username!r}: {result.upgrade_error}")
    elif result.hash_upgraded:
        output.note(f"upgraded the password hash of {username!r} to bcrypt")
    return CacheEntry.from_token_response(
        as_token_response(result.pair),
        now=now,
        source="local",
        store=str(store_path),
        username=result.user.username,
    )


def _refuse_provider_options(provider_only: dict[str, bool], grant: str | None) -> None:
    """Options and grants (a browser or device login) that only a login at a provider has."""
    given = [name for name, used in provider_only.items() if used]
    if grant is not None and not given:
        from oauthcli.client.oidc_login import INTERACTIVE_GRANTS

        given = [f"--grant {grant}"] if grant in INTERACTIVE_GRANTS else []
    if given:
        raise UsageError(f"{given[0]} needs --issuer-url")


def login(
    username: Annotated[
        str | None,
        typer.Argument(
            metavar="USERNAME",
            help="User to log in (not needed for --grant client-credentials).",
            show_default=False,
            autocompletion=complete.usernames,
        ),
    ] = None,
    scope: ScopeOption = None,
    password_stdin: PasswordStdinOption = False,
    print_only: PrintOption = False,
    json_output: JsonOption = False,
    store: StoreOption = None,
    profile: ProfileOption = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Token endpoint to log in against instead of the local store.",
            show_default=False,
        ),
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(
            "--grant",
            help="password, client-credentials; with --issuer-url also authorization-code "
            "(the default without USERNAME) or device-code.",
            show_default=False,
            autocompletion=complete.grants,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="With --url or --issuer-url: OAuth client id.",
            show_default=False,
        ),
    ] = None,
    client_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--client-secret-file",
            help="With --url or --issuer-url: file holding the client secret "
            "(or env OAUTHCLI_CLIENT_SECRET).",
            show_default=False,
        ),
    ] = None,
    client_auth: Annotated[
        str | None,
        typer.Option(
            "--client-auth",
            help="basic or post (the client secret); with --issuer-url also private-key-jwt "
            "(--client-key) or none (a public client). Default: basic with a secret, else none.",
            show_default=False,
            autocompletion=complete.client_auth_methods,
        ),
    ] = None,
    cacert: CacertOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait for the token endpoint (default 10); for a browser or "
            "device login, for the person to finish it (default 300).",
            min=0.1,
            show_default=False,
        ),
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="With --url: allow sending credentials over http:// to a non-loopback host.",
        ),
    ] = False,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="OpenID provider to log in at (its discovery document names the endpoints).",
            show_default=False,
        ),
    ] = None,
    resource_url: Annotated[
        str | None,
        typer.Option(
            "--resource-url",
            metavar="URL",
            help="Log in for this API: its protected resource metadata (RFC 9728) names the "
            "provider, and the token is asked for it (resource).",
            show_default=False,
        ),
    ] = None,
    client_key: Annotated[
        Path | None,
        typer.Option(
            "--client-key",
            help="With --issuer-url: PEM private key for --client-auth private-key-jwt.",
            show_default=False,
        ),
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            help="With --issuer-url: API (RFC 8707 resource URI) the token is for; repeatable.",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience", help="With --issuer-url: audience parameter (Auth0).", show_default=False
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="With --issuer-url: extra authorization parameter NAME=VALUE "
            "(prompt, login_hint, acr_values ...); repeatable.",
            show_default=False,
        ),
    ] = None,
    redirect_uri: Annotated[
        str | None,
        typer.Option(
            "--redirect-uri",
            help="Browser login: the registered loopback redirect URI "
            "(default http://127.0.0.1:<free port>/callback).",
            show_default=False,
        ),
    ] = None,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser",
            help="Browser login: print the URL, open nothing; the address the browser "
            "was sent to may be pasted back (SSH).",
        ),
    ] = False,
    par: Annotated[
        bool,
        typer.Option(
            "--par",
            help="Browser login: push the request to the provider's /par first (RFC 9126); "
            "automatic when its discovery requires it.",
        ),
    ] = False,
    app_url: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="URL",
            help="Log in the way an app's OpenAPI document says (its /openapi.json, or that URL).",
            show_default=False,
        ),
    ] = None,
    app_scheme: Annotated[
        str | None,
        typer.Option(
            "--app-scheme",
            metavar="NAME",
            help="With --app: the OAuth2 security scheme to use when the app has several.",
            show_default=False,
        ),
    ] = None,
    dpop: Annotated[
        bool,
        typer.Option(
            "--dpop",
            help="With --url or --issuer-url: bind the tokens to this profile's DPoP key "
            "(RFC 9449; ES256, made on first use, 0600 beside the cache).",
        ),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Log in and cache the tokens in the profile.

    Without --url or --issuer-url the password is checked against the user store and
    tokens are signed with the key of the store's issuer table. With --issuer-url the
    default is a browser login at that OpenID provider. The password is prompted for (hidden)
    or read from the first line of stdin with --password-stdin; never from argv.
    """
    from oauthcli.cli import ci_output

    _output_mode(print_only, json_output)
    fmt = ci_output.resolve_format(fmt, json_output=json_output, print_only=print_only)
    scopes = scope_list(scope)
    profile_name = resolve_profile(profile)
    cache = _cache()
    cache.check(profile_name)  # a bad profile or an unsafe cache fails before the password
    remote = issuer_url is not None or url is not None or app_url is not None
    dpop_key_file = _dpop_key(cache, profile_name) if dpop and remote else None
    if dpop and not remote:
        raise UsageError("--dpop only applies with --url, --app or --issuer-url")
    provider_only = {
        "--client-key": client_key is not None,
        "--resource": bool(resource),
        "--audience": audience is not None,
        "--param": bool(param),
        "--redirect-uri": redirect_uri is not None,
        "--no-browser": no_browser,
        "--par": par,
    }
    if issuer_url is not None or resource_url is not None:
        if url is not None or app_url is not None:
            given = "--issuer-url" if issuer_url is not None else "--resource-url"
            raise UsageError(f"{given} and --url / --app contradict each other: choose one")
        from oauthcli.cli import provider_cmd

        entry = provider_cmd.login_provider(
            issuer_url=issuer_url or "",
            resource_url=resource_url,
            username=username,
            scopes=scopes or [],
            password_stdin=password_stdin,
            grant=grant,
            client_id=client_id,
            client_secret_file=client_secret_file,
            client_auth=client_auth,
            client_key=client_key,
            resources=resource or [],
            audience=audience,
            params=param or [],
            redirect_uri=redirect_uri,
            no_browser=no_browser,
            par=par,
            cacert=cacert,
            timeout=timeout,
            insecure_http=insecure_http,
            dpop_key_file=dpop_key_file,
        )
        cache_path = _save_login(cache, profile_name, entry)
        _report(entry, profile_name, cache_path, print_only, json_output, "Logged in as", fmt)
        return
    _refuse_provider_options(provider_only, grant)
    app_scopes: dict[str, str] | None = None
    if app_url is not None:
        if url is not None:
            raise UsageError("--app and --url contradict each other: choose one")
        url, app_scopes = _app_token_url(
            app_url,
            app_scheme,
            grant or "password",
            cacert,
            10.0 if timeout is None else timeout,
            insecure_http,
            prompt=bool(username) and not password_stdin,
        )
    elif app_scheme is not None:
        raise UsageError("--app-scheme only applies with --app")
    if url is None:
        _refuse_remote_options(
            grant, client_id, client_secret_file, client_auth, cacert, insecure_http
        )
        if not username:
            raise UsageError("missing USERNAME: whom to log in")
        store_path = resolve_store_path(store).resolve()
        entry = login_local(store_path, username, scopes, password_stdin)
    else:
        from oauthcli.errors import AuthenticationError

        try:
            entry = _login_remote(
                url,
                username,
                scopes or [],
                password_stdin,
                grant or "password",
                client_id,
                client_secret_file,
                client_auth or "basic",
                cacert,
                10.0 if timeout is None else timeout,
                insecure_http,
                app_url,
                dpop_key_file,
            )
        except AuthenticationError as exc:
            if app_scopes is not None and (
                exc.reason == Reason.INVALID_SCOPE or "scope" in str(exc).lower()
            ):
                _list_app_scopes(app_scopes)
            raise
        dropped = [s for s in scopes or [] if s not in entry.scope.split()]
        if app_scopes is not None and dropped:
            # Some servers (the FastAPI tutorial's) leave out what they refuse (RFC 6749 3.3).
            output.warn(f"the server did not grant the scope {' '.join(dropped)}")
            _list_app_scopes(app_scopes)
    cache_path = _save_login(cache, profile_name, entry)
    _report(entry, profile_name, cache_path, print_only, json_output, "Logged in as", fmt)


def _dpop_key(cache: "TokenCache", profile: str) -> Path:
    """The profile's DPoP key file (``login --dpop``), made on first use (RFC 9449)."""
    from oauthcli.client.dpop_key import key_path, load_or_create

    path = key_path(cache.directory, profile)
    load_or_create(path)
    return path


def _refuse_remote_options(
    grant: str | None,
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: str | None,
    cacert: Path | None,
    insecure_http: bool,
) -> None:
    """A local login (no --url): options of a remote login are a mistake, not ignored."""
    remote_only = {
        "--grant": grant not in (None, "password"),
        "--client-id": client_id is not None,
        "--client-secret-file": client_secret_file is not None,
        "--client-auth": client_auth is not None,
        "--cacert": cacert is not None,
        "--insecure-http": insecure_http,
    }
    given = [name for name, used in remote_only.items() if used]
    if given:
        raise UsageError(f"{given[0]} only applies with --url (remote login)")


def _app_token_url(
    app_url: str,
    scheme: str | None,
    grant: str,
    cacert: Path | None,
    timeout: float,
    insecure_http: bool,
    prompt: bool = False,
) -> tuple[str, dict[str, str]]:
    """The token endpoint and known scopes from the app's OpenAPI document (``--app``);
    ``prompt``: a password will be typed, so a person must be here before it is fetched."""
    from oauthcli.client.openapi import discover
    from oauthcli.client.policy import check_url_safe
    from oauthcli.http import display_url, make_client

    if grant not in ("password", "client-credentials"):
        raise UsageError(f"--grant must be 'password' or 'client-credentials', not {grant!r}")
    # The document decides where the password goes: fetch it only as safely as a token URL.
    check_url_safe(app_url, insecure_http=insecure_http)
    if prompt and grant == "password":
        require_prompt()
    cafile = str(cacert) if cacert is not None else None
    with make_client(timeout, cafile, notice=output.slow_notice()) as client:
        found = discover(client, app_url, scheme)
    flow = found.scheme.flow_for(grant)
    assert flow.token_url is not None
    output.note(
        f"oauthcli: {output.clean(found.scheme.name)} ({flow.name} flow) from "
        f"{display_url(found.document_url)}: token endpoint {display_url(flow.token_url)}"
    )
    return flow.token_url, found.scheme.scopes


def _list_app_scopes(scopes: dict[str, str]) -> None:
    """The app's scopes, --help style, when the server refused the ones asked for."""
    if not scopes:
        output.note("The app's OpenAPI document names no scopes.")
        return
    output.note("Scopes the app knows (--scope):")
    width = max(len(output.clean(s, 60)) for s in scopes)
    for name, text in scopes.items():
        output.note(f"  {output.clean(name, 60).ljust(width)}  {output.clean(text, 200)}")


def _client_factory(cacert: Path | None, timeout: float) -> "Callable[[], httpx.Client]":
    from oauthcli.http import make_client

    cafile = str(cacert) if cacert is not None else None
    return lambda: make_client(timeout, cafile, notice=output.slow_notice())


def _login_remote(
    url: str,
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
    app_url: str | None = None,
    dpop_key_file: Path | None = None,
) -> "CacheEntry":
    """``login --url``/``--app``: option combinations checked here, the grant run by
    ``oauthcli.client.login``."""
    from oauthcli.client.login import login_remote

    if grant not in ("password", "client-credentials"):
        raise UsageError(f"--grant must be 'password' or 'client-credentials', not {grant!r}")
    if client_auth not in ("basic", "post"):
        raise UsageError(f"--client-auth must be 'basic' or 'post', not {client_auth!r}")
    if grant == "password" and not username:
        raise UsageError("missing USERNAME: the password grant logs a user in")
    if grant == "client-credentials":
        if username:
            raise UsageError(
                "--grant client-credentials logs the client in, not a user: drop USERNAME"
            )
        if password_stdin:
            raise UsageError("--password-stdin does not apply to --grant client-credentials")
        if not client_id:
            raise UsageError("--grant client-credentials needs --client-id")
    if client_secret_file is not None and not client_id:
        raise UsageError("--client-secret-file needs --client-id")
    try:
        return login_remote(
            token_url=url,
            grant="password" if grant == "password" else "client_credentials",
            username=username,
            read_password=lambda: read_password(password_stdin),
            scopes=scopes,
            client_id=client_id,
            client_secret_file=client_secret_file,
            client_auth="post" if client_auth == "post" else "basic",
            insecure_http=insecure_http,
            client_factory=_client_factory(cacert, timeout),
            app_url=app_url,
            dpop_key_file=dpop_key_file,
        )
    except UsageError as exc:
        if exc.reason == Reason.NO_SECRET:
            raise UsageError(
                "--grant client-credentials needs the client secret: "
                "set OAUTHCLI_CLIENT_SECRET or pass --client-secret-file"
            ) from None
        raise


# ---------------------------------------------------------------- refresh


def refresh(
    scope: ScopeOption = None,
    print_only: PrintOption = False,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    cacert: CacertOption = None,
    timeout: TimeoutOption = 10.0,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            help="A token for this API (RFC 8707; repeatable) from now on; a remote profile only.",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="audience parameter from now on; a remote profile only.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Trade the profile's refresh token for a new pair (the old one stops working).

    Presenting a refresh token that was already used revokes its whole session.
    --scope may narrow the new access token to some of the session's scopes.
    """
    from oauthcli.errors import AuthenticationError

    _output_mode(print_only, json_output)
    scopes = scope_list(scope)
    profile_name = resolve_profile(profile)
    cache = _cache()

    def change(entry: "CacheEntry | None") -> "CacheEntry":
        if entry is None:
            raise AuthenticationError(
                f"no tokens cached for profile {profile_name!r}: run 'oauthcli login' first"
            )
        from oauthcli.client.refresh import refresh as refresh_entry

        if resource or audience is not None:
            from dataclasses import replace

            from oauthcli.urls import origin_of

            if entry.source != "remote":
                raise UsageError("--resource and --audience need a profile from a token endpoint")
            # the first resource is the one tokens are asked for (RFC 8707 2.2)
            wanted = list(resource or [])
            entry = replace(
                entry,
                resources=list(dict.fromkeys([*wanted, *entry.resources])),
                audience=audience if audience is not None else entry.audience,
                allowed_origins=list(
                    dict.fromkeys(
                        [
                            *entry.allowed_origins,
                            *(origin_of(r) for r in wanted if r.lower().startswith("http")),
                        ]
                    )
                ),
            )
        # One refresh path for local and remote profiles (also used by call/header);
        # a client-credentials profile is renewed with its client secret there.
        return refresh_entry(entry, scopes=scopes, client_factory=_client_factory(cacert, timeout))

    entry = cache.update(profile_name, change)
    assert entry is not None
    _report(
        entry,
        profile_name,
        cache.path(profile_name),
        print_only,
        json_output,
        "Refreshed the tokens of",
    )


# ---------------------------------------------------------------- logout


def logout(profile: ProfileOption = None) -> None:
    """Forget a profile's tokens; a local session is also revoked in its store.

    A profile from a provider with a revocation endpoint (login --issuer-url) has its
    tokens revoked there first; when revoking fails (there or in the local state),
    logout says so and still forgets them.
    """
    from oauthcli.errors import OAuthCliError

    profile_name = resolve_profile(profile)

    def revoke(entry: "CacheEntry | None") -> None:
        # Under the profile's lock: a refresh in flight finishes first (its new token is
        # the one revoked), and none can write the profile back after it is forgotten.
        if entry is None or entry.source not in ("local", "remote"):
            return
        where = "in the state" if entry.source == "local" else "at the provider"
        try:
            if entry.source == "local":
                _revoke_local_session(entry)
            else:
                from oauthcli.cli import provider_cmd

                provider_cmd.revoke_on_logout(entry)
        except OAuthCliError as exc:
            output.warn(f"could not revoke the tokens of profile {profile_name!r} {where}: {exc}")

    cache = _cache()
    forgot = cache.delete(profile_name, before=revoke)
    from oauthcli.client.dpop_key import key_path, remove_key

    # The profile's DPoP key goes with its tokens (RFC 9449: a new login, a new key).
    if remove_key(key_path(cache.directory, profile_name)) and not forgot:
        output.note(f"logged out: forgot the DPoP key of profile {profile_name!r}")
        return
    if forgot:
        output.note(f"logged out: forgot the tokens of profile {profile_name!r}")
    else:
        output.note(f"nothing to forget: no tokens cached for profile {profile_name!r}")


def _revoke_local_session(entry: "CacheEntry") -> None:
    """Revoke the session (refresh family) of a local profile in the shared state."""
    if not (entry.refresh_token and entry.store):
        return
    import jwt

    from oauthcli.errors import StoreError
    from oauthcli.sessions import SessionStore

    try:
        # Only the family id is needed, and revoking is harmless: no signature check.
        claims = jwt.decode(entry.refresh_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise StoreError("its cached refresh token is not a JWT") from None
    family = claims.get("fam")
    if not isinstance(family, str):
        raise StoreError("its cached refresh token names no session")
    try:
        SessionStore.for_store(entry.store).revoke_family(family)
    except OSError as exc:
        raise StoreError(f"cannot use the state of {entry.store}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    from oauthcli.cli.hints import with_flag_hints

    app.command("login")(with_flag_hints(login))
    app.command("refresh")(with_flag_hints(refresh))
    app.command("logout")(logout)
