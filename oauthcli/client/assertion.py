"""How a client proves who it is at the provider's endpoints (RFC 6749 2.3, RFC 7523, OIDC Core 9).

``basic``  client id and secret in an HTTP Basic header (RFC 6749 2.3.1)
``post``   client id and secret in the form
``private-key-jwt``  a short-lived JWT signed with the client's private key (RFC 7523 2.2):
           ``iss`` = ``sub`` = client id, ``aud`` the provider's issuer identifier, a unique
           ``jti``; its ``kid`` is the key's RFC 7638 thumbprint, as ``oauthcli keys jwks``
           publishes it. The issuer as ``aud`` is the 2025 update of RFC 7523
           (draft-ietf-oauth-rfc7523bis 5: an assertion with the token endpoint's URL as
           ``aud`` could be replayed by whoever runs another endpoint it was sent to, so
           the audience is the issuer alone). An assertion is also never sent to an endpoint
           on another origin than the issuer's or the token endpoint's (revocation,
           introspection, device authorization elsewhere): it is refused before sending.
``none``   a public client: only its id, in the form (RFC 6749 2.1, e.g. with PKCE)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.errors import ConfigError, Reason, UsageError
from oauthcli.jose import basic_authorization
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    from oauthcli.keys import SigningKey

METHODS = ("basic", "post", "private-key-jwt", "none")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Short enough that a captured assertion is soon useless, long enough for clock skew.
ASSERTION_LIFETIME = 60

Form = MutableMapping[str, Any]


def load_client_key(path: Path) -> SigningKey:
    """The private key of ``--client-key``, with the algorithm its type implies (RS256, ES256 ...)."""
    from oauthcli.keys import guess_algorithm, load_pem, load_private_key_file

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read client key {path}: {exc.strerror or exc}") from None
    if b"PRIVATE KEY" not in data:
        raise ConfigError(f"{path} is not a PEM private key (private-key-jwt signs with it)")
    return load_private_key_file(path, guess_algorithm(load_pem(data, str(path))))


def client_assertion(
    key: SigningKey, client_id: str, audience: str, now: float | None = None
) -> str:
    """An RFC 7523 client authentication JWT for one request."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    return key.sign(claims, "JWT")


@dataclass(frozen=True)
class ClientAuthentication:
    """A client's id and the way it authenticates; ``apply`` adds it to one request."""

    client_id: str | None
    method: str = "basic"
    secret: str | None = field(default=None, repr=False)
    key: SigningKey | None = field(default=None, repr=False)
    now: Callable[[], float] = time.time
    # the provider's issuer identifier and token endpoint (private-key-jwt: the assertion's
    # audience, and the only origins it is sent to); set by ``for_provider``
    issuer: str | None = None
    token_endpoint: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(
                f"client authentication must be one of {', '.join(METHODS)}, not {self.method!r}"
            )
        if self.method == "private-key-jwt" and self.client_id and self.key is None:
            raise UsageError("--client-auth private-key-jwt needs --client-key PEM")

    def for_provider(self, issuer: str, token_endpoint: str) -> ClientAuthentication:
        """This authentication at the provider ``issuer`` whose token endpoint is ``token_endpoint``."""
        return replace(self, issuer=issuer, token_endpoint=token_endpoint)

    def apply(self, form: Form, headers: MutableMapping[str, str], url: str) -> tuple[str, ...]:
        """Add the credentials for a request to ``url`` to ``form`` / ``headers``; return the
        values to mask in messages."""
        if self.client_id is None:
            return ()
        if self.method == "basic" and self.secret is not None:
            headers["Authorization"] = basic_authorization(self.client_id, self.secret)
            return (self.secret,)
        # A public client (no secret) identifies itself in the form (RFC 6749 3.2.1).
        form["client_id"] = self.client_id
        if self.method == "private-key-jwt":
            assert self.key is not None
            assertion = client_assertion(self.key, self.client_id, self._audience(url), self.now())
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = assertion
            return (assertion,)
        if self.method == "post" and self.secret is not None:
            form["client_secret"] = self.secret
            return (self.secret,)
        return ()

    def _audience(self, url: str) -> str:
        """The issuer, once ``url`` is known to be on the issuer's or the token endpoint's origin."""
        if self.issuer is None or self.token_endpoint is None:
            raise UsageError(
                "private-key-jwt needs the provider's issuer (log in with --issuer-url)"
            )
        trusted = {origin_of(self.issuer), origin_of(self.token_endpoint)}
        if origin_of(url) not in trusted:
            raise UsageError(
                f"refusing to send a client assertion to {origin_of(url)}: private-key-jwt "
                f"assertions go only to the provider's own origin ({' or '.join(sorted(trusted))})",
                reason=Reason.DESTINATION,
            )
        return self.issuer
