"""The TOML user store: users, OAuth clients and the ``[issuer]`` settings in one file.

Layout (fields of a user mirror the FastAPI tutorial's ``UserInDB``)::

    [issuer]                 # token settings, read by oauthcli.issuer
    algorithm = "HS256"

    [users.alice]
    full_name = "Alice Liddell"
    email = "alice@example.com"
    hashed_password = "$2b$12$..."
    disabled = false
    scopes = ["me", "items"]

    [clients.ci-bot]         # OAuth clients for the client_credentials grant
    hashed_secret = "$2b$12$..."
    scopes = ["items"]

    [clients.web-app]        # a public client (no secret, PKCE) for the browser and device flows
    public = true
    redirect_uris = ["http://127.0.0.1/callback"]
    scopes = ["me"]

Reads need no lock (writes replace the file atomically); every change runs as
read-modify-write under an exclusive lock, so concurrent writers lose nothing.
Tables this module does not know are kept as they are.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oauthcli.claims import split_scopes
from oauthcli.errors import StoreError, UsageError
from oauthcli.fileio import atomic_write, exclusive_lock

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_AT_END = " (at end of document)"


def _toml_error_position(message: str, text: str) -> tuple[str, int, int]:
    """``(message, line, column)`` from tomllib's error text (3.11 has no attributes for them)."""
    match = _TOML_POSITION.match(message)
    if match:
        return match["msg"], int(match["line"]), int(match["col"])
    if message.endswith(_TOML_AT_END):
        lines = text.split("\n")
        return (
            message.removesuffix(_TOML_AT_END) + " at end of file",
            len(lines),
            len(lines[-1]) + 1,
        )
    return message, 1, 1


def validate_name(name: str, what: str = "username") -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid {what} {name!r}: use 1-128 letters, digits or . _ @ + -, "
            "starting with a letter or digit"
        )
    return name


def validate_scopes(scopes: list[str]) -> list[str]:
    """Scopes as RFC 6749 allows them, de-duplicated, order kept."""
    return split_scopes(scopes)


def validate_redirect_uri(uri: str) -> str:
    """An absolute URI without a fragment (RFC 6749 section 3.1.2): ``https://``, ``http://``
    (meant for loopback and development hosts) or a private-use scheme (RFC 8252 section 7.1)."""
    from urllib.parse import urlsplit

    if not uri or len(uri) > 2000 or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in uri):
        raise UsageError(f"invalid redirect URI {uri!r}: no spaces or control characters")
    parts = urlsplit(uri)
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme or ""):
        raise UsageError(f"invalid redirect URI {uri!r}: must be absolute (https://...)")
    if "#" in uri:
        raise UsageError(f"invalid redirect URI {uri!r}: must not contain a fragment")
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise UsageError(f"invalid redirect URI {uri!r}: has no host")
    return uri


@dataclass
class User:
    username: str
    hashed_password: str
    full_name: str | None = None
    email: str | None = None
    disabled: bool = False
    scopes: list[str] = field(default_factory=list)
    # Changes whenever the account is created, its password set, or it is disabled or
    # enabled (oauthcli.accounts); tokens carry it as ``gen`` and serve refuses stale ones.
    generation: str | None = None

    def public(self, include_hash: bool = False) -> dict[str, Any]:
        """The user as the API and ``--json`` show it: never the hash unless asked."""
        data: dict[str, Any] = {
            "username": self.username,
            "full_name": self.full_name,
            "email": self.email,
            "disabled": self.disabled,
            "scopes": list(self.scopes),
        }
        if include_hash:
            data["hashed_password"] = self.hashed_password
        return data

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.full_name is not None:
            data["full_name"] = self.full_name
        if self.email is not None:
            data["email"] = self.email
        data["hashed_password"] = self.hashed_password
        data["disabled"] = self.disabled
        data["scopes"] = list(self.scopes)
        if self.generation is not None:
            data["generation"] = self.generation
        return data


@dataclass
class Client:
    """An OAuth client: confidential (a bcrypt ``hashed_secret``) or public (none; PKCE).

    ``redirect_uris`` are where the authorization endpoint may send codes.
    """

    client_id: str
    hashed_secret: str = ""  # empty for a public client
    scopes: list[str] = field(default_factory=list)
    disabled: bool = False
    public: bool = False
    redirect_uris: list[str] = field(default_factory=list)

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.public:
            data["public"] = True
        else:
            data["hashed_secret"] = self.hashed_secret
        data["disabled"] = self.disabled
        data["scopes"] = list(self.scopes)
        if self.redirect_uris:
            data["redirect_uris"] = list(self.redirect_uris)
        return data


@dataclass
class StoreData:
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    # [issuer], [passwords] and any table we don't know, written back unchanged
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> dict[str, Any]:
        table = self.other.get("issuer", {})
        return table if isinstance(table, dict) else {}

    @property
    def bcrypt_rounds(self) -> int | None:
        table = self.other.get("passwords", {})
        rounds = table.get("bcrypt_rounds") if isinstance(table, dict) else None
        return rounds if isinstance(rounds, int) else None

    def user(self, name: str) -> User:
        try:
            return self.users[name]
        except KeyError:
            raise UsageError(f"no user {name!r} in the store") from None

    def check_names(self) -> None:
        """A client id may not be a username: a client's token would carry ``sub`` of that user."""
        shared = sorted(set(self.users) & set(self.clients))
        if shared:
            raise UsageError(
                f"{shared[0]!r} is both a user and a client id; a client id must not be a username"
            )

    def to_toml(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(self.other)
        doc["users"] = {name: user.to_toml() for name, user in self.users.items()}
        if self.clients:
            doc["clients"] = {cid: client.to_toml() for cid, client in self.clients.items()}
        return doc


class UserStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"UserStore({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> StoreData:
        """Parse and validate the store. A missing or broken file is a ``StoreError``."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"user store {self.path} not found (create it with 'oauthcli user add', "
                "or point --store / OAUTHCLI_STORE at one)"
            ) from None
        except IsADirectoryError:
            raise StoreError(f"user store {self.path} is a directory, not a file") from None
        except PermissionError:
            raise StoreError(
                f"user store {self.path} is not readable (permission denied)"
            ) from None
        return self._parse(raw)

    def _parse(self, raw: bytes) -> StoreData:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"{self.path}: not UTF-8 text (byte {exc.start})") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message, line, column = _toml_error_position(str(exc), text)
            raise StoreError(f"{self.path}:{line}:{column}: invalid TOML: {message}") from None
        return self._validate(doc)

    def _validate(self, doc: dict[str, Any]) -> StoreData:
        data = StoreData()
        users = doc.pop("users", {})
        clients = doc.pop("clients", {})
        if not isinstance(users, dict):
            raise StoreError(f"{self.path}: 'users' must be a table of [users.NAME] tables")
        if not isinstance(clients, dict):
            raise StoreError(f"{self.path}: 'clients' must be a table of [clients.ID] tables")
        unknown = sorted(set(doc) - {"issuer", "passwords"})
        if unknown:
            # Most likely --store points at some other TOML file (pyproject.toml, ...).
            raise StoreError(
                f"{self.path}: unknown table or key {unknown[0]!r}; a user store holds "
                "[issuer], [passwords], [users.NAME] and [clients.ID] tables"
            )
        for name in ("issuer", "passwords"):
            if not isinstance(doc.get(name, {}), dict):
                raise StoreError(f"{self.path}: '{name}' must be a table ([{name}])")
        rounds = doc.get("passwords", {}).get("bcrypt_rounds")
        if rounds is not None and (
            isinstance(rounds, bool) or not isinstance(rounds, int) or not 4 <= rounds <= 31
        ):
            raise StoreError(
                f"{self.path}: [passwords] bcrypt_rounds must be a whole number from 4 to 31"
            )
        for name, table in users.items():
            where = f"{self.path}: [users.{name}]"
            fields = _check_table(where, table, _USER_FIELDS)
            if "hashed_password" not in fields:
                raise StoreError(f"{where}: missing 'hashed_password'")
            data.users[name] = User(username=name, **fields)
        for cid, table in clients.items():
            where = f"{self.path}: [clients.{cid}]"
            fields = _check_table(where, table, _CLIENT_FIELDS)
            if fields.get("public", False) == ("hashed_secret" in fields):
                raise StoreError(
                    f"{where}: give 'hashed_secret' (confidential client) or 'public = true', "
                    "not both or neither"
                )
            for uri in fields.get("redirect_uris", []):
                try:
                    validate_redirect_uri(uri)
                except UsageError as exc:
                    raise StoreError(f"{where}: {exc}") from None
            data.clients[cid] = Client(client_id=cid, **fields)
        try:
            data.check_names()
        except UsageError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        data.other = doc
        return data

    @contextlib.contextmanager
    def edit(self, *, create: bool = False) -> Iterator[StoreData]:
        """Read-modify-write under the store's lock; the file is replaced atomically.

        With ``create``, a missing store starts empty (and is created 0600).
        If the block raises, nothing is written.
        """
        if not self.path.parent.is_dir():
            raise StoreError(f"directory {self.path.parent} of user store does not exist")
        try:
            with exclusive_lock(self.path):
                data = StoreData() if create and not self.path.exists() else self.load()
                yield data
                data.check_names()
                import tomli_w

                atomic_write(self.path, tomli_w.dumps(data.to_toml()).encode("utf-8"))
        except OSError as exc:  # permission denied, read-only file system, disk full
            raise StoreError(
                f"cannot write user store {self.path}: {exc.strerror or exc}"
            ) from None

    # Convenience wrappers for the common single changes.

    def get_user(self, name: str) -> User | None:
        return self.load().users.get(name)

    def add_user(self, user: User) -> None:
        validate_name(user.username)
        with self.edit(create=True) as data:
            if user.username in data.users:
                raise UsageError(f"user {user.username!r} already exists")
            data.users[user.username] = user

    def remove_user(self, name: str) -> None:
        with self.edit() as data:
            data.user(name)
            del data.users[name]


_USER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "full_name": str,
    "email": str,
    "hashed_password": str,
    "disabled": bool,
    "scopes": list,
    "generation": str,
}
_CLIENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "hashed_secret": str,
    "disabled": bool,
    "scopes": list,
    "public": bool,
    "redirect_uris": list,
}


def _check_table(
    where: str, table: Any, allowed: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise StoreError(f"{where}: must be a table")
    fields: dict[str, Any] = {}
    for key, value in table.items():
        expected = allowed.get(key)
        if expected is None:
            # Unknown fields would be silently dropped on the next write: refuse them.
            raise StoreError(f"{where}: unknown field {key!r}")
        if not isinstance(value, expected):
            raise StoreError(f"{where}: field {key!r} has the wrong type")
        if isinstance(value, list) and not all(isinstance(s, str) for s in value):
            raise StoreError(f"{where}: {key!r} must be a list of strings")
        fields[key] = value
    return fields
