"""The one HTTP client factory: every request oauthcli makes goes through a client built here.

TLS verified (against ``cacert`` alone if given), redirects never followed, a
bounded timeout. The client and token endpoint code (``oauthcli.remote``) and
the key-set and discovery fetching (``oauthcli.jwks``) take such a client, so
one policy (proxies, timeouts, CA bundle) holds for all of them.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from oauthcli import __version__
from oauthcli.errors import UsageError
from oauthcli.text import clean

if TYPE_CHECKING:
    import httpx

MAX_TIMEOUT = 24 * 3600.0


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
