"""Crash-safe, private files: atomic replace under an exclusive lock.

Shared by the user store, the refresh-token state and the token cache, so a
crash mid-write leaves the old file or the new one, never a truncated mix, and
concurrent writers queue up instead of losing each other's changes.

Symbolic links: a lock file is never followed (``O_NOFOLLOW``), nor is a
temporary file (``mkstemp`` creates it exclusively). A file that is itself a
symbolic link owned by the current user (a store kept in a dotfiles repository)
is written through: the target is replaced and the link stays. A link owned by
someone else, or one whose target is missing, is refused, so a link planted in a
shared directory cannot make oauthcli (perhaps run as root) write elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from oauthcli.errors import ConfigError, StoreError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def real_path(path: Path) -> Path:
    """``path``, or the file a symbolic link at ``path`` names, when it is safe to write through."""
    if not path.is_symlink():
        return path
    link = path.lstat()
    if link.st_uid not in (os.geteuid(), 0):
        raise StoreError(
            f"{path} is a symbolic link owned by another user; refusing to write through it"
        )
    target = path.resolve()
    if not target.exists():
        raise StoreError(
            f"{path} is a symbolic link to {target}, which does not exist; "
            "refusing to create a file through it"
        )
    return target


def atomic_write(
    path: Path, data: bytes, mode: int | None = None, *, follow_symlinks: bool = True
) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename.

    New files get ``mode`` (default 0600); an existing file keeps its mode. A
    symbolic link is written through (see the module docstring), never replaced;
    with ``follow_symlinks=False`` it is refused (``StoreError``): for a file created
    afresh each time (``serve --control``'s token), where a link can only be planted.
    """
    if not follow_symlinks and Path(path).is_symlink():
        raise StoreError(f"{path} is a symbolic link; refusing to write through it")
    path = real_path(Path(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = PRIVATE_FILE
    directory = path.parent if str(path.parent) else Path(".")
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # The rename itself must reach the disk, or a power cut can bring the old name back.
    try:
        dir_fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def lock_path(path: Path) -> Path:
    """``<path>.lock`` beside the file (beside a symbolic link's target, so all links share it)."""
    path = real_path(Path(path))
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive_lock(path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (created 0600, never through a link).

    A lock file is never unlinked, by anyone: a process waiting on the old file would then
    hold it "exclusively" while a newcomer locks a fresh one under the same name.
    ``wait``: at most this many seconds for a holder to let go, then ``LockTimeout``
    (None: as long as it takes).
    """
    import errno
    import fcntl

    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(
                f"lock file {lock} is a symbolic link; refusing to follow it (remove it)"
            ) from None
        raise
    try:
        if wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            _flock_within(fd, lock, wait)
        yield
    finally:
        os.close(fd)


class LockTimeout(TimeoutError):
    """Another process held the lock longer than the caller would wait."""


def _flock_within(fd: int, lock: Path, wait: float) -> None:
    """``flock`` that gives up after ``wait`` seconds (polled: flock itself has no timeout)."""
    import fcntl
    import time

    deadline = time.monotonic() + wait
    pause = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(f"{lock} is held by another process") from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.2)


def is_private(path: Path) -> bool:
    """True when neither group nor others can read or write ``path``."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def read_private(path: Path, what: str) -> bytes:
    """The bytes of a secret or private-key file, refused when other users can read or write it.

    The mode is checked on the opened file (no window between check and read); a file
    holding only PEM public keys or certificates is not secret and is not refused.
    Raises ``FileNotFoundError``/``OSError`` for the caller to word, and
    ``ConfigError`` with the ``chmod`` to run for a file others can reach.
    """
    with open(path, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        data = handle.read()
    if mode & 0o077 and not _only_public_material(data):
        raise ConfigError(
            f"{what} {path} is accessible to other users (mode {mode:o}); "
            f"refusing to use it: run 'chmod 600 {path}'"
        )
    return data


def _only_public_material(data: bytes) -> bool:
    """PEM public keys or certificates only: nothing secret, so anyone may read them
    (the caller then says why such a file is no use as a secret)."""
    return b"-----BEGIN " in data and b"PRIVATE KEY" not in data


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parent 0700, whatever the umask."""
    missing: list[Path] = []
    current = Path(directory)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, PRIVATE_DIR)
    if not Path(directory).is_dir():
        raise NotADirectoryError(20, "Not a directory", str(directory))
