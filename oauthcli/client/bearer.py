"""``BearerAuth``: attach a bearer token to httpx requests; on a 401, refresh once and retry once.

Kept apart from ``oauthcli.client.profile`` so that commands which only read a
cached token (``oauthcli header``) never import httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx


class BearerAuth(httpx.Auth):
    """Attach ``Authorization: Bearer``; on a 401, refresh once and retry once."""

    requires_request_body = True

    def __init__(self, token: str, refresher: Callable[[], str] | None = None) -> None:
        self.token = token
        self.refresher = refresher
        self.refreshed = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401 and self.refresher is not None and not self.refreshed:
            self.refreshed = True
            self.token = self.refresher()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request
