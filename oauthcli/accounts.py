"""The life of a user account: add, set password, disable/enable, remove.

Every change to who an account is (created anew, new password, disabled or
enabled, removed) gives it a new ``generation`` and ends its refresh-token
sessions, whoever makes the change (the CLI today, anything else tomorrow).
Tokens carry the generation as ``gen``; ``serve`` refuses a token whose ``gen``
is not the account's current one, so a user removed and re-added, or whose
password changed, does not find the old account's tokens working again.
"""

from __future__ import annotations

import secrets

from oauthcli.errors import UsageError
from oauthcli.sessions import SessionStore
from oauthcli.store import User, UserStore, validate_name


def new_generation() -> str:
    """Random, not a counter: a removed and re-added user must not get the old value back."""
    return secrets.token_urlsafe(9)


def _end_sessions(store: UserStore, username: str) -> int:
    return SessionStore.for_store(store.path).revoke_user(username)


def add_user(store: UserStore, user: User) -> None:
    """Create ``user`` with a fresh generation: a removed namesake's tokens stay dead."""
    validate_name(user.username)
    user.generation = new_generation()
    with store.edit(create=True) as data:
        if user.username in data.users:
            raise UsageError(f"user {user.username!r} already exists")
        data.users[user.username] = user


def set_password(store: UserStore, username: str, hashed_password: str) -> None:
    with store.edit() as data:
        user = data.user(username)
        user.hashed_password = hashed_password
        user.generation = new_generation()
    _end_sessions(store, username)


def set_disabled(store: UserStore, username: str, disabled: bool) -> bool:
    """Disable or enable; return whether anything changed (a no-op keeps the tokens)."""
    with store.edit() as data:
        user = data.user(username)
        changed = user.disabled != disabled
        if changed:
            user.disabled = disabled
            user.generation = new_generation()
    if changed:
        _end_sessions(store, username)
    return changed


def remove_user(store: UserStore, username: str) -> None:
    with store.edit() as data:
        data.user(username)
        del data.users[username]
    _end_sessions(store, username)
