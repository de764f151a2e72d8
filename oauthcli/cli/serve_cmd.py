"""``oauthcli serve``: the FastAPI token server over the user store (issue 6).

fastapi and uvicorn are imported inside the command, never at module level.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oauthcli.cli import output
from oauthcli.cli.common import resolve_store_path
from oauthcli.cli.options import StoreOption

if TYPE_CHECKING:
    from oauthcli.server.run import Where


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on (0.0.0.0 exposes the server to the network)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", help="TCP port (0 picks a free one).")
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", help="Worker processes (bcrypt runs in threads anyway)."),
    ] = 1,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help="critical, error, warning, info (access log) or debug."),
    ] = "info",
    max_failures: Annotated[
        int,
        typer.Option(
            "--max-failures",
            help="Failed logins per username within --lockout before 429 (0 disables throttling).",
        ),
    ] = 5,
    lockout: Annotated[
        str,
        typer.Option("--lockout", help="Throttling window and lockout period, e.g. 60s, 5m."),
    ] = "60s",
    header_timeout: Annotated[
        str,
        typer.Option(
            "--header-timeout",
            help="Time a connection may take to send a request's headers before it is closed.",
        ),
    ] = "10s",
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", help="Open connections at most; more get 503.", min=1),
    ] = 1000,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help=(
                "Comma-separated proxy addresses (or *) whose X-Forwarded-For/-Proto and Host "
                "are trusted for the client address and discovery URLs; default: none."
            ),
            show_default=False,
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Shared state for several instances: redis://HOST:PORT/DB or rediss://... "
            "(or env OAUTHCLI_STATE; password from env OAUTHCLI_STATE_PASSWORD or "
            "--state-password-file). Default: <store>.state.db beside the store.",
            show_default=False,
        ),
    ] = None,
    state_password_file: Annotated[
        Path | None,
        typer.Option(
            "--state-password-file", help="File holding the Redis password.", show_default=False
        ),
    ] = None,
    session_ttl: Annotated[
        str,
        typer.Option(
            "--session-ttl",
            help="How long the login page's session cookie skips the form, e.g. 8h, 30m.",
        ),
    ] = "8h",
    no_consent: Annotated[
        bool,
        typer.Option(
            "--no-consent",
            help="Never show the consent page: every client gets what it asks for (CI only).",
        ),
    ] = False,
    require_dpop: Annotated[
        bool,
        typer.Option(
            "--require-dpop",
            help="Every token request must carry a DPoP proof (RFC 9449): bound tokens only.",
        ),
    ] = False,
    dpop_nonce: Annotated[
        bool,
        typer.Option(
            "--dpop-nonce",
            help="DPoP proofs must carry the server's nonce (RFC 9449 8, 9; DPoP-Nonce header, "
            "rotated every 5 minutes).",
        ),
    ] = False,
    registration: Annotated[
        str | None,
        typer.Option(
            "--registration",
            help="Dynamic client registration at /register (RFC 7591): 'open' to anyone, or "
            "'token' (an initial access token from --registration-token-file). Default: off.",
            show_default=False,
        ),
    ] = None,
    registration_token_file: Annotated[
        Path | None,
        typer.Option(
            "--registration-token-file",
            help="File (mode 0600) holding the initial access token of --registration token.",
            show_default=False,
        ),
    ] = None,
    require_par: Annotated[
        bool,
        typer.Option(
            "--require-par",
            help="Every client must push its authorization request to /par first (RFC 9126).",
        ),
    ] = False,
    exit_on_stdin_eof: Annotated[
        bool,
        typer.Option(
            "--exit-on-stdin-eof",
            help="Stop when stdin reaches end of file: a parent holding the pipe's other end "
            "(the pytest plugin does) takes serve with it when it dies, even by SIGKILL.",
        ),
    ] = False,
    control: Annotated[
        bool,
        typer.Option(
            "--control",
            help="Enable the control API under /_oauthcli/ (faults, clock, request log; "
            "loopback only, for tests): see 'oauthcli control'.",
        ),
    ] = False,
    control_token_file: Annotated[
        Path | None,
        typer.Option(
            "--control-token-file",
            help="Where --control writes its new bearer token (0600). "
            "Default: <store>.control-token beside the store.",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Serve the store's users over OAuth2: /token, /users/me, discovery, JWKS, /docs.

    Grants: password, refresh_token (rotation with reuse detection), client_credentials
    (clients from \\[clients.ID] tables), authorization_code (GET /authorize, a login page,
    PKCE) and device_code (POST /device_authorization, the /device page). OpenID Connect:
    ID tokens and /userinfo. Also POST /revoke (RFC 7009) and POST /introspect (RFC 7662).
    Changes to the store (user disable, new users) apply to the running server.
    Stop with Ctrl-C or SIGTERM.
    """
    from oauthcli.durations import parse_duration
    from oauthcli.server.run import ServeOptions
    from oauthcli.server.run import serve as run_server

    state_url, state_password = _state_options(state, state_password_file)
    registration_token = _registration_options(registration, registration_token_file)
    store_path = resolve_store_path(store)
    if control_token_file is not None and not control:
        from oauthcli.errors import UsageError

        raise UsageError("--control-token-file needs --control")

    options = ServeOptions(
        store_path=store_path,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.lower(),
        max_failures=max_failures,
        lockout=parse_duration(lockout, what="--lockout"),
        header_timeout=parse_duration(header_timeout, what="--header-timeout"),
        max_connections=max_connections,
        forwarded_allow_ips=forwarded_allow_ips,
        state=state_url,
        state_password=state_password,
        session_ttl=parse_duration(session_ttl, what="--session-ttl"),
        consent=not no_consent,
        require_dpop=require_dpop,
        dpop_nonce=dpop_nonce,
        require_par=require_par,
        exit_on_stdin_eof=exit_on_stdin_eof,
        registration=registration,
        registration_token=registration_token,
    )
    token_file = None
    if control:
        import dataclasses

        from oauthcli.control import token_file_for_store
        from oauthcli.server.control import new_token_file
        from oauthcli.server.run import check_control

        check_control(options.host, options.forwarded_allow_ips)  # before a token is written
        token_file = control_token_file or token_file_for_store(store_path)
        options = dataclasses.replace(options, control_token=new_token_file(token_file))

    def announce(where: "Where") -> None:
        # Only once the store, key and socket are fine: a failed start prints one line.
        if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
            output.warn(
                f"listening on {host}: passwords and tokens cross the network over plain HTTP; "
                "set [issuer] issuer to the URL clients use"
            )
        url, issuer = where.url, where.issuer
        plural = "worker" if where.workers == 1 else "workers"
        # The first line's shape is read by scripts (and the pytest plugin): keep it.
        output.note(
            f"oauthcli: serving {options.store_path} at {url} ({where.workers} {plural}); "
            f"token endpoint {url}/token, docs {url}/docs; Ctrl-C to stop"
        )
        for name, value in (
            ("issuer", f"{issuer}   (oauthcli login --issuer-url {issuer} --client-id ID)"),
            ("discovery", f"{url}/.well-known/openid-configuration"),
            ("authorize", f"{url}/authorize"),
            ("device", f"{url}/device"),
            ("docs", f"{url}/docs"),
            ("store", str(options.store_path)),
            ("state", where.state),
        ):
            output.note(f"  {name + ':':<11}{value}")
        if token_file is not None:
            output.note(f"  {'control:':<11}{url}/_oauthcli/   (token in {token_file})")
        if registration is not None:
            who = "anyone" if registration == "open" else "with the initial access token"
            output.note(f"  {'register:':<11}{url}/register   ({who}, RFC 7591)")

    run_server(options, announce)


def _registration_options(mode: str | None, token_file: Path | None) -> str | None:
    """The initial access token of ``--registration token``, from its 0600 file."""
    from oauthcli.errors import ConfigError, UsageError
    from oauthcli.fileio import read_private

    if mode not in (None, "open", "token"):
        raise UsageError("--registration must be open or token")
    if (mode == "token") != (token_file is not None):
        raise UsageError("--registration token and --registration-token-file go together")
    if token_file is None:
        return None
    try:
        token = read_private(token_file, "registration token file").decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read registration token file {token_file}: {reason}") from None
    if len(token) < 16:
        raise ConfigError(
            f"registration token file {token_file} must hold a token of 16 characters or more"
        )
    return token


def _state_options(state: str | None, password_file: Path | None) -> tuple[str | None, str | None]:
    """``--state`` (never with a password: argv is visible) or ``$OAUTHCLI_STATE``, and its password."""
    from oauthcli import settings
    from oauthcli.errors import ConfigError, UsageError
    from oauthcli.state.redis import ARGV_PASSWORD, split_url, url_has_password

    if state is not None and url_has_password(state):
        raise UsageError(ARGV_PASSWORD)
    url = state if state is not None else settings.state_url()
    if url is None:
        if password_file is not None:
            raise UsageError("--state-password-file needs --state redis://...")
        return None, None
    split_url(url)  # a malformed URL is one line now, not a failure in every worker
    if password_file is None:
        return url, settings.state_password()
    try:
        password = password_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read state password file {password_file}: {reason}") from None
    if not password:
        raise ConfigError(f"state password file {password_file} is empty")
    return url, password
