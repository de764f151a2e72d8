"""The state contract: what ``serve`` and the CLI keep beyond the user store, as one protocol.

``State`` is everything one backend holds; ``memory``, ``sqlite`` and ``redis``
implement it side by side, and ``tests/state/test_conformance.py`` runs every one
of them through the same suite:

- **refresh families** (``start_family`` ... ``revoke_user``): one login's chain of
  refresh tokens, rotated atomically with reuse detection (RFC 9700 section 4.14.2;
  the rules are ``oauthcli.families``); fronted by ``oauthcli.sessions.SessionStore``;
- **revocations** (``revoke_access``/``is_access_revoked``): the ``jti`` of revoked
  access tokens until they expire; fronted by ``oauthcli.state.Denylist``;
- **throttle counters** (``throttle_begin``/``throttle_end``, and ``throttle_peek`` that only reads): the counting under the
  login-throttle policy of ``oauthcli.server.throttle`` (the policy is there);
- **one-time and short-lived records** (``put``/``add``/``get``/``take``/``replace``/``delete``):
  ``take`` is atomic, so a code is redeemed once however many requests race; ``add``
  is atomic too, so a DPoP proof's ``jti`` is accepted once across workers and instances;
- **sessions and consent**: records of the kinds in ``KINDS`` (login sessions are
  ``login_session`` records; a user's consent to a client's scopes is a ``consent``
  record, read and written only through ``grant_consent``/``has_consent`` below);
- **control** (``control_get``/``control_update``, ``log_append``/``log_entries``/
  ``log_clear``): what ``serve --control`` changes at run time (queued faults, the clock's
  offset, rotated keys) as one JSON document updated atomically, and its request log, a
  list bounded by the caller; so every worker and instance sees the same (the rules are
  ``oauthcli.server.control``).

Every entry expires on its own in every backend (no entry is evicted to make room
for another), except the control document and log: they live until changed or cleared,
and the log keeps only its newest entries. A backend that cannot be reached raises
``StateUnavailable``.
Leaf module: imports nothing of oauthcli.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

# Record kinds in use, and who writes them (``oauthcli.server``):
KINDS = {
    "authz_code": "an authorization code, keyed by its SHA-256 (provider)",
    "authz_code_used": "a redeemed code, to revoke what it issued if replayed (provider)",
    "device_code": "a device code, keyed by its SHA-256 (device flow)",
    "device_user_code": "a device flow's user code (device flow)",
    "login_session": "a browser login session, keyed by the SHA-256 of its cookie",
    "login_pending": "a login form waiting to be submitted, keyed by the SHA-256 of its id",
    "consent": "a user's consent to a client's scopes (grant_consent/has_consent)",
    "registered_client": "a client registered at /register (RFC 7591), keyed by its id",
    "dpop_jti": "a DPoP proof seen, keyed by the SHA-256 of its key's jkt and jti (add)",
    "par_request": "a pushed authorization request (RFC 9126), keyed by the SHA-256 of its "
    "request_uri, taken once by /authorize",
}

THROTTLE_OUTCOMES = ("failed", "succeeded", "finished")
T = TypeVar("T")


class FamilyBackend(Protocol):
    """Refresh-token families."""

    def start_family(
        self, sub: str, jti: str, expires_at: float, scope: str, now: float
    ) -> str: ...

    def rotate_family(
        self,
        family_id: str,
        presented_jti: str,
        new_jti: str,
        expires_at: float,
        now: float,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Make ``new_jti`` the family's only valid token if ``presented_jti`` is the
        current one (``check`` sees the record first and may refuse); a stale
        ``presented_jti`` revokes the family and raises ``reused``."""
        ...

    def get_family(self, family_id: str) -> dict[str, Any] | None: ...

    def revoke_family(self, family_id: str) -> bool: ...

    def revoke_user(self, sub: str, now: float) -> int:
        """Revoke every live family of ``sub``; return how many there were."""
        ...

    def has_data(self) -> bool:
        """Whether there is anything to read (lets the CLI skip creating a state)."""
        ...


class RevocationBackend(Protocol):
    """Revoked access tokens, by ``jti``, until they expire."""

    def revoke_access(self, jti: str, expires_at: float, now: float) -> None: ...

    def is_access_revoked(self, jti: str, now: float) -> bool: ...


class ThrottleBackend(Protocol):
    """The counters under the login throttle (the policy: ``oauthcli.server.throttle``).

    Per key: attempts *reserved* before a password is checked, failures, and a
    lockout. All within ``window`` seconds; reservations and failures together never
    exceed ``max_attempts``.
    """

    def throttle_begin(self, key: str, now: float, max_attempts: int, window: float) -> int | None:
        """Reserve an attempt: ``None`` (reserved), ``0`` (busy: failures and reservations
        fill the allowance), else the seconds the key stays locked."""
        ...

    def throttle_end(
        self,
        key: str,
        now: float,
        outcome: str,
        max_attempts: int,
        window: float,
        lockout: float,
    ) -> None:
        """Release the oldest reservation; ``failed`` counts a failure (``max_attempts``
        of them lock the key for ``lockout``), ``succeeded`` forgets the failures,
        ``finished`` does neither."""
        ...

    def throttle_peek(self, key: str, now: float, window: float) -> int | None:
        """Read only, one consistent read: ``None`` when the key is neither locked nor holds
        failures within ``window`` (a success has nothing to forget), ``0`` when it holds
        failures, else the seconds it stays locked."""
        ...


class Records(Protocol):
    """Short-lived records by ``(kind, key)``; values are small JSON-compatible dicts."""

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        """Store ``value`` under ``(kind, key)``, replacing any record there."""

    def add(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        """Store ``value`` only when no live record is there (atomic): ``False`` when one is,
        and then nothing is written. Exactly one of racing callers gets ``True``."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The live record, or ``None`` when absent or expired."""

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Atomically read and delete: exactly one caller gets a given record."""

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        """Overwrite a live record; ``False`` (nothing written) when it is absent or expired."""

    def delete(self, kind: str, key: str) -> None:
        """Forget a record (no error when absent)."""

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every live record of ``kind`` by key: for listings of kinds that stay few
        (registered clients), never for codes or sessions."""


class ControlBackend(Protocol):
    """``serve --control``'s shared document and request log (JSON-compatible values)."""

    def control_get(self) -> dict[str, Any]:
        """The control document (``{}`` when nothing was set)."""
        ...

    def control_update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Atomically: read the document, let ``change`` modify it in place, write it back;
        ``change``'s result is returned (an exception from it writes nothing). ``change``
        may run more than once (an optimistic backend retries when another wrote first)."""
        ...

    def log_append(self, entry: dict[str, Any], limit: int) -> None:
        """Add ``entry`` to the request log, keeping only the newest ``limit`` entries."""
        ...

    def log_entries(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        ...

    def log_clear(self) -> None: ...


class State(FamilyBackend, RevocationBackend, ThrottleBackend, Records, ControlBackend, Protocol):
    """Everything the server keeps that is not the user store, in one backend."""

    # True when every call is a network round trip (Redis): the server makes even its
    # reads off the event loop (``oauthcli.server.offload``); a local backend's are inline.
    remote: bool

    def describe(self) -> str:
        """The backend for people and logs (never a password)."""
        ...

    def ping(self) -> None:
        """Raise ``StateUnavailable`` when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ consent

CONSENT = "consent"


def _consent_key(sub: str, client_id: str) -> str:
    # Hashed: a username or client id of any length or character stays one key.
    return hashlib.sha256(f"{sub}\0{client_id}".encode()).hexdigest()


def grant_consent(
    records: Records, sub: str, client_id: str, scopes: Iterable[str], ttl: float
) -> None:
    """Remember that ``sub`` let ``client_id`` have ``scopes`` (added to earlier consent)."""
    key = _consent_key(sub, client_id)
    earlier = records.get(CONSENT, key) or {}
    known = [s for s in earlier.get("scopes", []) if isinstance(s, str)]
    merged = sorted(set(known) | set(scopes))
    records.put(CONSENT, key, {"sub": sub, "client_id": client_id, "scopes": merged}, ttl)


def has_consent(records: Records, sub: str, client_id: str, scopes: Iterable[str]) -> bool:
    """Whether ``sub`` consented to ``client_id`` having every one of ``scopes``."""
    found = records.get(CONSENT, _consent_key(sub, client_id))
    if found is None or found.get("sub") != sub or found.get("client_id") != client_id:
        return False
    granted = found.get("scopes")
    return isinstance(granted, list) and set(scopes) <= set(granted)


def revoke_consent(records: Records, sub: str, client_id: str) -> None:
    records.delete(CONSENT, _consent_key(sub, client_id))
