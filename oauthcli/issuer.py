"""Token settings from the store's ``[issuer]`` table, and the signing key they name.

[issuer]
algorithm = "HS256"             # default HS256
issuer = "https://auth.example"  # iss claim, optional
audience = "my-api"              # aud claim, optional (string or list)
resources = ["https://api.example/"]  # RFC 8707 resource indicators clients may ask for
access_token_ttl = "15m"         # default 15m
refresh_token_ttl = "7d"         # default 7d
scope_claim = "scope"            # "scope" (RFC 9068 string) or "scopes" (tutorial list)
key_file = "signing.pem"         # relative to the store file (asymmetric algorithms)
secret_file = "hs256.secret"     # HMAC: or the OAUTHCLI_SECRET environment variable
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from oauthcli import settings
from oauthcli.durations import parse_duration
from oauthcli.errors import AuthenticationError, ConfigError, OAuthCliError, Reason
from oauthcli.keys import (
    HMAC,
    SigningKey,
    family_of,
    hmac_signing_key,
    load_private_key_file,
    read_secret_file,
)

_KNOWN = {
    "algorithm",
    "issuer",
    "audience",
    "resources",
    "access_token_ttl",
    "refresh_token_ttl",
    "scope_claim",
    "key_file",
    "secret_file",
}


class Audience(NamedTuple):
    """What ``IssuerSettings.audience_for`` decided: the access token's ``aud`` (``None``:
    no resource asked for, so the defaults apply: the client's ``audience``, else
    ``[issuer] audience``, see ``TokenService.access_token``), and the resources the grant
    keeps for its refreshes (RFC 8707 2.2)."""

    aud: str | list[str] | None
    resources: list[str]


@dataclass(frozen=True)
class IssuerSettings:
    algorithm: str = "HS256"
    issuer: str | None = None
    audience: str | list[str] | None = None
    resources: tuple[str, ...] = ()  # RFC 8707: the resource indicators tokens may be for
    access_ttl: int = 15 * 60
    refresh_ttl: int = 7 * 86400
    scope_claim: str = "scope"
    key_file: Path | None = None
    secret_file: Path | None = None

    @classmethod
    def from_table(
        cls, table: dict[str, Any], base_dir: Path, where: str = "[issuer]"
    ) -> IssuerSettings:
        unknown = set(table) - _KNOWN
        if unknown:
            raise ConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
        try:
            algorithm = str(table.get("algorithm", "HS256"))
            family_of(algorithm)
            scope_claim = table.get("scope_claim", "scope")
            if scope_claim not in ("scope", "scopes"):
                raise ConfigError(f"{where}: scope_claim must be 'scope' or 'scopes'")
            audience = table.get("audience")
            if audience is not None and not (
                isinstance(audience, str)
                or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
            ):
                raise ConfigError(f"{where}: audience must be a string or a list of strings")
            issuer = table.get("issuer")
            if issuer is not None and not isinstance(issuer, str):
                raise ConfigError(f"{where}: issuer must be a string")
            return cls(
                algorithm=algorithm,
                issuer=issuer,
                audience=audience,
                resources=_resources(table, where),
                access_ttl=_lifetime(table, "access_token_ttl", "15m", where),
                refresh_ttl=_lifetime(table, "refresh_token_ttl", "7d", where),
                scope_claim=scope_claim,
                key_file=_path(table, "key_file", base_dir, where),
                secret_file=_path(table, "secret_file", base_dir, where),
            )
        except ConfigError:
            raise
        except OAuthCliError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def audience_for(
        self, requested: Sequence[str], granted: Sequence[str] | None = None
    ) -> Audience:
        """The one rule for an access token's audience (RFC 8707 resource indicators).

        ``requested``: the ``resource`` parameters of this request (``/authorize``,
        ``/device_authorization`` or ``/token``, any grant); ``granted``: the resources of
        the grant the request continues (a code, a device code, a refresh token), ``None``
        for a new grant. Each requested resource must be one of ``[issuer] resources``
        (RFC 8707 2: else ``invalid_target``) and, when continuing a grant, one it holds:
        a token request may narrow the grant's resources but never widen them (2.2).
        ``aud`` is the requested resources, else the granted ones, else ``None`` (the defaults);
        the grant keeps what it held (or, new, what was requested), so a refresh can ask for
        another of its resources later. ``AuthenticationError`` with reason ``invalid_target``.
        """
        from oauthcli.text import clean

        wanted = list(dict.fromkeys(requested))
        for resource in wanted:
            if resource not in self.resources:
                raise AuthenticationError(
                    f"unknown resource {clean(resource, 200)!r}: this server issues tokens "
                    "only for the resources its [issuer] resources lists",
                    Reason.INVALID_TARGET,
                )
            if granted is not None and resource not in granted:
                raise AuthenticationError(
                    f"resource {clean(resource, 200)!r} was not part of the authorization",
                    Reason.INVALID_TARGET,
                )
        kept = list(granted) if granted is not None else wanted
        targets = wanted or kept
        if not targets:
            return Audience(None, kept)
        return Audience(targets[0] if len(targets) == 1 else targets, kept)

    def hmac_secret(self) -> tuple[bytes, str] | None:
        """(secret, where it came from) for HMAC: OAUTHCLI_SECRET, else secret_file, else key_file.

        The one lookup both signing (``signing_key``) and verifying use.
        """
        secret = settings.env_secret()
        if secret is not None:
            return secret, "OAUTHCLI_SECRET"
        for path in (self.secret_file, self.key_file):
            if path is not None:
                return read_secret_file(path), str(path)
        return None

    def signing_key(self) -> SigningKey:
        """Load the key material these settings name; missing material says how to create it."""
        if family_of(self.algorithm) == HMAC:
            found = self.hmac_secret()
            if found is None:
                raise ConfigError(
                    f"no {self.algorithm} secret: set OAUTHCLI_SECRET or secret_file in [issuer] "
                    f"(create one with 'oauthcli keys generate --alg {self.algorithm} --out hs.secret', "
                    f"or start a new store with 'oauthcli init')"
                )
            return hmac_signing_key(found[0], self.algorithm, found[1])
        if self.key_file is None:
            raise ConfigError(
                f"no signing key for {self.algorithm}: set key_file in [issuer] "
                f"(create one with 'oauthcli keys generate --alg {self.algorithm} --out signing.pem', "
                f"or start a new store with 'oauthcli init')"
            )
        return load_private_key_file(self.key_file, self.algorithm)


def _resources(table: dict[str, Any], where: str) -> tuple[str, ...]:
    """``resources``: absolute URIs without a fragment (RFC 8707 section 2)."""
    from urllib.parse import urlsplit

    value = table.get("resources", [])
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ConfigError(f"{where}: resources must be a list of URIs")
    for resource in value:
        parts = urlsplit(resource)
        if not parts.scheme or "#" in resource or any(c.isspace() for c in resource):
            raise ConfigError(
                f"{where}: resource {resource!r} must be an absolute URI without a fragment "
                "(RFC 8707 section 2)"
            )
    return tuple(dict.fromkeys(value))


def _lifetime(table: dict[str, Any], name: str, default: str, where: str) -> int:
    seconds = parse_duration(table.get(name, default), what=name)
    if seconds == 0:
        raise ConfigError(f"{where}: {name} must be longer than 0s (tokens would be born expired)")
    return seconds


def _path(table: dict[str, Any], name: str, base_dir: Path, where: str) -> Path | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {name} must be a file path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def settings_for_store(store_path: Path, table: dict[str, Any]) -> IssuerSettings:
    """The store's ``[issuer]`` settings, file paths resolved relative to the store file."""
    return IssuerSettings.from_table(
        table, store_path.resolve().parent, where=f"{store_path} [issuer]"
    )
