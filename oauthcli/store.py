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

    [users.alice.claims]     # chosen claims (any JSON value) in her tokens and /userinfo
    roles = ["admin"]

    [clients.ci-bot]         # OAuth clients for the client_credentials grant
    hashed_secret = "$2b$12$..."
    scopes = ["items"]

    [clients.web-app]        # a public client (no secret, PKCE) for the browser and device flows
    public = true
    redirect_uris = ["http://127.0.0.1/callback"]
    post_logout_redirect_uris = ["http://127.0.0.1/bye"]   # RP-initiated logout
    audience = "https://api.example.com"   # the aud of access tokens issued to it
    scopes = ["me"]

Reads need no lock (writes replace the file atomically); every change runs as
read-modify-write under an exclusive lock, so concurrent writers lose nothing.
Tables this module does not know are kept as they are.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tomllib
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.claims import split_scopes
from oauthcli.errors import OAuthCliWarning, StoreError, UsageError
from oauthcli.fileio import atomic_write, exclusive_lock, real_path

if TYPE_CHECKING:
    from oauthcli.trusted_issuers import TrustedIssuer

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 2.1

# One rule for names typed at `user add` and names found in a hand-edited store:
# letters (any script) and digits, then also . _ @ + - ; NFC, so one name has one spelling.
_NAME = re.compile(r"[^\W_][\w.@+-]{0,127}")
_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_AT_END = " (at end of document)"
_TOML_KEY_TUPLE = re.compile(r"\(((?:'[^']*'|\"[^\"]*\")(?:, (?:'[^']*'|\"[^\"]*\"))*),?\)")
_BOM = "\ufeff"

# Hash prefixes: the schemes oauthcli.passwords verifies, and others people paste in.
_HASH_SCHEMES = (
    (("$2a$", "$2b$", "$2y$"), "bcrypt"),
    (("$pbkdf2-sha256$",), "pbkdf2_sha256"),
    (("$6$",), "sha512_crypt"),
    (("$5$",), "sha256_crypt"),
    (("$argon2",), "argon2"),
    (("$1$",), "md5_crypt"),
    (("$apr1$",), "apr_md5_crypt"),
    (("$scrypt$", "$7$"), "scrypt"),
    (("$y$",), "yescrypt"),
    (("$2$", "$2x$"), "an old bcrypt variant"),
)
# Field types in TOML words, for messages.
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "an array", int: "an integer"}


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, for "... not a string" messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _readable_toml_message(message: str) -> str:
    """tomllib's message with key tuples written as TOML keys: ``('users', 'a')`` -> ``users.a``."""

    def dotted(match: re.Match[str]) -> str:
        parts = [p.strip()[1:-1] for p in re.findall(r"'[^']*'|\"[^\"]*\"", match.group(1))]
        return "[" + ".".join(p if _BARE_KEY.fullmatch(p) else f'"{p}"' for p in parts) + "]"

    return _TOML_KEY_TUPLE.sub(dotted, message)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def hash_scheme_problem(hashed: str) -> str | None:
    """Why ``hashed`` can never match a password here (its scheme), or None when it can."""
    from oauthcli.passwords import SCHEMES

    for prefixes, scheme in _HASH_SCHEMES:
        if hashed.startswith(prefixes):
            if scheme in SCHEMES:
                return None
            return f"is {_article(scheme)} {scheme} hash, which oauthcli cannot check"
    return "is not a password hash oauthcli can check"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


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


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a username or client id, or None when it can."""
    if unicodedata.normalize("NFC", name) != name and _NAME.fullmatch(
        unicodedata.normalize("NFC", name)
    ):
        return "write it in Unicode NFC form (composed characters, as keyboards type them)"
    if not _NAME.fullmatch(name):
        return (
            "use 1-128 letters (any script), digits or . _ @ + -, starting with a letter or digit"
        )
    return None


def validate_name(name: str, what: str = "username") -> str:
    """``name`` as given (NFC-normalised), or ``UsageError`` naming the rule."""
    name = unicodedata.normalize("NFC", name)
    problem = name_problem(name)
    if problem:
        from oauthcli.text import clean

        raise UsageError(f"invalid {what} {clean(name, 140)!r}: {problem}")
    return name


_EMAIL = re.compile(r"[^@\s]{1,64}@(?:[\w-]+\.)*[\w-]+")


def validate_full_name(value: str) -> str:
    """A display name: any text on one line, without control or bidi characters."""
    from oauthcli.text import has_controls

    if has_controls(value) or len(value) > 200:
        raise UsageError(
            "invalid full name: use at most 200 characters on one line, "
            "without control or bidi-override characters"
        )
    return value


def validate_email(value: str) -> str:
    """An address of the form local@domain (the domain may be Unicode), nothing hidden in it."""
    from oauthcli.text import clean, has_controls

    if has_controls(value) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise UsageError(f"invalid e-mail address {clean(value, 80)!r}: use name@example.com")
    return value


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
    if parts.scheme in ("javascript", "data", "vbscript", "file", "blob"):
        raise UsageError(f"invalid redirect URI {uri!r}: scheme {parts.scheme} is not allowed")
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
    # Chosen claims (``[users.NAME.claims]``): see ``claims.scoped_claims`` for where they go.
    claims: dict[str, Any] = field(default_factory=dict)

    def public(self, include_hash: bool = False) -> dict[str, Any]:
        """The user as the API and ``--json`` show it: never the hash unless asked."""
        data: dict[str, Any] = {
            "username": self.username,
            "full_name": self.full_name,
            "email": self.email,
            "disabled": self.disabled,
            "scopes": list(self.scopes),
            "claims": dict(self.claims),  # chosen claims (user add/set --claim)
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
        if self.claims:
            data["claims"] = dict(self.claims)
        return data


@dataclass
class Client:
    """An OAuth client: confidential (a ``hashed_secret``, or public keys in ``jwks`` for
    ``private_key_jwt``, RFC 7523) or public (none; PKCE).

    ``redirect_uris`` are where the authorization endpoint may send codes.
    """

    client_id: str
    hashed_secret: str = ""  # empty for a public client and a private_key_jwt one
    scopes: list[str] = field(default_factory=list)
    disabled: bool = False
    public: bool = False
    redirect_uris: list[str] = field(default_factory=list)
    # A JWK Set of the client's public keys: it authenticates with signed assertions.
    jwks: dict[str, Any] | None = None
    # Where RP-initiated logout may send the browser back (exact match).
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    # The ``aud`` of access tokens issued to this client (else ``[issuer] audience``).
    audience: str | list[str] | None = None
    # Chosen claims added to every access token issued to this client.
    claims: dict[str, Any] = field(default_factory=dict)
    # Its token requests must carry a DPoP proof (RFC 9449; client add --require-dpop).
    require_dpop: bool = False
    # RFC 9126 6: /authorize takes this client's requests only through /par.
    require_pushed_authorization_requests: bool = False
    # The grants it registered for (RFC 7591 2 grant_types); None: any (a store client).
    grant_types: list[str] | None = None
    # RFC 8693: it may exchange tokens (client add --token-exchange), for these audiences.
    token_exchange: bool = False
    exchange_audiences: list[str] = field(default_factory=list)

    def may_use(self, grant_type: str) -> bool:
        if grant_type == TOKEN_EXCHANGE and not self.token_exchange:
            return False  # token exchange only for clients allowed to use it
        return self.grant_types is None or grant_type in self.grant_types

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.public:
            data["public"] = True
        elif self.jwks is not None:
            data["jwks"] = self.jwks
        else:
            data["hashed_secret"] = self.hashed_secret
        data["disabled"] = self.disabled
        data["scopes"] = list(self.scopes)
        if self.redirect_uris:
            data["redirect_uris"] = list(self.redirect_uris)
        if self.post_logout_redirect_uris:
            data["post_logout_redirect_uris"] = list(self.post_logout_redirect_uris)
        if self.audience is not None:
            data["audience"] = self.audience
        if self.claims:
            data["claims"] = dict(self.claims)
        if self.require_dpop:
            data["require_dpop"] = True
        if self.require_pushed_authorization_requests:
            data["require_pushed_authorization_requests"] = True
        if self.token_exchange:
            data["token_exchange"] = True
        if self.exchange_audiences:
            data["exchange_audiences"] = list(self.exchange_audiences)
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

    def trusted_issuers(self, store_path: Path) -> dict[str, TrustedIssuer]:
        """``[trusted_issuers.NAME]``: issuers whose tokens serve takes in a token exchange."""
        from oauthcli.trusted_issuers import parse_trusted_issuers

        return parse_trusted_issuers(self.other.get("trusted_issuers", {}), store_path)

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
        """Parse and validate the store. A missing or broken file is a ``StoreError``.

        A store other users can write to is refused (anyone could add a user); one
        they can read is used, with an ``OAuthCliWarning`` (they can read the hashes).
        """
        try:
            with open(self.path, "rb") as handle:
                mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
                self._check_mode(mode)
                raw = handle.read()
        except FileNotFoundError:
            raise StoreError(
                f"user store {self.path} not found (create one with 'oauthcli init', "
                "or point --store / OAUTHCLI_STORE at one)"
            ) from None
        except IsADirectoryError:
            raise StoreError(f"user store {self.path} is a directory, not a file") from None
        except PermissionError:
            raise StoreError(
                f"user store {self.path} is not readable (permission denied)"
            ) from None
        except OSError as exc:  # a FIFO, a device that fails, ...
            raise StoreError(f"cannot read user store {self.path}: {exc.strerror or exc}") from None
        return self._parse(raw)

    def _check_mode(self, mode: int) -> None:
        fix = f"run 'chmod 600 {self.path}'"
        if mode & 0o022:
            raise StoreError(
                f"user store {self.path} is writable by other users (mode {mode:o}); "
                f"refusing to use it: {fix}"
            )
        if mode & 0o004:
            warnings.warn(
                f"user store {self.path} is readable by other users (mode {mode:o}), "
                f"password hashes included: {fix}",
                OAuthCliWarning,
                stacklevel=3,
            )

    def _parse(self, raw: bytes) -> StoreData:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"{self.path}: not UTF-8 text (byte {exc.start})") from None
        # Windows editors save UTF-8 with a byte-order mark; TOML itself has none to give.
        text = text.removeprefix(_BOM)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message, line, column = _toml_error_position(str(exc), text)
            raise StoreError(
                f"{self.path}:{line}:{column}: invalid TOML: {_readable_toml_message(message)}"
            ) from None
        return self._validate(doc)

    def _check_rounds(self, rounds: Any) -> None:
        if rounds is not None and (
            isinstance(rounds, bool) or not isinstance(rounds, int) or not 4 <= rounds <= 31
        ):
            raise StoreError(
                f"{self.path}: [passwords] bcrypt_rounds must be a whole number from 4 to 31"
            )

    def _validate(self, doc: dict[str, Any]) -> StoreData:
        data = StoreData()
        users = doc.pop("users", {})
        clients = doc.pop("clients", {})
        if not isinstance(users, dict):
            raise StoreError(f"{self.path}: 'users' must be a table of [users.NAME] tables")
        if not isinstance(clients, dict):
            raise StoreError(f"{self.path}: 'clients' must be a table of [clients.ID] tables")
        unknown = sorted(set(doc) - {"issuer", "passwords", "trusted_issuers"})
        if unknown:
            # Most likely --store points at some other TOML file (pyproject.toml, ...).
            raise StoreError(
                f"{self.path}: unknown table or key {unknown[0]!r}; a user store holds "
                "[issuer], [passwords], [trusted_issuers.NAME], [users.NAME] and [clients.ID] "
                "tables"
            )
        from oauthcli.trusted_issuers import parse_trusted_issuers

        parse_trusted_issuers(doc.get("trusted_issuers", {}), self.path)
        for name in ("issuer", "passwords"):
            if not isinstance(doc.get(name, {}), dict):
                raise StoreError(f"{self.path}: '{name}' must be a table ([{name}])")
        unknown = sorted(set(doc.get("passwords", {})) - {"bcrypt_rounds"})
        if unknown:
            raise StoreError(
                f"{self.path}: [passwords]: unknown setting {unknown[0]!r} (known: bcrypt_rounds)"
            )
        self._check_rounds(doc.get("passwords", {}).get("bcrypt_rounds"))
        for name, table in users.items():
            where = f"{self.path}: {_table_name('users', name)}"
            _check_name(where, name, "username")
            fields = _check_table(where, table, _USER_FIELDS)
            if "hashed_password" not in fields:
                raise StoreError(f"{where}: missing 'hashed_password'")
            problem = hash_scheme_problem(fields["hashed_password"])
            if problem:
                warnings.warn(
                    f"{where}: hashed_password {problem}, so no password matches it: "
                    f"set a new one with 'oauthcli user passwd {name}'",
                    OAuthCliWarning,
                    stacklevel=4,
                )
            _check_claims(where, fields.get("claims"))
            data.users[name] = User(username=name, **fields)
        for cid, table in clients.items():
            where = f"{self.path}: {_table_name('clients', cid)}"
            _check_name(where, cid, "client id")
            data.clients[cid] = _parse_client(where, cid, table)
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
        real_path(self.path)  # a symbolic link is written through, or refused here
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

    def create(self, data: StoreData, *, overwrite: bool = False) -> None:
        """Write a whole new store (0600) under the store's lock; an existing one only with
        ``overwrite``."""
        if not self.path.parent.is_dir():
            raise StoreError(f"directory {self.path.parent} of user store does not exist")
        real_path(self.path)  # a symbolic link is written through, or refused here
        data.check_names()
        import tomli_w

        try:
            with exclusive_lock(self.path):
                if self.path.exists() and not overwrite:
                    raise UsageError(f"{self.path} already exists (use --force to replace it)")
                atomic_write(self.path, tomli_w.dumps(data.to_toml()).encode("utf-8"))
        except OSError as exc:  # permission denied, read-only file system, disk full
            raise StoreError(
                f"cannot write user store {self.path}: {exc.strerror or exc}"
            ) from None

    # Convenience wrappers for the common single changes.

    def add_user(self, user: User) -> None:
        user.username = validate_name(user.username)
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
    "claims": dict,
}
_CLIENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "hashed_secret": str,
    "disabled": bool,
    "scopes": list,
    "public": bool,
    "redirect_uris": list,
    "jwks": dict,
    "post_logout_redirect_uris": list,
    "audience": (str, list),
    "claims": dict,
    "require_dpop": bool,
    "require_pushed_authorization_requests": bool,
    "token_exchange": bool,
    "exchange_audiences": list,
}


def _parse_client(where: str, cid: str, table: Any) -> Client:
    fields = _check_table(where, table, _CLIENT_FIELDS)
    kinds = [fields.get("public", False), "hashed_secret" in fields, "jwks" in fields]
    if sum(kinds) != 1:
        raise StoreError(
            f"{where}: give 'hashed_secret' (confidential client), 'jwks' (its public keys, "
            "for private_key_jwt) or 'public = true': exactly one"
        )
    if "jwks" in fields:
        check_client_jwks(where, fields["jwks"])
    for uri in [*fields.get("redirect_uris", []), *fields.get("post_logout_redirect_uris", [])]:
        try:
            validate_redirect_uri(uri)
        except UsageError as exc:
            raise StoreError(f"{where}: {exc}") from None
    audience = fields.get("audience")
    named = [audience] if isinstance(audience, str) else audience
    if named is not None and (not named or "" in named):
        raise StoreError(f"{where}: 'audience' must be a non-empty string or array of strings")
    _check_claims(where, fields.get("claims"))
    return Client(client_id=cid, **fields)


def check_chosen_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """``claims`` when they may be chosen claims, else ``UsageError`` saying why."""
    from oauthcli.claims import chosen_claims_problem

    problem = chosen_claims_problem(claims)
    if problem:
        raise UsageError(f"invalid claims: {problem}")
    return claims


def _check_claims(where: str, claims: dict[str, Any] | None) -> None:
    from oauthcli.claims import chosen_claims_problem

    problem = None if claims is None else chosen_claims_problem(claims)
    if problem:
        raise StoreError(f"{where}: claims: {problem}")


def check_client_jwks(where: str, jwks: dict[str, Any]) -> None:
    """A JWK Set of usable public keys (a private member is refused: it must not be here)."""
    from oauthcli.errors import ConfigError
    from oauthcli.verify.keyset import keys_from_jwks

    keys = jwks.get("keys")
    if isinstance(keys, list) and any(isinstance(k, dict) and "d" in k for k in keys):
        raise StoreError(f"{where}: 'jwks' holds a private key; give the public keys only")
    if isinstance(keys, list) and any(isinstance(k, dict) and k.get("kty") == "oct" for k in keys):
        raise StoreError(f"{where}: 'jwks' holds a shared secret (kty oct); give public keys")
    try:
        keys_from_jwks(jwks, f"{where} jwks")
    except ConfigError as exc:
        raise StoreError(str(exc)) from None


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
        if isinstance(value, bool) is not (expected is bool) or not isinstance(value, expected):
            wanted = _TYPE_NAMES.get(expected, "") if isinstance(expected, type) else ""
            if expected is list:
                wanted = "an array of strings"
            raise StoreError(
                f"{where}: field {key!r} must be {wanted or 'another type'}, not {_toml_type(value)}"
            )
        if isinstance(value, list) and not all(isinstance(s, str) for s in value):
            raise StoreError(f"{where}: {key!r} must be an array of strings")
        fields[key] = value
    return fields


def _table_name(kind: str, name: str) -> str:
    """``[users.alice]``, or ``[users."émilie x"]`` when the name is not a bare TOML key."""
    from oauthcli.text import clean

    shown = clean(name, 140)
    return f"[{kind}.{shown}]" if _BARE_KEY.fullmatch(name) else f'[{kind}."{shown}"]'


def _check_name(where: str, name: str, what: str) -> None:
    problem = name_problem(name)
    if problem:
        raise StoreError(f"{where}: invalid {what}: {problem}")
