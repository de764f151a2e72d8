"""``[trusted_issuers.NAME]`` in the store: other issuers whose tokens ``serve`` takes as the
subject (or actor) of a token exchange (RFC 8693), e.g. GitHub Actions' OIDC tokens::

    [trusted_issuers.github]
    issuer = "https://token.actions.githubusercontent.com"
    jwks_url = "https://token.actions.githubusercontent.com/.well-known/jwks"  # or jwks_file
    algorithms = ["RS256"]          # the only algorithms its tokens may use (never none, no HMAC)
    user_claim = "actor"            # the claim naming the store user (default "sub")
    audience = "https://oauthcli.example"   # optional: the aud its tokens must carry

Parsed when the store loads (a bad table is one ``StoreError``); a token is verified with
``oauthcli verify``'s ``Verifier`` (``server/grants/token_exchange.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthcli.errors import StoreError

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
_FIELDS = {"issuer", "jwks_url", "jwks_file", "algorithms", "user_claim", "audience"}


@dataclass(frozen=True)
class TrustedIssuer:
    name: str
    issuer: str
    algorithms: tuple[str, ...]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    user_claim: str = "sub"
    audience: str | None = None


def parse_trusted_issuers(table: Any, store_path: Path) -> dict[str, TrustedIssuer]:
    """Every ``[trusted_issuers.NAME]`` table, checked; ``jwks_file`` is relative to the store."""
    where = f"{store_path}: [trusted_issuers]"
    if not isinstance(table, dict):
        raise StoreError(f"{where} must be a table of [trusted_issuers.NAME] tables")
    found: dict[str, TrustedIssuer] = {}
    for name, entry in table.items():
        here = f"{store_path}: [trusted_issuers.{name}]"
        if not isinstance(entry, dict):
            raise StoreError(f"{here} must be a table")
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise StoreError(f"{here}: unknown field {unknown[0]!r}")
        issuer = entry.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            raise StoreError(f"{here}: 'issuer' (the iss of its tokens) is required")
        url, file = entry.get("jwks_url"), entry.get("jwks_file")
        if (url is None) == (file is None):
            raise StoreError(f"{here}: give 'jwks_url' or 'jwks_file': exactly one")
        if url is not None and (not isinstance(url, str) or not url.startswith("http")):
            raise StoreError(f"{here}: 'jwks_url' must be an http(s) URL")
        if file is not None and not isinstance(file, str):
            raise StoreError(f"{here}: 'jwks_file' must be a path")
        algorithms = entry.get("algorithms")
        if (
            not isinstance(algorithms, list)
            or not algorithms
            or any(a not in ASYMMETRIC for a in algorithms)
        ):
            raise StoreError(
                f"{here}: 'algorithms' must list some of {', '.join(ASYMMETRIC)} "
                "(a shared secret or none is never accepted from another issuer)"
            )
        claim = entry.get("user_claim", "sub")
        audience = entry.get("audience")
        if not isinstance(claim, str) or not claim:
            raise StoreError(f"{here}: 'user_claim' must be a claim name")
        if audience is not None and not isinstance(audience, str):
            raise StoreError(f"{here}: 'audience' must be a string")
        found[name] = TrustedIssuer(
            name=name,
            issuer=issuer,
            algorithms=tuple(algorithms),
            jwks_url=url,
            jwks_file=(store_path.parent / file) if file is not None else None,
            user_claim=claim,
            audience=audience,
        )
    return found
