"""``oauthcli call`` and ``oauthcli header``: use the cached bearer token, refreshed as needed."""

import codecs
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from oauthcli.cli import output
from oauthcli.cli.hints import with_flag_hints
from oauthcli.cli.options import ProfileOption, ProfileTimeoutOption
from oauthcli.errors import ExitCode, Reason, UsageError, exit_code_for_status
from oauthcli.text import clean

if TYPE_CHECKING:
    import httpx

    from oauthcli.client.cache import CacheEntry
    from oauthcli.client.profile import ProfileToken

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# RFC 9110 5.6.2: field-name = token
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _profile_token(
    profile: str | None, cacert: Path | None, timeout: float | None
) -> "ProfileToken":
    from oauthcli.cli.provider_cmd import profile_token

    return profile_token(profile, timeout, cacert)


def _parse_headers(raw: list[str]) -> list[tuple[bytes, bytes]]:
    """``Name: value`` options; values are sent as UTF-8, as curl sends its arguments."""
    from oauthcli.errors import UsageError

    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"invalid header {output.clean(item, 80)!r}: use 'Name: value'")
        if not _HEADER_NAME.fullmatch(name):
            raise UsageError(
                f"invalid header name {output.clean(name, 80)!r}: "
                "letters, digits and !#$%&'*+-.^_`|~ only"
            )
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"invalid header {name!r}: the value contains a control character")
        if name.lower() == "authorization":
            raise UsageError(
                "the Authorization header is set by oauthcli; use --token to choose the token"
            )
        headers.append((name.encode("ascii"), value.strip().encode("utf-8", "surrogateescape")))
    return headers


def _body(data_options: list[str], json_body: str | None) -> tuple[bytes | None, str | None]:
    """The request body and its default content type."""
    from oauthcli.errors import UsageError

    if len(data_options) > 1:
        raise UsageError("give --data once: one request has one body")
    data = data_options[0] if data_options else None
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
        if not data[1:]:
            raise UsageError("--data @FILE needs a file name after the @")
        try:
            return Path(data[1:]).read_bytes(), None
        except OSError as exc:
            raise UsageError(f"cannot read {data[1:]}: {exc.strerror}") from None
    return data.encode("utf-8", "surrogateescape"), None


def _print_head(response: "httpx.Response") -> None:
    """``-i``: the status line and headers, cleaned on a terminal."""
    head = [f"{response.http_version} {response.status_code} {response.reason_phrase}"]
    head += [f"{name}: {value}" for name, value in response.headers.multi_items()]
    text = "\n".join(head)
    if output.stdout_is_terminal():
        text = clean(text, None, keep_lines=True)
    sys.stdout.write(text + "\n\n")


_KEPT_BODY = 64 * 1024  # of a refusal's body, kept to read the scope it names


def _print_response(response: "httpx.Response", include_headers: bool) -> bytes:
    """Status and headers with ``-i``; the body pretty-printed when JSON on a terminal, else raw.

    Returns the body's first 64 KiB when the status is 401 or 403 (else nothing)."""
    if include_headers:
        _print_head(response)
    terminal = output.stdout_is_terminal()
    is_json = "json" in response.headers.get("content-type", "").lower()
    if terminal and is_json:
        content = response.read()
        if not (content.strip() and _print_json(content)):
            _write_raw([content], terminal, response.charset_encoding)
        return content[:_KEPT_BODY] if response.status_code in (401, 403) else b""
    kept = bytearray()

    def chunks() -> Iterator[bytes]:
        for chunk in response.iter_bytes():
            if response.status_code in (401, 403) and len(kept) < _KEPT_BODY:
                kept.extend(chunk[: _KEPT_BODY - len(kept)])
            yield chunk

    _write_raw(chunks(), terminal, response.charset_encoding)
    return bytes(kept)


def scope_hint(response: "httpx.Response", body: bytes, token_scope: str | None) -> str | None:
    """What a refusal says the token lacks: the ``scope`` of its ``WWW-Authenticate``
    challenge (RFC 6750 section 3), else of a JSON body, when it says ``insufficient_scope``
    or names a scope the token does not carry. ``None`` when it names none."""
    from oauthcli.client.answer import NOT_JSON, loads
    from oauthcli.client.challenge import scope_wanted

    scope, insufficient = scope_wanted(response.headers.get("www-authenticate", ""))
    if scope is None:
        data = loads(body) if body.strip() else NOT_JSON
        if isinstance(data, dict) and isinstance(data.get("scope"), str):
            scope = data["scope"]
            insufficient = insufficient or data.get("error") == "insufficient_scope"
    if not scope or not scope.strip():
        return None
    wanted = scope.split()
    held = set((token_scope or "").split())
    if not insufficient and all(s in held for s in wanted):
        return None
    missing = [s for s in wanted if s not in held] or wanted
    shown = output.clean(" ".join(wanted), 200)
    return (
        f"the API asks for scope '{shown}' "
        f"(the token lacks {output.clean(' '.join(missing), 200)!r}): "
        f"log in again with --scope '{shown}'"
    )


def resource_hint(
    response: "httpx.Response", url: str, timeout: float | None, cafile: str | None
) -> str | None:
    """Which login would work, when a 401 names the API's protected resource metadata
    (RFC 9728 5.1): the document is read (no token is sent to it) and checked as ``login
    --resource-url`` checks it; ``None`` when there is none or it does not hold."""
    from oauthcli.client.discovery import check_url
    from oauthcli.client.resource import challenge_metadata_url, read_metadata, resource_identifier
    from oauthcli.errors import OAuthCliError
    from oauthcli.http import make_client

    named = challenge_metadata_url(response.headers.get("www-authenticate", ""))
    if named is None:
        return None
    try:
        check_url(named, "resource_metadata")
        with make_client(10.0 if timeout is None else timeout, cafile) as client:
            found = read_metadata(named, client, expected=resource_identifier(url), prefix_ok=True)
    except OAuthCliError:
        return None
    if found is None:
        return None
    servers = ", ".join(output.clean(a, 200) for a in found.authorization_servers) or "none"
    return (
        f"the API's metadata names the authorization server {servers}: log in for it with "
        f"'oauthcli login --resource-url {output.clean(found.resource, 300)} --client-id ID'"
    )


def _print_json(content: bytes) -> bool:
    """Pretty-print a JSON body on the terminal; False when it is not JSON we can show.

    Hostile bodies (``[[[[...`` a hundred thousand deep) are shown raw, not a crash;
    strings are cleaned of escapes and bidi controls; long values (tokens) are not
    hard-wrapped, so a token copied from the terminal stays whole.
    """
    import json

    from rich.json import JSON

    from oauthcli.client.answer import NOT_JSON, loads

    data = loads(content)
    if data is NOT_JSON:
        return False
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return False
    output.console().print(JSON(clean(text, None, keep_lines=True)), soft_wrap=True)
    return True


def _write_raw(chunks: Iterable[bytes], terminal: bool, charset: str | None = None) -> None:
    """The body as it came; on a terminal, text without control sequences and no binary."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")()
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")()
    last = b""
    for chunk in chunks:
        if not chunk:
            continue
        if terminal:
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                text = "\0"
            if "\0" in text:
                _end_line(out, last)
                output.warn(
                    "the response body is binary: not printed on a terminal "
                    "(redirect it to a file or pipe it)"
                )
                return
            chunk = clean(text.replace("\r\n", "\n"), None, keep_lines=True).encode("utf-8")
        out.write(chunk)
        last = chunk or last
    if terminal:
        _end_line(out, last)  # keep the shell prompt off the last line
    out.flush()


def _end_line(out: BinaryIO, last: bytes) -> None:
    if last and not last.endswith(b"\n"):
        out.write(b"\n")
    out.flush()


def _shown(url: str) -> str:
    """The URL for a message: no userinfo, query or fragment (they may carry secrets)."""
    from oauthcli.http import display_url

    return display_url(url)


def _has_userinfo(url: str) -> bool:
    from urllib.parse import urlsplit

    return "@" in urlsplit(url).netloc


def _explicit_token(token: str | None, profile: str | None) -> str | None:
    """``--token``, else ``$OAUTHCLI_TOKEN`` unless a ``--profile`` was chosen; None: use the profile."""
    from oauthcli import settings
    from oauthcli.cli.common import global_options
    from oauthcli.errors import UsageError

    given = token or (None if profile or global_options.get("profile") else settings.env_token())
    if given is None:
        return None
    value = given.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    from oauthcli.text import is_header_safe

    if not is_header_safe(value):
        where = "--token" if token else "OAUTHCLI_TOKEN"
        raise UsageError(
            f"the token given with {where} is empty or contains spaces or control characters"
        )
    return value


def _dpop_proof(entry: "CacheEntry", htm: str | None, htu: str | None) -> str | None:
    """A proof for ``htm htu`` with the profile's key when its token is DPoP-bound."""
    from oauthcli.client.dpop_key import signer_for

    signer = signer_for(entry, presenting=True)
    if signer is None:
        return None
    if not htm or not htu:
        raise UsageError(
            "the profile's token is DPoP-bound (RFC 9449): give --htm METHOD and --htu URL "
            "of the request, or use 'oauthcli call', which signs each request itself"
        )
    if "://" not in htu or not htm.isalpha():
        raise UsageError("--htm must be an HTTP method and --htu an absolute http(s) URL")
    return signer.proof(htm.upper(), htu.strip(), access_token=entry.access_token)


def _split_target(target: list[str]) -> tuple[str | None, str]:
    from oauthcli.errors import UsageError

    if len(target) == 1:
        return None, target[0]
    if len(target) == 2:
        method = target[0].upper()
        if method not in METHODS:
            raise UsageError(
                f"unknown HTTP method {output.clean(target[0], 40)!r}: use one of "
                + ", ".join(sorted(METHODS))
            )
        return method, target[1]
    raise UsageError("expected [METHOD] URL")


def register(app: typer.Typer) -> None:
    @app.command("call")
    @with_flag_hints
    def call(
        target: Annotated[
            list[str],
            typer.Argument(
                help="[METHOD] URL: the method defaults to GET, or POST with a body.",
                metavar="[METHOD] URL",
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
            list[str] | None,
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
        follow: Annotated[
            bool,
            typer.Option(
                "--follow",
                "-L",
                help="Follow redirects within the URL's origin (the token never leaves it).",
            ),
        ] = False,
        token: Annotated[
            str | None,
            typer.Option(
                "--token",
                help="Use this token instead of the profile's (env OAUTHCLI_TOKEN, unless --profile).",
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
        timeout: ProfileTimeoutOption = None,
        cacert: Annotated[
            Path | None,
            typer.Option("--cacert", help="CA bundle for a private CA.", show_default=False),
        ] = None,
        profile: ProfileOption = None,
        id_token: Annotated[
            bool,
            typer.Option(
                "--id-token", help="Send the profile's ID token instead (Cloud Run, IAP)."
            ),
        ] = False,
    ) -> None:
        """Call a protected endpoint with the cached bearer token.

        Refreshes the token first when it has expired, and once more on a 401.
        Exit 0 for 2xx, 3 when still 401/403, 6 for other statuses and network errors.
        """
        import httpx

        from oauthcli.client.answer import check_header_safe
        from oauthcli.client.bearer import BearerAuth
        from oauthcli.client.policy import check_destination
        from oauthcli.errors import AuthenticationError, RemoteError, UsageError
        from oauthcli.urls import origin_of

        method, url = _split_target(target)
        url = url.strip()
        headers = _parse_headers(header or [])
        body, content_type = _body(data or [], json_body)
        method = method or ("POST" if body is not None else "GET")
        if content_type and not any(n.lower() == b"content-type" for n, _ in headers):
            headers.append((b"Content-Type", content_type.encode("ascii")))
        if "://" not in url:
            from oauthcli.client.policy import suggest_scheme

            guess = suggest_scheme(url)
            hint = f": did you mean {guess}?" if guess else ": give http:// or https://"
            raise UsageError(f"the URL {output.clean(url, 200)!r} has no scheme{hint}")
        origin_of(url)  # a clear usage error for a malformed URL, before any token is touched
        if _has_userinfo(url):
            raise UsageError("the URL must not contain a user name or password (user@host)")
        cafile = str(cacert) if cacert is not None else None

        explicit = _explicit_token(token, profile)
        refreshable = False
        source: ProfileToken | None = None
        if id_token:
            from oauthcli.client.oidc_profile import fresh_id_token

            if token:
                raise UsageError("--token and --id-token contradict each other: choose one")
            source = _profile_token(profile, cacert, timeout)
            check_destination(source.entry, url, allow_origin or [])
            source.allow_origins(allow_origin or [])
            explicit = fresh_id_token(source)
            auth = BearerAuth(explicit)
        elif explicit:
            auth = BearerAuth(explicit)
        else:
            source = _profile_token(profile, cacert, timeout)
            # Refused before any refresh or connection: the token must not leave for elsewhere.
            try:
                check_destination(source.entry, url, allow_origin or [])
            except UsageError as exc:
                raise UsageError(
                    f"{exc}; add --allow-origin {origin_of(url)} to allow it", reason=exc.reason
                ) from None
            source.allow_origins(allow_origin or [])
            entry = source.fresh()
            check_header_safe(entry.access_token)
            refreshable = source.can_refresh
            from oauthcli.client.dpop_key import signer_for

            auth = BearerAuth(
                entry.access_token,
                (lambda: source.refresh().access_token) if source.can_refresh else None,
                # login --dpop: DPoP scheme, a proof for each request (RFC 9449 7.1)
                dpop=signer_for(entry, presenting=True),
            )

        from oauthcli.client.policy import MAX_REDIRECTS, redirect_target
        from oauthcli.http import make_client, transport_error

        hops = 0
        with make_client(
            10.0 if timeout is None else timeout, cafile, notice=output.slow_notice()
        ) as client:
            while True:
                try:
                    with client.stream(
                        method, url, headers=headers, content=body, auth=auth
                    ) as response:
                        location = response.headers.get("location")
                        hop = redirect_target(method, url, response.status_code, location)
                        if not follow or hop is None or hops >= MAX_REDIRECTS:
                            refusal = _print_response(response, include)
                            break
                        if include:
                            _print_head(response)
                except httpx.InvalidURL as exc:
                    raise UsageError(f"not a valid URL: {_shown(url)}") from exc
                except httpx.RequestError as exc:
                    raise transport_error(exc, url, client) from exc
                hops += 1
                method, url, keep_body = hop
                if not keep_body:
                    body = None
                    headers = [(n, v) for n, v in headers if n.lower() != b"content-type"]
        status = response.status_code
        if 200 <= status < 300:
            return
        summary = (
            f"HTTP {status} {output.clean(response.reason_phrase, 60)} from {method} {_shown(url)}"
        )
        if exit_code_for_status(status) == ExitCode.AUTH:  # 401/403 (RFC 6750 3.1)
            held = None if explicit or source is None else source.entry.scope
            wanted = scope_hint(response, refusal, held)
            if auth.refreshed:
                summary += " (also after refreshing the token)"
            elif not explicit and not refreshable and wanted is None:
                summary += " (the token cannot be refreshed: log in again)"
            login = resource_hint(response, url, timeout, cafile) if status == 401 else None
            hints = [h for h in (wanted, login) if h]
            if hints:
                summary += ": " + "; ".join(hints)
            raise AuthenticationError(
                summary, reason=Reason.STATUS_403 if status == 403 else Reason.STATUS_401
            )
        if 300 <= status < 400:
            location = response.headers.get("location")
            where = f" to {_shown(location)}" if location else ""
            if not follow:
                why = "pass --follow for redirects within the origin"
            elif hops >= MAX_REDIRECTS:
                why = f"more than {MAX_REDIRECTS} redirects"
            else:
                why = "it leaves the origin"
            raise RemoteError(
                f"{summary}: redirect{where} not followed ({why}; the token stays here)",
                reason=Reason.REDIRECT,
            )
        raise RemoteError(summary, reason=Reason.HTTP_STATUS)

    @app.command("header")
    @with_flag_hints
    def header_cmd(
        timeout: ProfileTimeoutOption = None,
        cacert: Annotated[
            Path | None,
            typer.Option("--cacert", help="CA bundle for a private CA.", show_default=False),
        ] = None,
        profile: ProfileOption = None,
        id_token: Annotated[
            bool,
            typer.Option("--id-token", help="The profile's ID token instead of its access token."),
        ] = False,
        json_output: Annotated[
            bool,
            typer.Option("--json", help='Print {"name": "Authorization", "value": "Bearer ..."}.'),
        ] = False,
        htm: Annotated[
            str | None,
            typer.Option(
                "--htm",
                help="DPoP-bound profile: the method of the request the proof is for (RFC 9449).",
                show_default=False,
            ),
        ] = None,
        htu: Annotated[
            str | None,
            typer.Option(
                "--htu",
                help="DPoP-bound profile: the URL of the request the proof is for.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Print 'Authorization: Bearer <token>' for curl -H "$(oauthcli header)".

        The token is the profile's, refreshed first if it has expired, or
        OAUTHCLI_TOKEN as given (unless --profile is given). Prints nothing and
        exits non-zero when no valid token can be had. A DPoP-bound profile (login
        --dpop) prints 'Authorization: DPoP <token>' and a 'DPoP: <proof>' line for
        the request named by --htm and --htu.
        """
        from oauthcli.cli import ci_output
        from oauthcli.client.answer import check_header_safe

        if id_token:
            from oauthcli.client.oidc_profile import fresh_id_token

            token = fresh_id_token(_profile_token(profile, cacert, timeout))
        else:
            explicit = _explicit_token(None, profile)
            if explicit is None:
                entry = _profile_token(profile, cacert, timeout).fresh()
                token = check_header_safe(entry.access_token)
                proof = _dpop_proof(entry, htm, htu)
                if proof is not None:
                    value = f"DPoP {token}"
                    if json_output:
                        ci_output.emit_json(
                            {"name": "Authorization", "value": value, "dpop": proof}, [token]
                        )
                        return
                    ci_output.emit(f"Authorization: {value}\nDPoP: {proof}", [token])
                    return
            else:
                token = explicit
        if htm is not None or htu is not None:
            raise UsageError("--htm and --htu only apply to a DPoP-bound profile (login --dpop)")
        if json_output:
            ci_output.emit_json({"name": "Authorization", "value": f"Bearer {token}"}, [token])
            return
        ci_output.emit(f"Authorization: Bearer {token}", [token])
