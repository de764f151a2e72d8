"""Which key ``oauthcli verify`` uses, and which ``iss``/``aud`` it expects by default.

In order: one explicit source (``--secret-file``, ``--key``, ``--jwks``,
``--issuer-url``); else the store's ``[issuer]`` settings (the HMAC secret from
``OAUTHCLI_SECRET`` or ``secret_file``, or the public half of ``key_file``, with
``issuer``/``audience`` checked); else ``OAUTHCLI_SECRET`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from oauthcli import settings
from oauthcli.errors import ConfigError, UsageError
from oauthcli.keys import HMAC, family_of, read_secret_file
from oauthcli.verify.fetch import RemoteJWKS
from oauthcli.verify.keyset import (
    VerificationKey,
    key_from_pem,
    key_from_secret,
    keys_from_jwks,
    parse_json_document,
)

if TYPE_CHECKING:
    import httpx


@dataclass
class KeyChoice:
    keys: list[VerificationKey] | RemoteJWKS
    description: str
    issuer: str | None = None
    audience: str | list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def from_store(store_path: Path) -> KeyChoice:
    """The verification key of the store's ``[issuer]`` settings (public half only)."""
    # start-up time: the store (tomllib, passwords) loads only when its keys are the source
    from oauthcli.issuer import settings_for_store
    from oauthcli.store import UserStore

    data = UserStore(store_path).load()
    issuer = settings_for_store(store_path, data.issuer)
    alg = issuer.algorithm
    where = f"{store_path} [issuer]"
    if family_of(alg) == HMAC:
        found = issuer.hmac_secret()
        if found is None:
            raise ConfigError(
                f"no {alg} secret to verify with: set OAUTHCLI_SECRET or secret_file in {where}, "
                "or give --secret-file"
            )
        key = key_from_secret(found[0], alg, found[1])
    else:
        if issuer.key_file is None:
            raise ConfigError(f"no key for {alg}: set key_file in {where}, or give --key/--jwks")
        key = key_from_pem(_read(issuer.key_file, "key file"), str(issuer.key_file), alg)
    return KeyChoice([key], f"{where} ({alg})", issuer=issuer.issuer, audience=issuer.audience)


def resolve(
    *,
    secret_file: Path | None = None,
    key_file: Path | None = None,
    jwks: str | None = None,
    issuer_url: str | None = None,
    store_path: Path,
    store_explicit: bool = False,
    client: httpx.Client | None = None,
    allow_oct: bool = False,
) -> KeyChoice:
    """The key (or remote key set) to verify with; ``client`` is used for any URL.

    Without a ``client``, one is built by ``oauthcli.http.make_client`` when a URL
    is given. Shared secrets (``oct`` keys) in a JWK Set file are used only with
    ``allow_oct``; a key set at a URL never lends them (``oauthcli.verify.fetch``).
    """
    given = [
        name
        for name, value in (
            ("--secret-file", secret_file),
            ("--key", key_file),
            ("--jwks", jwks),
            ("--issuer-url", issuer_url),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise UsageError(f"give one key source, not {' and '.join(given)}")
    if secret_file is not None:
        secret = read_secret_file(secret_file)
        return KeyChoice([key_from_secret(secret, None, str(secret_file))], str(secret_file))
    if key_file is not None:
        return KeyChoice([key_from_pem(_read(key_file, "key file"), str(key_file))], str(key_file))
    if jwks is not None:
        if jwks.startswith(("http://", "https://")):
            return KeyChoice(RemoteJWKS(jwks, client or _default_client()), jwks)
        doc = parse_json_document(_read(Path(jwks), "JWKS file"), f"JWKS file {jwks}")
        keys, skipped = keys_from_jwks(doc, jwks)
        if not allow_oct:
            keys, skipped = _without_shared_secrets(keys, skipped, jwks)
        return KeyChoice(keys, jwks, notes=[f"skipped {s}" for s in skipped])
    if issuer_url is not None:
        from oauthcli.client.discovery import discover_provider

        client = client or _default_client()
        found = discover_provider(issuer_url, client, wanted=("jwks",))
        jwks_uri = found.require("jwks", "to verify its tokens (its metadata has no jwks_uri)")
        return KeyChoice(
            RemoteJWKS(jwks_uri, client),
            f"{jwks_uri} (from {found.document_url})",
            issuer=found.issuer,
        )
    if store_explicit or store_path.exists():
        return from_store(store_path)
    env_secret = settings.env_secret()
    if env_secret is not None:
        return KeyChoice([key_from_secret(env_secret, None, "OAUTHCLI_SECRET")], "OAUTHCLI_SECRET")
    raise ConfigError(
        f"no key to verify with: give --secret-file, --key, --jwks or --issuer-url, set "
        f"OAUTHCLI_SECRET, or point --store at a user store with [issuer] settings "
        f"({store_path} does not exist; 'oauthcli init' creates one)"
    )


def _without_shared_secrets(
    keys: list[VerificationKey], skipped: list[str], source: str
) -> tuple[list[VerificationKey], list[str]]:
    """A JWK Set is usually published: an ``oct`` key in it is a secret anyone may have read."""
    shared = [k for k in keys if k.family == HMAC]
    if not shared:
        return keys, skipped
    rest = [k for k in keys if k.family != HMAC]
    if not rest:
        raise ConfigError(
            f"{source}: only shared secrets ('oct' keys); a key set is usually published, and a "
            "published secret lets anyone sign: use --secret-file, or --allow-oct if this file "
            "is private"
        )
    notes = [f"{k.source}: a shared secret ('oct'; --allow-oct uses it)" for k in shared]
    return rest, skipped + notes


def _default_client() -> httpx.Client:
    from oauthcli.http import make_client  # start-up time: httpx only when a URL is given

    return make_client()
