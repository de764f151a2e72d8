"""Token settings from the store's ``[issuer]`` table, and the signing key they name.

[issuer]
algorithm = "HS256"             # default HS256
issuer = "https://auth.example"  # iss claim, optional
audience = "my-api"              # aud claim, optional (string or list)
access_token_ttl = "15m"         # default 15m
refresh_token_ttl = "7d"         # default 7d
scope_claim = "scope"            # "scope" (RFC 9068 string) or "scopes" (tutorial list)
key_file = "signing.pem"         # relative to the store file (asymmetric algorithms)
secret_file = "hs256.secret"     # HMAC: or the OAUTHCLI_SECRET environment variable
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthcli import settings
from oauthcli.durations import parse_duration
from oauthcli.errors import ConfigError, OAuthCliError
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
    "access_token_ttl",
    "refresh_token_ttl",
    "scope_claim",
    "key_file",
    "secret_file",
}


@dataclass(frozen=True)
class IssuerSettings:
    algorithm: str = "HS256"
    issuer: str | None = None
    audience: str | list[str] | None = None
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
