"""The client's side of DPoP (RFC 9449): a profile's key and the nonces servers hand out.

``login --dpop`` makes an ES256 key per profile, ``<cache dir>/<profile>.dpop.pem`` (0600,
never written or read through a symbolic link); the profile's entry names it
(``CacheEntry.dpop_key_file``), so a refresh and ``call`` sign with the same key; ``logout``
removes it. A ``DPoPSigner`` makes the proofs (``oauthcli.dpop.ProofKey``) and remembers
the latest ``DPoP-Nonce`` of each origin (RFC 9449 8, 9). No network here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from oauthcli.dpop import NONCE_HEADER, ProofKey
from oauthcli.errors import ConfigError, StoreError
from oauthcli.fileio import PRIVATE_FILE, atomic_write, ensure_private_dir
from oauthcli.text import is_header_safe
from oauthcli.urls import origin_of

if TYPE_CHECKING:
    from oauthcli.client.cache import CacheEntry

KEY_SUFFIX = ".dpop.pem"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
MAX_NONCE = 1024


def key_path(cache_dir: Path, profile: str) -> Path:
    """Where a profile's DPoP key lives: beside its cache file."""
    return Path(cache_dir) / f"{profile}{KEY_SUFFIX}"


def load_key(path: Path) -> ProofKey:
    """The key at ``path``: opened without following a link, refused when others can read it."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"the DPoP key {path} is missing: log in again with --dpop") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"the DPoP key {path} is a symbolic link; refusing it") from None
        raise ConfigError(f"cannot read the DPoP key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        data = handle.read(64 * 1024)
    if mode & 0o077:
        raise ConfigError(
            f"the DPoP key {path} is accessible to other users (mode {mode:o}); "
            f"refusing to use it: run 'chmod 600 {path}'"
        )
    try:
        return ProofKey.from_pem(data)
    except ValueError:
        raise ConfigError(f"the DPoP key {path} is not an EC P-256 private key") from None


def load_or_create(path: Path) -> ProofKey:
    """The profile's key, made (ES256, 0600) when there is none yet."""
    if path.is_symlink():
        raise StoreError(f"the DPoP key {path} is a symbolic link; refusing to write through it")
    if path.exists():
        return load_key(path)
    key = ProofKey.generate()
    try:
        ensure_private_dir(path.parent)
        atomic_write(path, key.to_pem(), mode=PRIVATE_FILE)
    except OSError as exc:
        raise StoreError(f"cannot write the DPoP key {path}: {exc.strerror or exc}") from None
    return key


def remove_key(path: Path) -> bool:
    """Forget a profile's key (a link is removed, never followed); ``True`` when there was one."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


class DPoPSigner:
    """Proofs for one key, with the nonce each origin last gave (RFC 9449 8.2: a client uses
    the most recent one it received from that server)."""

    def __init__(self, key: ProofKey) -> None:
        self.key = key
        self.nonces: dict[str, str] = {}

    @property
    def jkt(self) -> str:
        return self.key.jkt

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        return self.key.proof(
            method, url, access_token=access_token, nonce=self.nonces.get(origin_of(url))
        )

    def learn(self, url: str, headers: Mapping[str, str]) -> bool:
        """Remember the answer's ``DPoP-Nonce``; ``True`` when it is new for that origin."""
        nonce = headers.get(NONCE_HEADER)
        # RFC 9449 8.1: nonce = 1*NQCHAR; anything else is not echoed back in a proof.
        if not nonce or len(nonce) > MAX_NONCE or not is_header_safe(nonce) or '"' in nonce:
            return False
        origin = origin_of(url)
        if self.nonces.get(origin) == nonce:
            return False
        self.nonces[origin] = nonce
        return True


def signer_for(entry: CacheEntry, *, presenting: bool = False) -> DPoPSigner | None:
    """The signer of a profile logged in with ``--dpop`` (its refreshes keep the binding,
    RFC 9449 5); ``presenting``: only when its token is DPoP-bound (``token_type: DPoP``),
    as a server that ignored the proof answered a Bearer token."""
    if not entry.dpop_key_file:
        return None
    if presenting and entry.token_type.lower() != "dpop":
        return None
    if entry.dpop_key:  # read with the profile from the OS keyring (--token-store keyring)
        try:
            return DPoPSigner(ProofKey.from_pem(entry.dpop_key.encode()))
        except ValueError:
            raise ConfigError("the profile's DPoP key in the OS keyring is not usable") from None
    return DPoPSigner(load_key(Path(entry.dpop_key_file)))
