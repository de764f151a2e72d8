"""Refresh-token sessions: rotation with reuse detection, shared by the CLI and ``serve``.

Each login starts a *family*; every refresh token carries its family id and its
own ``jti``. Only the newest ``jti`` of a family may be redeemed. Presenting an
older one means a token was copied, so the whole family is revoked (OAuth 2.0
Security BCP, section 4.14). Disabling a user or changing a password revokes
all of that user's families.

The state is a JSON file beside the user store, written with the store's
lock-and-replace discipline.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from oauthcli.errors import StoreError, TokenError
from oauthcli.fileio import atomic_write, exclusive_lock


class SessionStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_store(cls, store_path: str | Path) -> SessionStore:
        store_path = Path(store_path)
        return cls(store_path.with_name(store_path.stem + ".sessions.json"))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The state's lock; a directory we cannot write to is a clear ``StoreError``."""
        try:
            with exclusive_lock(self.path):
                yield
        except OSError as exc:
            raise StoreError(
                f"cannot write refresh-token state {self.path}: {exc.strerror or exc}"
            ) from None

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            families = doc["families"]
            if not isinstance(families, dict):
                raise TypeError
            return families
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"refresh-token state {self.path} is corrupt; delete it to log everyone out"
            ) from None

    def _write(self, families: dict[str, dict[str, Any]], now: float) -> None:
        # Expired families can never be redeemed again: drop them so the file stays small.
        live = {fid: fam for fid, fam in families.items() if fam["expires_at"] > now}
        atomic_write(self.path, json.dumps({"families": live}, indent=1).encode())

    def start(
        self, sub: str, jti: str, expires_at: int, scope: str = "", now: float | None = None
    ) -> str:
        """Record a new family whose first refresh token has ``jti``; return the family id."""
        now = time.time() if now is None else now
        family_id = secrets.token_urlsafe(16)
        with self._locked():
            families = self._read()
            families[family_id] = {
                "sub": sub,
                "scope": scope,
                "current_jti": jti,
                "expires_at": expires_at,
                "revoked": False,
            }
            self._write(families, now)
        return family_id

    def rotate(
        self,
        family_id: str,
        presented_jti: str,
        new_jti: str,
        expires_at: int,
        now: float | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Redeem ``presented_jti`` and make ``new_jti`` the family's only valid token.

        Returns the family record (``sub``, ``scope``). Reuse of an older token
        revokes the family. ``check`` sees the record before anything changes; if
        it raises, the presented token stays the valid one.
        """
        now = time.time() if now is None else now
        with self._locked():
            families = self._read()
            family = families.get(family_id)
            if family is None or family["expires_at"] <= now:
                raise TokenError("refresh token is unknown or its session has ended", "revoked")
            if family["revoked"]:
                raise TokenError("refresh token has been revoked", "revoked")
            if not secrets.compare_digest(family["current_jti"], presented_jti):
                family["revoked"] = True
                self._write(families, now)
                raise TokenError(
                    "refresh token was already used: the whole session is revoked, log in again",
                    "reused",
                )
            if check is not None:
                check(dict(family))
            family["current_jti"] = new_jti
            family["expires_at"] = expires_at
            self._write(families, now)
            return dict(family)

    def family(self, family_id: str) -> dict[str, Any] | None:
        """A copy of one family's record (``sub``, ``scope``, ``current_jti``, ...), if known."""
        family = self._read().get(family_id)
        return dict(family) if family is not None else None

    def is_active(self, family_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        family = self._read().get(family_id)
        return bool(family) and not family["revoked"] and family["expires_at"] > now  # type: ignore[index]

    def revoke_family(self, family_id: str) -> bool:
        with self._locked():
            families = self._read()
            family = families.get(family_id)
            if family is None:
                return False
            family["revoked"] = True
            self._write(families, time.time())
            return True

    def revoke_user(self, sub: str) -> int:
        """Revoke every family of ``sub``; return how many were live."""
        if not self.path.exists():
            return 0
        with self._locked():
            families = self._read()
            count = 0
            for family in families.values():
                if family["sub"] == sub and not family["revoked"]:
                    family["revoked"] = True
                    count += 1
            if count:
                self._write(families, time.time())
            return count
