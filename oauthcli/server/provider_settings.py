"""Lifetimes of the browser and device flows' state (a leaf: the server context holds one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProviderSettings:
    """``clock`` (seconds since the epoch) decides code expiry and device polling; tests inject one."""

    session_ttl: int = 8 * 3600  # login session cookie (serve --session-ttl)
    code_ttl: int = 60  # authorization codes (RFC 6749 4.1.2 recommends 10 minutes at most)
    device_ttl: int = 600  # device and user codes (RFC 8628 3.2 expires_in)
    device_interval: int = 5  # RFC 8628 3.2: the default polling interval
    consent: bool = True  # ask once per user, client and scopes (serve --no-consent: never)
    consent_ttl: int = 180 * 24 * 3600  # how long a consent is remembered
    require_dpop: bool = False  # every token request needs a DPoP proof (serve --require-dpop)
    dpop_nonce: bool = False  # DPoP proofs must carry the server's nonce (serve --dpop-nonce)
    dpop_nonce_period: int = 300  # seconds between nonce rotations
    # Dynamic client registration (RFC 7591, serve --registration): None (off), "open", or
    # "token" (an initial access token, ``registration_token``, read from a 0600 file).
    registration: str | None = None
    registration_token: str | None = field(default=None, repr=False)
    registration_ttl: int = 365 * 24 * 3600  # how long a registered client is kept
    par_ttl: int = 60  # a pushed request's request_uri (RFC 9126 2.2 expires_in)
    require_par: bool = False  # serve --require-par: /authorize takes pushed requests only
    clock: Callable[[], float] = time.time
