"""The one HTTP client factory, and the one way to read an answer and word a failure.

Every request oauthcli makes goes through a client built by :func:`make_client`:
TLS verified (against ``cacert`` alone if given), redirects never followed, a
bounded timeout. The token endpoint client (``oauthcli.client``) and the key-set
and discovery fetching take such a client, so one policy (proxies, timeouts, CA
bundle) holds for all of them. :func:`read_capped` reads a body under a size cap
and :func:`transport_error` turns an httpx failure into one ``RemoteError`` line.

httpx is imported inside the functions: ``oauthcli header`` with a valid token
never needs it (start-up time).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING

from oauthcli import __version__
from oauthcli.errors import RemoteError, UsageError
from oauthcli.text import clean
from oauthcli.urls import display

if TYPE_CHECKING:
    import httpx

MAX_TIMEOUT = 24 * 3600.0
MAX_BODY_BYTES = 1024 * 1024
MAX_SERVER_TEXT = 200


def make_client(timeout: float = 10.0, cacert: str | None = None) -> httpx.Client:
    """An ``httpx.Client`` that verifies TLS (against ``cacert`` alone if given) and never follows redirects."""
    # inf, nan and absurd values would crash deep in the socket layer instead.
    if not (0 < timeout <= MAX_TIMEOUT):
        raise UsageError(
            f"--timeout must be a number of seconds up to {MAX_TIMEOUT:g}, not {timeout:g}"
        )
    import httpx

    verify: ssl.SSLContext | bool = True
    if cacert is not None:
        try:
            verify = ssl.create_default_context(cafile=cacert)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use CA bundle {cacert!r}: {clean(str(exc))}") from exc
    return httpx.Client(
        timeout=timeout,
        verify=verify,
        follow_redirects=False,
        headers={"User-Agent": f"oauthcli/{__version__}"},
    )


def display_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``scheme://host[:port]/path`` fit for a message: no userinfo, query or fragment, cleaned."""
    return clean(display(url), MAX_SERVER_TEXT, secrets)


def read_capped(response: httpx.Response, url: str, overall: float | None) -> bytes:
    """The body of a streamed ``response``, at most ``MAX_BODY_BYTES``, read within ``overall`` s."""
    import time

    shown = display_url(url)
    too_big = (
        f"the answer from {shown} is larger than {MAX_BODY_BYTES // 1024} KiB: refusing to read it"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RemoteError(too_big, reason="too_large")
    # httpx's timeout is per read, so a server trickling bytes could stall us for ever.
    deadline = None if overall is None else time.monotonic() + overall
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RemoteError(too_big, reason="too_large")
        chunks.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(
                f"timed out after {overall:g} s reading the answer from {shown}", reason="timeout"
            )
    return b"".join(chunks)


def overall_timeout(client: httpx.Client) -> float | None:
    """The client's timeout, as a bound on a whole exchange."""
    values = [v for v in (client.timeout.read, client.timeout.connect) if v is not None]
    return max(values) if values else None


def transport_error(
    exc: httpx.RequestError, url: str, client: httpx.Client, secrets: Iterable[str] = ()
) -> RemoteError:
    """A one-line ``RemoteError`` for a timeout, TLS, connection or protocol failure.

    Every command that talks to servers words these failures this way; raise it ``from exc``.
    """
    import httpx

    shown = display_url(url)
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(
            f"timed out after {_timeout_for(client, exc):g} s contacting {shown}", reason="timeout"
        )
    tls = _ssl_error(exc)
    if tls is not None:
        return RemoteError(
            f"TLS error contacting {shown}: {clean(_ssl_reason(tls), MAX_SERVER_TEXT)}",
            reason="tls",
        )
    said = clean(str(exc) or type(exc).__name__, MAX_SERVER_TEXT, secrets)
    if isinstance(exc, httpx.ConnectError):
        return RemoteError(f"could not connect to {shown}: {said}", reason="connect")
    return RemoteError(f"network error talking to {shown}: {said}", reason="network")


def _timeout_for(client: httpx.Client, exc: httpx.TimeoutException) -> float:
    import httpx

    timeout = client.timeout
    value = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc))
    return value if value is not None else (overall_timeout(client) or 0.0)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _ssl_reason(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message} (pass --cacert for a private CA)"
    # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> the words only
    text = re.sub(r"^\[SSL(: [A-Z0-9_]+)?\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(error))
    text = text or error.reason or type(error).__name__
    if error.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
        text += " (does the server speak plain http on that port?)"
    return text
