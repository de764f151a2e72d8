"""``oauthcli call`` and ``oauthcli header``: use the cached bearer token, refreshed as needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oauthcli.cli import output
from oauthcli.cli.common import ProfileOption, resolve_profile

if TYPE_CHECKING:
    import httpx

    from oauthcli.credentials import ProfileToken

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _profile_token(profile: str | None, cacert: Path | None, timeout: float) -> ProfileToken:
    from oauthcli import remote, settings
    from oauthcli.cache import TokenCache
    from oauthcli.credentials import ProfileToken

    return ProfileToken(
        TokenCache(settings.cache_dir()),
        resolve_profile(profile),
        client_factory=lambda: remote.make_client(timeout, str(cacert) if cacert else None),
    )


def _parse_headers(raw: list[str]) -> list[tuple[str, str]]:
    from oauthcli.errors import UsageError

    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
            raise UsageError(f"invalid header {item!r}: use 'Name: value'")
        if "\r" in value or "\n" in value:
            raise UsageError(f"invalid header {name!r}: the value contains a line break")
        if name.strip().lower() == "authorization":
            raise UsageError(
                "the Authorization header is set by oauthcli; use --token to choose the token"
            )
        headers.append((name.strip(), value.strip()))
    return headers


def _body(data: str | None, json_body: str | None) -> tuple[bytes | None, str | None]:
    """The request body and its default content type."""
    from oauthcli.errors import UsageError

    if data is not None and json_body is not None:
        raise UsageError("give --data or --json-body, not both")
    if json_body is not None:
        import json

        try:
            json.loads(json_body)
        except ValueError as exc:
            raise UsageError(f"--json-body is not valid JSON: {exc}") from None
        return json_body.encode(), "application/json"
    if data is None:
        return None, None
    if data == "-":
        return sys.stdin.buffer.read(), None
    if data.startswith("@"):
        try:
            return Path(data[1:]).read_bytes(), None
        except OSError as exc:
            raise UsageError(f"cannot read {data[1:]}: {exc.strerror}") from None
    return data.encode(), None


def _print_response(response: httpx.Response, include_headers: bool) -> None:
    out = sys.stdout
    if include_headers:
        out.write(f"{response.http_version} {response.status_code} {response.reason_phrase}\n")
        for name, value in response.headers.multi_items():
            out.write(f"{name}: {value}\n")
        out.write("\n")
    content = response.content
    is_json = "json" in response.headers.get("content-type", "")
    if is_json and output.stdout_is_terminal() and content:
        from rich.json import JSON

        try:
            output.console().print(JSON(response.text))
            return
        except ValueError:
            pass
    out.flush()
    sys.stdout.buffer.write(content)
    if content and not content.endswith(b"\n") and output.stdout_is_terminal():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


def register(app: typer.Typer) -> None:
    @app.command("call")
    def call(
        target: Annotated[
            list[str],
            typer.Argument(
                help="[METHOD] URL: the method defaults to GET, or POST with a body.",
                show_default=False,
            ),
        ],
        header: Annotated[
            list[str] | None,
            typer.Option(
                "--header",
                "-H",
                help="Extra request header 'Name: value' (repeatable).",
                show_default=False,
            ),
        ] = None,
        data: Annotated[
            str | None,
            typer.Option(
                "--data",
                "-d",
                help="Request body: TEXT, @FILE, or - for stdin.",
                show_default=False,
            ),
        ] = None,
        json_body: Annotated[
            str | None,
            typer.Option(
                "--json-body", help="JSON request body (sets Content-Type).", show_default=False
            ),
        ] = None,
        include: Annotated[
            bool, typer.Option("--include", "-i", help="Show the status line and headers.")
        ] = False,
        token: Annotated[
            str | None,
            typer.Option(
                "--token",
                help="Use this token instead of the profile's (env OAUTHCLI_TOKEN).",
                show_default=False,
            ),
        ] = None,
        allow_origin: Annotated[
            list[str] | None,
            typer.Option(
                "--allow-origin",
                help="Also send the profile's token to this origin (repeatable; remembered in the profile).",
                show_default=False,
            ),
        ] = None,
        timeout: Annotated[
            float, typer.Option("--timeout", help="Seconds to wait for the server.")
        ] = 10.0,
        cacert: Annotated[
            Path | None,
            typer.Option("--cacert", help="CA bundle for a private CA.", show_default=False),
        ] = None,
        profile: ProfileOption = None,
    ) -> None:
        """Call a protected endpoint with the cached bearer token.

        Refreshes the token first when it has expired, and once more on a 401.
        Exit 0 for 2xx, 3 when still 401/403, 6 for other statuses and network errors.
        """
        from oauthcli import remote, settings
        from oauthcli.credentials import BearerAuth, check_destination
        from oauthcli.errors import AuthenticationError, RemoteError, UsageError

        if len(target) == 1:
            method, url = None, target[0]
        elif len(target) == 2:
            method, url = target[0].upper(), target[1]
            if method not in METHODS:
                raise UsageError(f"unknown HTTP method {target[0]!r}")
        else:
            raise UsageError("expected [METHOD] URL")
        headers = _parse_headers(header or [])
        body, content_type = _body(data, json_body)
        method = method or ("POST" if body is not None else "GET")
        if content_type and not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", content_type))
        from oauthcli.credentials import origin_of

        origin_of(url)  # a clear usage error for a malformed URL, before any token is touched

        explicit = token or settings.env_token()
        if explicit:
            auth = BearerAuth(explicit.strip().removeprefix("Bearer ").strip())
        else:
            source = _profile_token(profile, cacert, timeout)
            check_destination(source.entry, url, allow_origin or [])
            if allow_origin:
                from oauthcli.credentials import origin_of

                merged = [*source.entry.allowed_origins, *(origin_of(o) for o in allow_origin)]
                source.entry.allowed_origins = list(dict.fromkeys(merged))
                source.cache.save(source.profile, source.entry)
            entry = source.fresh()
            auth = BearerAuth(
                entry.access_token,
                (lambda: source.refresh().access_token) if source.can_refresh else None,
            )

        with remote.make_client(timeout, str(cacert) if cacert else None) as client:
            try:
                response = client.request(method, url, headers=headers, content=body, auth=auth)
            except httpx_errors() as exc:
                raise RemoteError(
                    f"{method} {origin_of(url)} failed: {remote_reason(exc, timeout)}"
                ) from exc
        _print_response(response, include)
        status = response.status_code
        if 200 <= status < 300:
            return
        summary = f"HTTP {status} {response.reason_phrase} from {method} {url}"
        if status in (401, 403):
            raise AuthenticationError(
                summary + (" (after refreshing the token)" if auth.refreshed else "")
            )
        raise RemoteError(summary)

    @app.command("header")
    def header_cmd(
        timeout: Annotated[
            float, typer.Option("--timeout", help="Seconds to wait when refreshing.")
        ] = 10.0,
        cacert: Annotated[
            Path | None,
            typer.Option("--cacert", help="CA bundle for a private CA.", show_default=False),
        ] = None,
        profile: ProfileOption = None,
    ) -> None:
        """Print 'Authorization: Bearer <token>' for curl -H "$(oauthcli header)".

        Refreshes the token first if it has expired; prints nothing and exits
        non-zero when no valid token can be had.
        """
        entry = _profile_token(profile, cacert, timeout).fresh()
        output.echo(f"Authorization: Bearer {entry.access_token}")


def httpx_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def remote_reason(exc: Exception, timeout: float) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        return output.clean(text, 200)
    return output.clean(f"{type(exc).__name__}: {exc}", 200)
