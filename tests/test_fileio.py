"""Private files: symbolic links, modes and directories, as an attacker or a careless umask finds them."""

import os
import stat
import warnings
from pathlib import Path

import pytest

from oauthcli import errors, fileio, keys
from oauthcli.errors import ConfigError, StoreError
from oauthcli.store import User, UserStore
from tests.conftest import TEST_SECRET, assert_one_line_error, write_store


def test_a_planted_lock_symlink_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    store = tmp_path / "users.toml"
    (tmp_path / "users.toml.lock").symlink_to(victim)
    with pytest.raises(StoreError, match=r"lock file .* is a symbolic link; refusing to follow"):
        UserStore(store).add_user(User("alice", "$2b$04$x"))
    assert not victim.exists()  # root would have created it wherever the link pointed
    assert not store.exists()


def test_a_symlinked_store_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "dotfiles" / "users.toml"
    real.parent.mkdir()
    write_store(real)
    link = tmp_path / "users.toml"
    link.symlink_to(real)
    UserStore(link).add_user(User("trent", "$2b$04$x"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "trent" in UserStore(real).load().users
    # The lock lives beside the target, so every link to one store shares it.
    assert (real.parent / "users.toml.lock").exists()


def test_a_dangling_store_symlink_is_refused(tmp_path):
    link = tmp_path / "users.toml"
    link.symlink_to(tmp_path / "elsewhere" / "users.toml")
    with pytest.raises(StoreError, match="does not exist; refusing to create a file through it"):
        UserStore(link).add_user(User("alice", "$2b$04$x"))
    assert not (tmp_path / "elsewhere").exists()


def test_atomic_write_refuses_a_link_owned_by_another_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a link owned by another user")
    target = tmp_path / "target"
    target.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    with pytest.raises(StoreError, match="owned by another user"):
        fileio.atomic_write(link, b"y")
    assert target.read_text() == "x"


def test_parents_are_created_0700_even_under_umask_000(tmp_path):
    old = os.umask(0)
    try:
        fileio.ensure_private_dir(tmp_path / "new" / ".cache" / "oauthcli")
    finally:
        os.umask(old)
    for part in ("new", "new/.cache", "new/.cache/oauthcli"):
        assert stat.S_IMODE((tmp_path / part).stat().st_mode) == 0o700, part


def test_the_token_cache_dir_parents_are_private(cli, store_path, tmp_path, monkeypatch):
    cache = tmp_path / "xdg" / "oauthcli"
    monkeypatch.setenv("OAUTHCLI_CACHE_DIR", str(cache))
    old = os.umask(0)
    try:
        result = cli("login", "alice", "--password-stdin", input="secret\n")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "xdg").stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_secret_and_key_files_others_can_read_are_refused_with_the_chmod(tmp_path, mode):
    secret = tmp_path / "hs.secret"
    secret.write_text(TEST_SECRET)
    secret.chmod(mode)
    with pytest.raises(ConfigError, match=rf"mode {mode:o}.*chmod 600 {secret}"):
        keys.read_secret_file(secret)
    pem = tmp_path / "k.pem"
    keys.write_new_key(pem, "ES256")
    pem.chmod(mode)
    with pytest.raises(ConfigError, match=rf"chmod 600 {pem}"):
        keys.load_private_key_file(pem, "ES256")
    pem.chmod(0o600)
    assert keys.load_private_key_file(pem, "ES256").algorithm == "ES256"


def test_login_refuses_a_world_readable_secret_file(cli, store_path, isolated_env):
    (isolated_env / "hs256.secret").chmod(0o644)
    result = cli("login", "alice", "--password-stdin", input="secret\n")
    assert_one_line_error(result, 7, "accessible to other users", "chmod 600")


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_store_others_can_write_is_refused(cli, store_path, mode):
    store_path.chmod(mode)
    with pytest.raises(StoreError, match=r"writable by other users.*chmod 600"):
        UserStore(store_path).load()
    assert_one_line_error(cli("user", "list"), 7, "writable by other users")


def test_a_store_others_can_read_is_used_with_a_warning(cli, store_path):
    store_path.chmod(0o644)
    with pytest.warns(errors.OAuthCliWarning, match=r"readable by other users.*chmod 600"):
        assert "alice" in UserStore(store_path).load().users
    result = cli("user", "list")
    assert result.exit_code == 0 and "alice" in result.stdout
    lines = result.stderr.splitlines()
    assert lines == [lines[0]] and lines[0].startswith("oauthcli: warning: user store")
    store_path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        UserStore(store_path).load()
    assert cli("user", "list").stderr == ""


def test_new_secret_files_are_0600_under_any_umask(cli, tmp_path):
    old = os.umask(0)
    try:
        assert cli("keys", "generate", "--alg", "HS256", "--out", "s").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(Path("s").stat().st_mode) == 0o600
