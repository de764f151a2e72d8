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
        *,
        login: Callable[[CacheEntry, AuthenticationError], CacheEntry | None] | None = None,
        wait: float | None = None,
    ) -> None:
        """``login``: a new login for an entry whose tokens are dead (the error says why),
        None when there is no way to log in again (a password login: that error is raised);
        it raises when it cannot (no person here, the login failed). ``wait``: at most this many seconds for another process holding
        the profile (its login or refresh), else as long as it takes."""
        self.cache = cache
        self.profile = profile
        self.client_factory = client_factory
        self.login = login
        self.wait = wait
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
                current.revoked = "its refresh token was refused"
                try:
                    new = self._log_in(current, exc)  # under the lock: one login for all
                except AuthenticationError as why:  # no person here: still remembered
                    new, exc = None, why
                refused = exc
                return new or current

        saved = self.cache.update(self.profile, change, self.wait)
        if refused is not None:
            raise refused
        self.entry = saved or adopted or self.entry
        return self.entry

    def check_usable(self) -> None:
        """Exit 3 for a profile whose tokens a server already refused or revoked."""
        dead = self._dead(self.entry)
        if dead is not None and dead.reason == "revoked":
            raise dead

    def _dead(self, entry: CacheEntry) -> AuthenticationError | None:
        """Why ``entry`` can give no token without a new login (None: it can)."""
        if entry.revoked:
            return AuthenticationError(
                f"profile {self.profile!r}: {entry.revoked}; log in again", reason=Reason.REVOKED
            )
        if entry.expired(margin=EXPIRY_MARGIN) and not can_refresh(entry):
            return AuthenticationError(
                f"the token of profile {self.profile!r} has expired and cannot be refreshed: "
                "log in again",
                reason=Reason.EXPIRED,
            )
        return None

    def _log_in(self, entry: CacheEntry, dead: AuthenticationError) -> CacheEntry | None:
        return None if self.login is None else self.login(entry, dead)

    def fresh(self) -> CacheEntry:
        """The entry, refreshed first if its access token has (nearly) expired; logged in
        again (``login``) when its tokens are dead."""
        dead = self._dead(self.entry)
        if dead is not None:
            if self.login is None:
                raise dead
            return self.login_again(dead)
        if self.entry.expired(margin=EXPIRY_MARGIN):
            self.refresh()
        return self.entry

    def login_again(self, dead: AuthenticationError) -> CacheEntry:
        """A new login, under the profile's lock, unless another process made one meanwhile.

        Ten processes finding the profile dead all queue on its lock (``wait`` bounds it);
        the first logs in (one browser, one device code, one callback port in use), the
        others find its entry when they get the lock and use it.
        """
        stale = self.entry

        def login(current: CacheEntry, why: AuthenticationError) -> CacheEntry:
            new = self._log_in(current, why)
            if new is None:
                raise why
            return new

        def change(current: CacheEntry | None) -> CacheEntry | None:
            if current is None:
                raise AuthenticationError(
                    f"profile {self.profile!r} was logged out while in use: log in again",
                    reason=Reason.NOT_LOGGED_IN,
                )
            now_dead = self._dead(current)
            if now_dead is None and current != stale:
                self.entry = current  # another process logged in (or refreshed) meanwhile
                return None
            if now_dead is None:  # refreshable after all: the refresh path, same lock
                try:
                    return refresh(current, client_factory=self.client_factory)
                except AuthenticationError as exc:
                    if exc.reason not in REFUSED:
                        raise
                    return login(current, exc)
            return login(current, now_dead)

        saved = self.cache.update(self.profile, change, self.wait)
        if saved is not None:
            self.entry = saved
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
