"""``oauthcli serve``: the FastAPI token server over the user store (issue 6).

fastapi and uvicorn are imported inside the command, never at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.cli import output
from oauthcli.cli.common import StoreOption, resolve_store_path


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
    session_ttl: Annotated[
        str,
        typer.Option(
            "--session-ttl",
            help="How long the login page's session cookie skips the form, e.g. 8h, 30m.",
        ),
    ] = "8h",
    store: StoreOption = None,
) -> None:
    """Serve the store's users over OAuth2: /token, /users/me, discovery, JWKS, /docs.

    Grants: password, refresh_token (rotation with reuse detection), client_credentials
    (clients from [clients.ID] tables), authorization_code (GET /authorize, a login page,
    PKCE) and device_code (POST /device_authorization, the /device page). OpenID Connect:
    ID tokens and /userinfo. Also POST /revoke (RFC 7009) and POST /introspect (RFC 7662).
    Changes to the store (user disable, new users) apply to the running server. Stop with Ctrl-C or SIGTERM.
    """
    from oauthcli.durations import parse_duration
    from oauthcli.server.run import ServeOptions
    from oauthcli.server.run import serve as run_server

    options = ServeOptions(
        store_path=resolve_store_path(store),
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.lower(),
        max_failures=max_failures,
        lockout=parse_duration(lockout, what="--lockout"),
        session_ttl=parse_duration(session_ttl, what="--session-ttl"),
    )

    def announce(url: str, count: int) -> None:
        # Only once the store, key and socket are fine: a failed start prints one line.
        if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
            output.warn(
                f"listening on {host}: passwords and tokens cross the network over plain HTTP; "
                "set [issuer] issuer to the URL clients use"
            )
        plural = "worker" if count == 1 else "workers"
        output.note(
            f"oauthcli: serving {options.store_path} at {url} ({count} {plural}); "
            f"token endpoint {url}/token, docs {url}/docs; Ctrl-C to stop"
        )

    run_server(options, announce)
