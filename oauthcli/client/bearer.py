"""``BearerAuth``: attach the token to httpx requests; on a 401, refresh once and retry once.

A DPoP-bound token (``login --dpop``) goes as ``Authorization: DPoP`` with a fresh proof
for each request's method and URL (RFC 9449 7.1); a ``use_dpop_nonce`` challenge with a
new ``DPoP-Nonce`` is answered once with a proof carrying it (RFC 9449 9).
Kept apart from ``oauthcli.client.profile`` so that commands which only read a
cached token (``oauthcli header``) never import httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import httpx

from oauthcli.client.challenge import parse
from oauthcli.dpop import HEADER, SCHEME

if TYPE_CHECKING:
    from oauthcli.client.dpop_key import DPoPSigner


def nonce_challenge(response: httpx.Response) -> bool:
    """A 401 whose ``WWW-Authenticate`` says ``DPoP error="use_dpop_nonce"`` (RFC 9449 9)."""
    if response.status_code != 401:
        return False
    return any(
        c.scheme.lower() == "dpop" and c.param("error") == "use_dpop_nonce"
        for value in response.headers.get_list("www-authenticate")
        for c in parse(value)
    )


class BearerAuth(httpx.Auth):
    """Attach ``Authorization: Bearer`` (or ``DPoP`` and a proof); on a 401, refresh once and
    retry once."""

    requires_request_body = True

    def __init__(
        self,
        token: str,
        refresher: Callable[[], str] | None = None,
        dpop: DPoPSigner | None = None,
    ) -> None:
        self.token = token
        self.refresher = refresher
        self.refreshed = False
        self.dpop = dpop

    def _sign(self, request: httpx.Request) -> None:
        if self.dpop is None:
            request.headers["Authorization"] = f"Bearer {self.token}"
            return
        request.headers["Authorization"] = f"{SCHEME} {self.token}"
        request.headers[HEADER] = self.dpop.proof(
            request.method, str(request.url), access_token=self.token
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        response = yield request
        if self.dpop is not None:
            learnt = self.dpop.learn(str(request.url), response.headers)
            if learnt and nonce_challenge(response):
                self._sign(request)
                response = yield request
        if response.status_code == 401 and self.refresher is not None and not self.refreshed:
            self.refreshed = True
            self.token = self.refresher()
            self._sign(request)
            yield request
