"""The token of one cache profile, refreshed (and saved) when it has expired or is refused.

``call``, ``header`` and ``refresh`` share this. Refreshing happens under the
profile's lock so that two commands never present one rotating refresh token twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from oauthcli.client.cache import EXPIRY_MARGIN, CacheEntry, TokenCache
from oauthcli.client.refresh import can_refresh, refresh
from oauthcli.errors import AuthenticationError, Reason
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    import httpx


# Reasons of a refused refresh (oauthcli.client.refresh, oauthcli.client.answer) that mean
# the session is over at the server, as opposed to a network failure or a bad answer.
REFUSED = frozenset({"invalid_grant", "refresh_rejected"})


class ProfileToken:
    """The token of one cache profile, refreshed (and saved) when it has expired or is refused."""

    def __init__(
        self,
        cache: TokenCache,
        profile: str,
        client_factory: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.cache = cache
        self.profile = profile
        self.client_factory = client_factory
        entry = cache.load(profile)
        if entry is None:
            raise AuthenticationError(
                f"no token cached for profile {profile!r}: run 'oauthcli login' first",
                reason=Reason.NOT_LOGGED_IN,
            )
        self.entry: CacheEntry = entry

    def refresh(self) -> CacheEntry:
        """Refresh under the profile's lock and save; adopt a refresh another process just made.

        Two commands refreshing one profile at once must not both present the same
        rotating refresh token: the second would be refused (or revoke the session).
        """
        self.check_usable()
        stale = self.entry
        adopted: CacheEntry | None = None
        refused: AuthenticationError | None = None

        def change(current: CacheEntry | None) -> CacheEntry | None:
            nonlocal adopted, refused
            if current is None:
                raise AuthenticationError(
                    f"profile {self.profile!r} was logged out while in use: log in again",
                    reason=Reason.NOT_LOGGED_IN,
                )
            if _issuer_of(current) != _issuer_of(stale):
                raise AuthenticationError(
                    f"profile {self.profile!r} was replaced by another login while in use: "
                    "run the command again",
                    reason=Reason.REPLACED,
                )
            # Compared by both tokens: some servers mint identical JWTs within one second.
            changed = (current.access_token, current.refresh_token) != (
                stale.access_token,
                stale.refresh_token,
            )
            if changed and not current.expired(margin=EXPIRY_MARGIN):
                adopted = current
                return None
            try:
                return refresh(current, client_factory=self.client_factory)
            except AuthenticationError as exc:
                if exc.reason not in REFUSED:
                    raise
                # The server refused the refresh token: remembered, so 'token' and
                # 'status' say so at once instead of asking the server again.
                refused = exc
                current.revoked = "its refresh token was refused"
                return current

        saved = self.cache.update(self.profile, change)
        if refused is not None:
            raise refused
        self.entry = saved or adopted or self.entry
        return self.entry

    def check_usable(self) -> None:
        """Exit 3 for a profile whose tokens a server already refused or revoked."""
        if self.entry.revoked:
            raise AuthenticationError(
                f"profile {self.profile!r}: {self.entry.revoked}; log in again",
                reason=Reason.REVOKED,
            )

    def fresh(self) -> CacheEntry:
        """The entry, refreshed first if its access token has (nearly) expired."""
        self.check_usable()
        if self.entry.expired(margin=EXPIRY_MARGIN):
            if not can_refresh(self.entry):
                raise AuthenticationError(
                    f"the token of profile {self.profile!r} has expired and cannot be refreshed: "
                    "log in again",
                    reason=Reason.EXPIRED,
                )
            self.refresh()
        return self.entry

    def allow_origins(self, origins: Iterable[str]) -> None:
        """Remember ``origins`` (``--allow-origin``) in the profile, under its lock."""
        wanted = [origin_of(o) for o in origins]
        if not wanted or all(o in self.entry.allowed_origins for o in wanted):
            return

        def change(current: CacheEntry | None) -> CacheEntry | None:
            if current is None or _issuer_of(current) != _issuer_of(self.entry):
                return None  # logged out or replaced meanwhile: nothing of ours to widen
            current.allowed_origins = list(dict.fromkeys([*current.allowed_origins, *wanted]))
            return current

        saved = self.cache.update(self.profile, change)
        if saved is not None:
            self.entry = saved

    @property
    def can_refresh(self) -> bool:
        return can_refresh(self.entry)


def _issuer_of(entry: CacheEntry) -> tuple[str, str | None]:
    """Where an entry's tokens come from, and hence where they may be sent."""
    return entry.source, entry.token_url if entry.source == "remote" else entry.store
