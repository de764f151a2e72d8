"""What ``oauthcli decode`` and ``oauthcli verify`` do, without Typer.

The Typer commands (``oauthcli.cli.inspect_cmd``) and the Typer-free start for CI
loops (``oauthcli.cli.fastpath``) both call :func:`decode` and :func:`verify` here.
``decode`` must stay cheap: it imports neither PyJWT nor cryptography, and an HS*
``verify`` does not either.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from oauthcli.cli import output

if TYPE_CHECKING:  # pathlib is imported where a path is made: decode needs none
    from pathlib import Path


def read_token(token: str | None, profile: str | None, command: str = "decode") -> str:
    """The raw token text from the argument, stdin, OAUTHCLI_TOKEN or the token cache."""
    from oauthcli import settings
    from oauthcli.errors import UsageError
    from oauthcli.verify.parse import MAX_TOKEN_BYTES

    if token == "-":
        # bytes, so that invalid UTF-8 is a malformed token rather than a crash
        data = sys.stdin.buffer.read(MAX_TOKEN_BYTES * 2 + 1)
        return data.decode("utf-8", errors="replace")
    if token is not None:
        check_not_a_file(token, command)
        return token
    env = settings.env_token()
    if env:
        return env
    from oauthcli.cli.common import resolve_profile
    from oauthcli.client.cache import TokenCache

    name = resolve_profile(profile)
    entry = TokenCache(settings.cache_dir()).load(name)
    if entry is None:
        raise UsageError(
            f"no token given: pass TOKEN (or '-' for stdin), set OAUTHCLI_TOKEN, "
            f"or log in first (no cached token for profile {name!r})"
        )
    return entry.access_token


def check_not_a_file(token: str, command: str) -> None:
    """TOKEN is the token itself: a file's name there (``decode id.jwt``, as
    ``token --id-token > id.jwt`` suggests) gets the way to read the file instead."""
    import os
    import shlex

    from oauthcli.errors import UsageError

    # Past 4 KiB no file name; a long three-part string is a JWS, not a name to stat.
    if len(token) > 4096 or (token.count(".") == 2 and len(token) > 64):
        return
    try:
        is_file = os.path.isfile(token)
    except (OSError, ValueError):  # a NUL, a name too long: not a file
        return
    if is_file:
        raise UsageError(
            f"TOKEN is the token itself, and {token!r} is a file: did you mean "
            f"'oauthcli {command} - < {shlex.quote(token)}'?"
        )


# -- decode ---------------------------------------------------------------------------------


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return output.clean(text)


def decode_lines(
    header: dict[str, Any], payload: dict[str, Any], now: float
) -> list[tuple[str, str]]:
    """(text, style) lines of the human view of a decoded token."""
    from oauthcli.claims import scopes_of
    from oauthcli.cli.timefmt import TIME_CLAIMS, describe_time, lifetime_bar

    lines: list[tuple[str, str]] = [("Header", "bold")]
    width = max((len(output.clean(k, 40)) for k in [*header, *payload]), default=3)
    for key, value in header.items():
        lines.append((f"  {output.clean(key, 40).ljust(width)}  {_value(value)}", ""))
    lines.append(("Payload", "bold"))
    for key, value in payload.items():
        shown = describe_time(key, value, now) if key in TIME_CLAIMS else _value(value)
        style = ""
        if key == "exp" and isinstance(value, int | float) and value <= now:
            style = "red"
        lines.append((f"  {output.clean(key, 40).ljust(width)}  {shown}", style))
    bar = lifetime_bar(payload.get("iat", payload.get("nbf")), payload.get("exp"), now)
    if bar:
        lines.append((f"Lifetime  {bar}", ""))
    scopes = scopes_of(payload)
    if scopes:
        lines.append((f"Scopes    {output.clean(', '.join(scopes))}", ""))
    from oauthcli.dpop import confirmation_jkt

    jkt = confirmation_jkt(payload)
    if jkt is not None:
        # RFC 9449 6.1: usable only with proofs of the key of that thumbprint
        lines.append((f"DPoP      bound to the key of thumbprint {output.clean(jkt, 100)}", ""))
    lines.append(
        (
            "Signature NOT verified: anyone can write these claims; check them with 'oauthcli verify'.",
            "bold yellow",
        )
    )
    return lines


def _print_lines(lines: list[tuple[str, str]]) -> None:
    if not output.stdout_is_terminal():
        for text, _ in lines:
            output.echo(text)
        return
    from rich.text import Text

    console = output.console()
    for text, style in lines:
        console.print(Text(text, style=style or ""), soft_wrap=True)


def decode(token: str | None, json_output: bool, profile: str | None) -> None:
    """Show a token's header and claims without checking its signature."""
    from oauthcli.errors import TokenError
    from oauthcli.verify import verdict
    from oauthcli.verify.parse import decode as decode_token

    try:
        parsed = decode_token(read_token(token, profile))
    except TokenError as exc:
        if json_output:
            # like verify --json: a token that cannot be decoded still gets an answer
            output.print_json(verdict.of_error(exc, None, time.time()))
        raise
    weak = _weak_secret_warning(parsed)
    if json_output:
        # verify's shape; "valid" is null: decode reads a token, it does not check it
        output.print_json(
            {
                "valid": None,
                "error": None,
                "message": "decoded; signature NOT checked (see 'oauthcli verify')",
                "header": parsed.header,
                "payload": parsed.payload,
                "expires_in": verdict.expires_in_of(parsed.payload, time.time()),
                "warnings": [weak] if weak else [],
            }
        )
        return
    _print_lines(decode_lines(parsed.header, parsed.payload, time.time()))


def _weak_secret_warning(parsed: Any) -> str | None:
    """Warn (stderr) when an HS* token is signed with a published secret; the text for --json."""
    from oauthcli.weak_secrets import find_weak_secret

    weak = find_weak_secret(parsed)
    if weak is None:
        return None
    output.warn(weak.warning())
    return weak.warning()


# -- verify ---------------------------------------------------------------------------------


def _progress_callback() -> tuple[Callable[[int], None] | None, Callable[[], None] | None]:
    if not output.stderr_is_terminal():
        return None, None
    state: dict[str, Any] = {}

    def advance(count: int) -> None:
        if "progress" not in state:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            progress = Progress(
                SpinnerColumn(),
                TextColumn("verified {task.completed:,.0f} tokens"),
                TimeElapsedColumn(),
                console=output.err_console(),
                auto_refresh=False,
                transient=True,
            )
            progress.start()
            state["progress"], state["task"] = progress, progress.add_task("verify", total=None)
        state["progress"].advance(state["task"], count)
        state["progress"].refresh()

    def stop() -> None:
        if "progress" in state:
            state["progress"].stop()

    return advance, stop


def verify(
    token: str | None,
    *,
    secret_file: Path | None,
    key: Path | None,
    jwks: str | None,
    issuer_url: str | None,
    alg: Sequence[str] | None,
    issuer: str | None,
    audience: Sequence[str] | None,
    require_scope: Sequence[str] | None,
    require_claim: Sequence[str] | None,
    leeway: str,
    max_age: str | None,
    allow_no_exp: bool,
    token_type: str,
    batch: str | None,
    allow_oct: bool,
    cacert: Path | None,
    json_output: bool,
    store: Path | None,
    profile: str | None,
    dpop_proof: str | None = None,
    htm: str | None = None,
    htu: str | None = None,
) -> None:
    """Verify one token (or ``--batch``); raise the token's error when it is not valid.

    ``dpop_proof`` (with ``htm``, ``htu``): a DPoP proof checked against the valid token."""
    import contextlib

    from oauthcli.durations import parse_duration
    from oauthcli.errors import RemoteError, UsageError
    from oauthcli.verify.verifier import Verifier

    leeway_s = parse_duration(leeway, what="--leeway")
    max_age_s = parse_duration(max_age, what="--max-age") if max_age is not None else None
    if batch is not None and token is not None:
        raise UsageError("give either TOKEN or --batch, not both")
    _check_not_empty(issuer, audience, require_scope, require_claim)
    if cacert is not None and not _is_url(jwks) and issuer_url is None:
        raise UsageError("--cacert is for a key set fetched over https (--jwks URL, --issuer-url)")
    proof = _dpop_options((dpop_proof, htm, htu), batch)
    raw = _read_single(token, profile, json_output) if batch is None else None
    try:
        with contextlib.ExitStack() as stack:
            client = None
            if _is_url(jwks) or issuer_url is not None:
                from oauthcli.http import make_client

                client = make_client(
                    cacert=str(cacert) if cacert is not None else None,
                    notice=output.slow_notice(),
                )
                stack.callback(client.close)
            choice = _key_choice(secret_file, key, jwks, issuer_url, store, client, allow_oct)
            if issuer_url is not None and issuer is not None and issuer != choice.issuer:
                raise UsageError(
                    f"--issuer {issuer!r} contradicts the discovered issuer {choice.issuer!r}"
                )
            verifier = Verifier(
                choice.keys,
                alg,
                issuer=issuer if issuer is not None else choice.issuer,
                audience=audience or choice.audience,
                leeway=leeway_s,
                max_age=max_age_s,
                required_scopes=require_scope or (),
                required_claims=require_claim or (),
                allow_no_exp=allow_no_exp,
                token_type=token_type,
            )
            for note in [*choice.notes, *verifier.warnings]:
                output.warn(note)
            if batch is not None:
                _run_batch(verifier, batch)
            else:
                assert raw is not None
                _verify_single(verifier, raw, json_output, proof)
    except RemoteError as exc:
        from oauthcli.cli.hints import add_flag_hint

        add_flag_hint(exc)  # a key set or discovery over https: --cacert for a private CA
        raise


def _check_not_empty(
    issuer: str | None,
    audience: Sequence[str] | None,
    require_scope: Sequence[str] | None,
    require_claim: Sequence[str] | None,
) -> None:
    from oauthcli.errors import UsageError

    for name, values in (
        ("--issuer", [issuer] if issuer is not None else []),
        ("--audience", audience or []),
        ("--require-scope", require_scope or []),
        ("--require-claim", require_claim or []),
    ):
        if any(not v.strip() for v in values):
            # "--audience $AUD" with AUD unset: a configuration mistake, not a bad token
            raise UsageError(f"{name} must not be empty")


def _read_single(token: str | None, profile: str | None, json_output: bool) -> str:
    """The one token to verify; one that cannot even be read still gets a --json verdict."""
    from oauthcli.errors import TokenError
    from oauthcli.verify import verdict
    from oauthcli.verify.parse import normalize

    try:
        return normalize(read_token(token, profile, "verify"))
    except TokenError as exc:
        if json_output:
            output.print_json(verdict.of_error(exc, None, time.time()))
        raise


def _key_choice(
    secret_file: Path | None,
    key: Path | None,
    jwks: str | None,
    issuer_url: str | None,
    store: Path | None,
    client: Any,
    allow_oct: bool,
) -> Any:
    from pathlib import Path

    from oauthcli import settings
    from oauthcli.cli.common import resolve_store_path
    from oauthcli.verify import keysource

    store_path = resolve_store_path(store)
    return keysource.resolve(
        secret_file=secret_file,
        key_file=key,
        jwks=jwks,
        issuer_url=issuer_url,
        store_path=store_path,
        store_explicit=store_path != Path(settings.DEFAULT_STORE),
        client=client,
        allow_oct=allow_oct,
    )


def _dpop_options(
    dpop: tuple[str | None, str | None, str | None], batch: str | None
) -> tuple[str, str, str] | None:
    from oauthcli.errors import UsageError

    proof, htm, htu = dpop
    if proof is None:
        if htm is not None or htu is not None:
            raise UsageError("--htm and --htu go with --dpop-proof")
        return None
    if batch is not None:
        raise UsageError("--dpop-proof checks one token: not with --batch")
    if not htm or not htu:
        raise UsageError("--dpop-proof needs --htm METHOD and --htu URL of the request")
    return proof.strip(), htm, htu


def _check_dpop(raw: str, payload: dict[str, Any], dpop: tuple[str, str, str]) -> str:
    """RFC 9449 7.1 as a resource server: the proof checks (4.3, ``ath`` of this token) and
    its key is the one ``cnf.jkt`` names (6.1). The key's thumbprint, else ``ProofError``."""
    from oauthcli.dpop import ProofError, check_proof, confirmation_jkt

    proof, htm, htu = dpop
    jkt = confirmation_jkt(payload)
    if jkt is None:
        raise ProofError("the token is not DPoP-bound: it has no cnf.jkt")
    checked = check_proof(proof, htm=htm, htu=htu, now=time.time(), access_token=raw)
    if checked.jkt != jkt:
        raise ProofError("the DPoP proof is signed by another key than the token's cnf.jkt")
    return jkt


def _verify_single(
    verifier: Any, raw: str, json_output: bool, dpop: tuple[str, str, str] | None = None
) -> None:
    from oauthcli.errors import TokenError, TokenTimeError
    from oauthcli.verify.verifier import TIME_REASONS

    result, error, found = verifier.evaluate(raw)
    if error is None and dpop is None:
        from oauthcli.dpop import confirmation_jkt

        bound = confirmation_jkt(found["payload"] or {})
        if bound is not None:
            found["message"] += f"; DPoP-bound to key {bound} (cnf.jkt)"
    if error is None and dpop is not None:
        try:
            jkt = _check_dpop(raw, found["payload"], dpop)
            found["message"] += f"; DPoP proof of key {jkt} checked"
        except TokenError as exc:
            error = exc
            found.update({"valid": False, "error": str(exc.reason), "message": str(exc)})
    shown = set(verifier.warnings)  # printed before verifying
    notes = result.warnings if result is not None else verifier.usage_warnings()
    for note in notes:
        if note not in shown:
            output.warn(note)
    weak = _weak_secret_warning(verifier.parse(raw)) if found["header"] is not None else None
    if weak:
        found["warnings"].append(weak)
    if json_output:
        output.print_json(found)
    elif error is None:
        # the message quotes claims (sub, scopes): outside text, cleaned for the terminal
        output.echo(f"valid: {output.clean(found['message'])}")
    if error is not None:
        if error.reason in TIME_REASONS and not isinstance(error, TokenTimeError):
            raise TokenTimeError(error.message, error.reason)
        raise error


def _is_url(value: str | None) -> bool:
    return value is not None and value.startswith(("http://", "https://"))


def _run_batch(verifier: Any, source: str) -> None:
    from oauthcli.errors import UsageError
    from oauthcli.verify.batch import run_batch

    # A line ends at "\n" only (a stray "\r" or U+2028 inside a line must not split it into two
    # verdicts); invalid UTF-8 becomes U+FFFD, so that such a line is one malformed token.
    if source == "-":
        stream = io.TextIOWrapper(
            sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n"
        )
        close = False
    else:
        try:
            stream = open(source, encoding="utf-8", errors="replace", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot read --batch file {source}: {exc.strerror}") from None
        close = True
    advance, stop = _progress_callback()
    try:
        summary = run_batch(verifier, stream, sys.stdout.write, progress=advance)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``). Click turns EPIPE into exit 1 before
        # main() sees it; stop quietly instead, as main() means to.
        _silence_stdout()
        import typer  # only reached under Typer: the fast path never runs --batch

        raise typer.Exit(0) from None
    finally:
        if stop:
            stop()
        if close:
            stream.close()
        else:
            stream.detach()  # leave sys.stdin open
    for note in summary.warnings:
        output.warn(note)
    if summary.total == 0:
        output.warn("no tokens in the --batch input")
    error = summary.error()
    if error is not None:
        raise error


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (an in-process test runner)
        pass
