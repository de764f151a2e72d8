"""Key sets over HTTP, through an injected ``httpx.Client``.

Fetched as every public document is (``oauthcli.client.discovery``: one URL policy,
one capped fetch, one wording of network failures; discovery itself lives there too),
imported when a set is first fetched, so that verifying a token loads no client
code. A fetched JWKS is kept in memory for ``ttl`` seconds and fetched
again (at most once per unknown ``kid``, and a few times in all) when a token
names a key it lacks. Shared secrets (``oct`` keys) in a fetched set are
ignored: a published secret lets anyone sign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError, Reason, RemoteError
from oauthcli.keys import HMAC
from oauthcli.verify.keyset import VerificationKey, keys_from_jwks

if TYPE_CHECKING:
    import httpx


class RemoteJWKS:
    """A JWK Set at a URL, fetched lazily, kept ``ttl`` seconds, refetched on unknown kids."""

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        ttl: float = 300.0,
        max_refetches: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from oauthcli.client.discovery import check_url

        self.url = check_url(url, "JWKS URL")
        self.client = client
        self.ttl = ttl
        self.max_refetches = max_refetches
        self.clock = clock
        self.fetches = 0
        self.skipped: list[str] = []
        self._keys: list[VerificationKey] | None = None
        self._fetched_at = 0.0
        self._refetched_kids: set[str] = set()

    def _fetch(self) -> list[VerificationKey]:
        from oauthcli.client.discovery import fetch_json

        self.fetches += 1
        status, doc = fetch_json(self.url, "JWKS", self.client)
        if doc is None:
            raise RemoteError(f"JWKS {self.url} answered HTTP {status}", reason=Reason.HTTP_STATUS)
        try:
            keys, self.skipped = keys_from_jwks(doc, f"JWKS {self.url}")
        except ConfigError as exc:
            raise RemoteError(str(exc)) from None
        # a published key set is public: a shared secret in it would let anyone sign
        shared = [k for k in keys if k.family == HMAC]
        if shared:
            self.skipped += [
                f"{k.source}: a shared secret ('oct') published at a URL" for k in shared
            ]
            keys = [k for k in keys if k.family != HMAC]
            if not keys:
                raise RemoteError(
                    f"JWKS {self.url}: no usable signature key (only shared secrets, which "
                    "must never be published; use --secret-file)"
                )
        self._keys, self._fetched_at = keys, self.clock()
        return keys

    def keys(self) -> list[VerificationKey]:
        if self._keys is None or self.clock() - self._fetched_at > self.ttl:
            return self._fetch()
        return self._keys

    def refetch_for(self, kid: str) -> bool:
        """Fetch again because a token names ``kid``; at most once per kid and a few in all."""
        if kid in self._refetched_kids or len(self._refetched_kids) >= self.max_refetches:
            return False
        self._refetched_kids.add(kid)
        self._fetch()
        return True
