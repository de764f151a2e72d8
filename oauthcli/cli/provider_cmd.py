"""Commands for a profile from an OpenID provider: ``token``, ``revoke``, ``introspect``,
``userinfo``; and the ``login --issuer-url`` / ``logout`` branches ``tokens_cmd`` delegates here.

Only parsing and printing: the protocol is in ``oauthcli.client``.
"""

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthcli.cli import complete, output
from oauthcli.cli.common import (
    read_password,
    require_person,
    require_prompt,
    resolve_profile,
    token_cache,
)
from oauthcli.cli.options import (
    ClientAuthOption,
    ClientKeyOption,
    ClientSecretFileOption,
    JsonOption,
    ProfileOption,
    ProfileTimeoutOption,
)
from oauthcli.errors import Reason, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx

    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.loopback import RedirectTarget
    from oauthcli.client.oidc_login import ProviderLogin
    from oauthcli.client.profile import ProfileToken
    from oauthcli.errors import AuthenticationError

HTTP_TIMEOUT = 10.0

TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the provider.", min=0.1)
]
CacertOption = Annotated[
    Path | None,
    typer.Option("--cacert", help="CA bundle (PEM) for a private CA.", show_default=False),
]


def _http(timeout: float, cacert: Path | None) -> "httpx.Client":
    from oauthcli.http import make_client

    return make_client(
        timeout, str(cacert) if cacert is not None else None, notice=output.slow_notice()
    )


def _params(values: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {value!r}: expected NAME=VALUE")
        params[name.strip()] = text
    return params


# ---------------------------------------------------------------- login / logout


def login_provider(
    *,
    issuer_url: str,
    username: str | None,
    scopes: list[str],
    password_stdin: bool,
    grant: str | None,
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: str | None,
    client_key: Path | None,
    resources: list[str],
    audience: str | None,
    params: list[str],
    redirect_uri: str | None,
    no_browser: bool,
    cacert: Path | None,
    timeout: float | None,
    insecure_http: bool,
    dpop_key_file: Path | None = None,
    par: bool = False,
    resource_url: str | None = None,
) -> "CacheEntry":
    """``login --issuer-url``: the entry to cache (nothing is cached when this raises)."""
    from oauthcli.cli.paste import terminal_reader
    from oauthcli.client import oidc_login as login
    from oauthcli.client.browser import no_browser as do_not_open
    from oauthcli.client.browser import system_browser
    from oauthcli.client.loopback import parse_redirect_uri

    if password_stdin and grant not in (None, "password"):
        raise UsageError(f"--password-stdin does not apply to --grant {grant}")
    client = login_request(
        issuer_url=issuer_url,
        client_id=client_id,
        client_secret_file=client_secret_file,
        client_auth=client_auth,
        client_key=client_key,
        scopes=scopes,
        resources=resources,
    )
    request = dataclasses.replace(
        client,
        grant=grant,
        username=username,
        audience=audience,
        params=_params(params),
        timeout=login.DEFAULT_LOGIN_TIMEOUT if timeout is None else timeout,
        redirect=parse_redirect_uri(redirect_uri) if redirect_uri is not None else None,
        insecure_http=insecure_http,
        dpop_key_file=dpop_key_file,
        par=par,
        resource_url=resource_url,
    )
    io = login.Interaction(
        notify=output.note,
        opener=do_not_open if no_browser else system_browser,
        read_password=lambda: read_password(password_stdin),
        waiting=output.waiting,
        # --no-browser (over SSH): the redirect's address may also be pasted back here
        headless=no_browser,
        read_pasted=terminal_reader() if no_browser else None,
    )
    # --timeout is the person's time in a browser or device login, else the provider's.
    interactive = login.is_interactive(grant, username)
    if interactive:  # before anything a person would have to finish: no browser, no code
        require_person("a device login" if grant == "device-code" else "a browser login")
    elif grant in (None, "password") and not password_stdin:
        require_prompt()  # before discovery: no request for a password nobody can type
    http_timeout = HTTP_TIMEOUT if timeout is None or interactive else timeout
    try:
        with _loopback_port(request.redirect, request.timeout), _http(http_timeout, cacert) as http:
            return login.login(http, request, io)
    finally:
        output.end_waiting()


def login_request(
    *,
    issuer_url: str,
    client_id: str | None,
    client_secret_file: Path | None,
    client_auth: str | None,
    client_key: Path | None,
    scopes: list[str],
    resources: list[str],
) -> "ProviderLogin":
    """The client part of a request at a provider (``login --issuer-url``, ``exchange``,
    ``introspect``): id, authentication, secret."""
    from oauthcli.client.oidc_login import ProviderLogin
    from oauthcli.client.secret import read_client_secret

    if client_secret_file is not None and not client_id:
        raise UsageError("--client-secret-file needs --client-id")
    secret = None
    if client_id and client_auth not in ("none", "private-key-jwt") and client_key is None:
        secret = read_client_secret(client_secret_file)
    return ProviderLogin(
        issuer=issuer_url.strip(),
        client_id=client_id,
        client_auth=client_auth,
        client_secret=secret,
        client_secret_file=(
            str(client_secret_file.resolve()) if client_secret_file is not None else None
        ),
        client_key_file=client_key,
        scopes=scopes,
        resources=resources,
    )


@contextlib.contextmanager
def _loopback_port(target: "RedirectTarget | None", wait: float) -> "Iterator[None]":
    """A registered ``--redirect-uri``'s port, held for the whole login: parallel oauthcli
    logins with that port (several profiles, scripts) take turns instead of clashing on the
    listener (kubelogin #389); a free port (the default) is the system's to make unique."""
    if target is None or not target.port:
        yield
        return
    from oauthcli import settings
    from oauthcli.errors import AuthenticationError
    from oauthcli.fileio import LockTimeout, ensure_private_dir, exclusive_lock

    directory = settings.cache_dir()
    ensure_private_dir(directory)
    try:
        with exclusive_lock(directory / f"loopback-{target.port}", wait):
            yield
    except LockTimeout:
        raise AuthenticationError(
            f"another oauthcli login held the callback port {target.port} for more than "
            f"{wait:g} s: try again when it is done",
            reason=Reason.LOCKED,
        ) from None


def _client_auth(entry: "CacheEntry") -> "ClientAuthentication":
    from oauthcli.client.assertion import ClientAuthentication
    from oauthcli.client.oidc_profile import client_authentication
    from oauthcli.client.refresh import client_secret_for

    secret = client_secret_for(entry) if entry.client_auth in (None, "basic", "post") else None
    auth = client_authentication(entry, secret)
    return auth or ClientAuthentication(entry.client_id, "none")


def _revoke_entry(entry: "CacheEntry", http: "httpx.Client") -> list[str]:
    """Revoke the refresh token, then the access token (RFC 7009 2.1); notes for what was not."""
    from oauthcli.client.endpoints import UnsupportedTokenType, revoke

    url = entry.endpoints["revocation"]
    auth = _client_auth(entry)
    notes = []
    if entry.refresh_token:
        revoke(http, url, entry.refresh_token, "refresh_token", auth)
    try:
        revoke(http, url, entry.access_token, "access_token", auth)
    except UnsupportedTokenType as exc:
        if not entry.refresh_token:
            raise
        notes.append(f"{exc}; it stays valid until it expires")
    return notes


def revoke_on_logout(entry: "CacheEntry") -> None:
    """Revoke a profile's tokens at its provider before logout forgets them.

    Raises ``OAuthCliError`` when that fails (logout says so and still forgets them)."""
    if not entry.endpoints.get("revocation"):
        if entry.refresh_token:
            output.note(
                "no revocation endpoint is known for this profile (a login with --issuer-url "
                "remembers one): its refresh token stays valid at the server until it expires"
            )
        return
    with _http(HTTP_TIMEOUT, None) as http:
        notes = _revoke_entry(entry, http)
    for note in notes:
        output.note(note)
    output.note("revoked the tokens at the provider")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("token")(token_cmd)
    app.command("kubeconfig")(kubeconfig_cmd)
    app.command("revoke")(revoke_cmd)
    app.command("introspect")(introspect_cmd)
    app.command("userinfo")(userinfo_cmd)


# ---------------------------------------------------------------- commands


def profile_token(
    profile: str | None, timeout: float | None, cacert: Path | None
) -> "ProfileToken":
    """The profile's token for ``token``, ``call`` and ``header``: refreshed when it has
    expired, logged in again (the way it was, one process at a time) when it is dead and a
    person is here. ``timeout``: the provider's (default 10 s); for a person's login and for
    another process's, default 300 s."""
    from oauthcli.client.oidc_login import DEFAULT_LOGIN_TIMEOUT
    from oauthcli.client.profile import ProfileToken

    name = resolve_profile(profile)
    http_timeout = HTTP_TIMEOUT if timeout is None else timeout
    person = DEFAULT_LOGIN_TIMEOUT if timeout is None else timeout
    return ProfileToken(
        token_cache(),
        name,
        lambda: _http(http_timeout, cacert),
        login=_login_again(name, cacert, person),
        wait=person,
    )


# Why a profile must log in again, by the reason of ProfileToken's error.
_DEAD = {
    "expired": "its token has expired and cannot be refreshed",
    "revoked": "its tokens were refused or revoked",
}


def _login_again(
    profile: str, cacert: Path | None, timeout: float
) -> "Callable[[CacheEntry, AuthenticationError], CacheEntry | None]":
    """A new ``login --issuer-url`` for a profile whose tokens are dead, as it was made;
    exit 3 at once, naming that login, when no person is here (CI, no terminal)."""

    def run(entry: "CacheEntry", dead: "AuthenticationError") -> "CacheEntry | None":
        from oauthcli.client.oidc_profile import login_arguments, login_command

        arguments = login_arguments(entry)
        if arguments is None:
            return None  # a local or password login: run again as the person ran it
        why = entry.revoked or _DEAD.get(dead.reason or "", "its refresh token was refused")
        require_person(
            f"a new login for profile {profile!r} ({why})", login_command(profile, arguments)
        )
        output.note(f"profile {profile!r}: {why}; logging in again")
        secret_file, key = arguments.pop("client_secret_file"), arguments.pop("client_key")
        dpop_file = arguments.pop("dpop_key_file")
        if dpop_file:
            from oauthcli.client.dpop_key import load_or_create

            # the same key when it is at hand (in the file, or read from the keyring)
            if entry.dpop_key and not Path(dpop_file).exists():
                from oauthcli.fileio import atomic_write

                atomic_write(Path(dpop_file), entry.dpop_key.encode(), mode=0o600)
            new_key = load_or_create(Path(dpop_file))
        new = login_provider(
            **arguments,
            username=None,
            password_stdin=False,
            client_secret_file=Path(secret_file) if secret_file else None,
            client_key=Path(key) if key else None,
            params=[],
            no_browser=False,
            cacert=cacert,
            timeout=timeout,
            dpop_key_file=Path(dpop_file) if dpop_file else None,
        )
        if dpop_file:
            new.dpop_key = new_key.to_pem().decode()  # saved where the tokens go
        return new

    return run


def token_cmd(
    id_token: Annotated[
        bool, typer.Option("--id-token", help="Print the ID token instead of the access token.")
    ] = False,
    profile: ProfileOption = None,
    timeout: ProfileTimeoutOption = None,
    cacert: CacertOption = None,
    json_output: JsonOption = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="text (the token); env: OAUTHCLI_ACCESS_TOKEN=... and OAUTHCLI_ID_TOKEN=... "
            "lines for .env / $GITHUB_ENV; exec-credential: a Kubernetes ExecCredential for "
            "kubectl (see 'oauthcli kubeconfig').",
            show_default=False,
            autocompletion=complete.token_formats,
        ),
    ] = None,
) -> None:
    """Print the profile's access token, refreshed first when it has expired.

    For scripts: TOKEN=$(oauthcli token). --id-token prints the ID token of a login at an
    OpenID provider instead. Under GitHub Actions the token is registered for masking first.
    As a kubectl credential plugin: --format exec-credential (never prompts).
    A profile from a browser or device login whose tokens are dead logs in again the same
    way when a person is here (one process at a time), else exits 3 naming that login.
    """
    from oauthcli.cli import ci_output
    from oauthcli.client.answer import check_header_safe
    from oauthcli.client.oidc_profile import fresh_id_token

    chosen = ci_output.resolve_format(
        fmt, json_output=json_output, allowed=(*ci_output.TOKEN_FORMATS, "json")
    )
    if chosen == "exec-credential":
        _print_exec_credential(profile_token(profile, timeout, cacert), id_token)
        return
    source = profile_token(profile, timeout, cacert)
    entry = source.fresh()
    access = check_header_safe(entry.access_token)
    if chosen == "env":
        id_value = fresh_id_token(source) if entry.id_token else None
        ci_output.print_env({"access_token": access, "id_token": id_value})
        return
    if chosen == "json":  # the login's shape: an RFC 6749 5.1 response (no refresh token)
        if id_token:
            entry.id_token = fresh_id_token(source)
        body = {k: v for k, v in entry.token_response().items() if k != "refresh_token"}
        ci_output.emit_json(body, [access, entry.id_token])
        return
    shown = fresh_id_token(source) if id_token else access
    ci_output.emit(shown, [shown])


def _print_exec_credential(source: "ProfileToken", id_token: bool) -> None:
    """The profile's token (refreshed first when needed) as a Kubernetes ExecCredential."""
    from oauthcli import kube, settings
    from oauthcli.cli import ci_output
    from oauthcli.client.answer import check_header_safe
    from oauthcli.client.oidc_profile import fresh_id_token

    version = kube.api_version(settings.kubernetes_exec_info())  # before any request
    if id_token:
        from oauthcli.verify.parse import parse

        token = fresh_id_token(source)
        exp = parse(token).payload.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else None
    else:
        entry = source.fresh()
        token, expires_at = check_header_safe(entry.access_token), entry.expires_at
    ci_output.emit_json(kube.exec_credential(token, expires_at, version), [token])


def kubeconfig_cmd(
    id_token: Annotated[
        bool, typer.Option("--id-token", help="Give kubectl the ID token instead.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="The Kubernetes API server URL: also write a cluster and a current context.",
            show_default=False,
        ),
    ] = None,
    certificate_authority: Annotated[
        Path | None,
        typer.Option(
            "--certificate-authority",
            help="With --server: the CA bundle (PEM) of the API server.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Name of the kubeconfig user (and cluster, context); default oauthcli-PROFILE.",
            show_default=False,
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Print a kubeconfig whose user runs 'oauthcli token --format exec-credential'.

    kubectl then asks oauthcli for a token before its requests: the profile's access token
    (or ID token), refreshed when it has expired; kubectl never waits for a prompt. Save it
    and merge it with yours: KUBECONFIG=~/.kube/config:oauthcli.yaml kubectl get pods.
    """
    import sys

    from oauthcli import kube
    from oauthcli.client.cache import validate_profile

    chosen = validate_profile(resolve_profile(profile))
    if certificate_authority is not None and server is None:
        raise UsageError("--certificate-authority needs --server")
    command = [sys.executable, "-m", "oauthcli", "--profile", chosen, "token"]
    command += ["--format", "exec-credential"] + (["--id-token"] if id_token else [])
    config = kube.kubeconfig(
        name or f"oauthcli-{chosen}",
        command,
        server=server,
        certificate_authority=(
            str(certificate_authority.expanduser().resolve()) if certificate_authority else None
        ),
    )
    output.echo(kube.to_yaml(config).rstrip("\n"))


def revoke_cmd(
    profile: ProfileOption = None,
    timeout: TimeoutOption = HTTP_TIMEOUT,
    cacert: CacertOption = None,
) -> None:
    """Revoke the profile's tokens at its provider (RFC 7009): the refresh token, then the access token.

    A provider that will not revoke access tokens is a note, as long as the refresh token
    was revoked. The profile is kept; 'oauthcli logout' revokes and forgets it.
    """
    from oauthcli.client.endpoints import profile_endpoint
    from oauthcli.errors import AuthenticationError

    name = resolve_profile(profile)
    cache = token_cache()
    entry = cache.load(name)
    if entry is None:
        raise AuthenticationError(f"no tokens cached for profile {name!r}: nothing to revoke")
    profile_endpoint(entry, "revocation", name)
    with _http(timeout, cacert) as http:
        notes = _revoke_entry(entry, http)
    revoked = entry

    def mark(current: "CacheEntry | None") -> "CacheEntry | None":
        # Only the tokens just revoked: a login that replaced them meanwhile stays usable.
        if current is None or current.access_token != revoked.access_token:
            return None
        current.revoked = "its tokens were revoked at the provider ('oauthcli revoke')"
        return current

    cache.update(name, mark)
    for note in notes:
        output.note(note)
    output.note(f"revoked the tokens of profile {name!r} at {entry.issuer or entry.token_url}")


def _read_token(token: str) -> str:
    import sys

    if token == "-":
        token = sys.stdin.readline().strip()
        if not token:
            raise UsageError("TOKEN is '-' but standard input is empty")
    else:
        from oauthcli.cli.inspect_run import check_not_a_file

        check_not_a_file(token, "introspect")
    return token.strip()


def introspect_cmd(
    token: Annotated[
        str,
        typer.Argument(
            help="The token to look up, or - to read it from stdin.", show_default=False
        ),
    ],
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer-url",
            help="Provider to ask (default: the profile's).",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="Client to authenticate as (default: the profile's).",
            show_default=False,
        ),
    ] = None,
    client_secret_file: ClientSecretFileOption = None,
    client_auth: ClientAuthOption = None,
    client_key: ClientKeyOption = None,
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    timeout: TimeoutOption = HTTP_TIMEOUT,
    cacert: CacertOption = None,
) -> None:
    """Ask the provider whether a token is active (RFC 7662), authenticated as a client.

    Exit 0 when active, 4 when not; --json prints the provider's answer either way.
    """
    from oauthcli.client.endpoints import introspect, profile_endpoint
    from oauthcli.errors import TokenError

    value = _read_token(token)
    with _http(timeout, cacert) as http:
        if issuer_url is not None or client_id is not None:
            if issuer_url is None or client_id is None:
                raise UsageError("--issuer-url and --client-id go together")
            from oauthcli.client import oidc_login as login
            from oauthcli.client.discovery import discover_provider

            request = login_request(
                issuer_url=issuer_url,
                client_id=client_id,
                client_secret_file=client_secret_file,
                client_auth=client_auth,
                client_key=client_key,
                scopes=[],
                resources=[],
            )
            metadata = discover_provider(request.issuer, http)
            url = metadata.require("introspection", "to introspect tokens")
            token_url = metadata.require("token", "to authenticate the client")
            auth = login.client_authentication(request).for_provider(metadata.issuer, token_url)
        else:
            if client_secret_file or client_auth or client_key:
                raise UsageError("client options need --issuer-url and --client-id")
            name = resolve_profile(profile)
            entry = token_cache().load(name)
            if entry is None:
                raise UsageError(
                    f"no profile {name!r}: give --issuer-url and --client-id, or log in first"
                )
            url = profile_endpoint(entry, "introspection", name)
            auth = _client_auth(entry)
        answer = introspect(http, url, value, auth)
    active = answer.get("active") is True
    if json_output:
        output.print_json(answer)
        if not active:
            raise typer.Exit(4)
        return
    if not active:
        raise TokenError("the provider says the token is not active", Reason.INACTIVE)
    output.echo("active: yes")
    _print_claims(answer, skip=frozenset({"active"}))


def _print_claims(data: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
    import json

    for name, value in data.items():
        if name in skip:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        output.echo(f"{output.clean(str(name), 60)}: {output.clean(text, 300)}")


def userinfo_cmd(
    json_output: JsonOption = False,
    profile: ProfileOption = None,
    timeout: ProfileTimeoutOption = None,
    cacert: CacertOption = None,
) -> None:
    """Show the provider's userinfo (OpenID Connect) for the profile's access token."""
    from oauthcli.client.answer import check_header_safe
    from oauthcli.client.endpoints import profile_endpoint, userinfo

    source = profile_token(profile, timeout, cacert)
    url = profile_endpoint(source.entry, "userinfo", source.profile)
    from oauthcli.client.dpop_key import signer_for

    token = check_header_safe(source.fresh().access_token)
    with _http(HTTP_TIMEOUT if timeout is None else timeout, cacert) as http:
        # a DPoP-bound token goes with a proof (RFC 9449 7: userinfo is a protected resource)
        claims = userinfo(http, url, token, signer_for(source.entry, presenting=True))
    if json_output:
        output.print_json(claims)
    else:
        _print_claims(claims)
