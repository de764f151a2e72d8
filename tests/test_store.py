import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from oauthcli.errors import StoreError, UsageError
from oauthcli.store import User, UserStore
from tests.conftest import write_store


def test_round_trip_keeps_fields_and_settings_tables(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text(
        textwrap.dedent(
            """
            [issuer]
            algorithm = "ES256"
            audience = "api"

            [users.alice]
            full_name = "Alice"
            hashed_password = "$2b$04$x"
            scopes = ["me"]
            """
        )
    )
    store = UserStore(path)
    with store.edit() as data:
        data.users["bob"] = User("bob", "$2b$04$y", email="bob@example.com")
    doc = tomllib.loads(path.read_text())
    assert doc["issuer"] == {"algorithm": "ES256", "audience": "api"}
    assert doc["users"]["alice"] == {
        "full_name": "Alice",
        "hashed_password": "$2b$04$x",
        "disabled": False,
        "scopes": ["me"],
    }
    assert store.load().users["bob"].email == "bob@example.com"


def test_new_store_is_created_0600(tmp_path):
    path = tmp_path / "users.toml"
    UserStore(path).add_user(User("alice", "$2b$04$x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_mode_is_kept(tmp_path):
    path = tmp_path / "users.toml"
    UserStore(path).add_user(User("alice", "$2b$04$x"))
    path.chmod(0o640)
    UserStore(path).add_user(User("bob", "$2b$04$x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_missing_store_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="not found"):
        UserStore(tmp_path / "nope.toml").load()


@pytest.mark.parametrize(
    ("content", "position"),
    [
        ('[users.alice]\nfull_name = "unterminated\n', ":2:"),
        ("[users.alice]\nscopes = [\n", ":3:"),
        ("a = 1\na = 2\n", ":2:"),
    ],
)
def test_corrupt_store_names_line_and_column_and_is_untouched(tmp_path, content, position):
    path = tmp_path / "users.toml"
    path.write_text(content)
    before = path.read_bytes()
    store = UserStore(path)
    with pytest.raises(StoreError) as excinfo:
        store.load()
    assert str(path) + position in str(excinfo.value)
    with pytest.raises(StoreError), store.edit() as data:
        data.users.clear()
    with pytest.raises(StoreError):
        store.add_user(User("bob", "$2b$04$x"))
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[users.alice]\nfull_name = "A"\n', "missing 'hashed_password'"),
        ('[users.alice]\nhashed_password = "h"\nscopes = "me"\n', "must be an array of strings, not a string"),
        ('[users.alice]\nhashed_password = "h"\nscopes = [1]\n', "array of strings"),
        ('[users.alice]\nhashed_password = "h"\nrole = "admin"\n', "unknown field 'role'"),
        ("users = 3\n", "must be a table"),
        ('[users]\nalice = "x"\n', "must be a table"),
        ("issuer = 5\n", "'issuer' must be a table"),
        ('passwords = "x"\n', "'passwords' must be a table"),
        # cost 99 would make passlib hash for ever (it clamps to 31 = 2**31 rounds)
        ("[passwords]\nbcrypt_rounds = 99\n", "from 4 to 31"),
        ('[passwords]\nbcrypt_rounds = "12"\n', "from 4 to 31"),
        ("[passwords]\nbcrypt_rounds = true\n", "from 4 to 31"),
    ],
)
def test_invalid_structure_is_reported(tmp_path, content, message):
    path = tmp_path / "users.toml"
    path.write_text(content)
    with pytest.raises(StoreError, match=message):
        UserStore(path).load()


def test_not_utf8(tmp_path):
    path = tmp_path / "users.toml"
    path.write_bytes(b"\xff\xfe[users]")
    with pytest.raises(StoreError, match="UTF-8"):
        UserStore(path).load()


def test_add_existing_and_remove_missing(tmp_path):
    store = UserStore(tmp_path / "users.toml")
    store.add_user(User("alice", "$2b$04$x"))
    with pytest.raises(UsageError, match="already exists"):
        store.add_user(User("alice", "$2b$04$y"))
    with pytest.raises(UsageError, match="no user 'bob'"):
        store.remove_user("bob")


def test_failed_edit_writes_nothing(tmp_path):
    store = UserStore(tmp_path / "users.toml")
    store.add_user(User("alice", "$2b$04$x"))
    before = store.path.read_bytes()
    with pytest.raises(RuntimeError), store.edit() as data:
        data.users.clear()
        raise RuntimeError("boom")
    assert store.path.read_bytes() == before


def _kill_script(where: str) -> str:
    """A writer that SIGKILLs itself at ``where`` inside the atomic write."""
    return textwrap.dedent(
        f"""
        import os, signal, sys
        from oauthcli import fileio
        from oauthcli.store import User, UserStore

        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        where = {where!r}
        if where == "fsync":
            os.fsync = die
        elif where == "replace":
            os.replace = die
        elif where == "half-written":
            real_fdopen = os.fdopen
            class HalfWriter:
                def __init__(self, handle):
                    self.handle = handle
                def __enter__(self):
                    return self
                def __exit__(self, *exc):
                    return False
                def fileno(self):
                    return self.handle.fileno()
                def write(self, data):
                    self.handle.write(data[: len(data) // 2])
                    self.handle.flush()
                    die()
            os.fdopen = lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
        elif where == "after-replace":
            fileio._fsync_directory = die
        UserStore(sys.argv[1]).add_user(User("mallory", "$2b$04$x"))
        """
    )


@pytest.mark.parametrize("where", ["half-written", "fsync", "replace", "after-replace"])
def test_killed_writer_leaves_old_or_new_store(tmp_path, where):
    path = tmp_path / "users.toml"
    write_store(path)
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-c", _kill_script(where), str(path)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    users = UserStore(path).load().users
    if where == "after-replace":
        assert "mallory" in users
    else:
        assert path.read_bytes() == before
        assert "mallory" not in users
    # The lock died with the writer: the next write goes through.
    UserStore(path).add_user(User("trent", "$2b$04$x"))
    assert {"alice", "trent"} <= set(UserStore(path).load().users)


def test_random_sigkill_never_corrupts(tmp_path):
    path = tmp_path / "users.toml"
    write_store(path)
    writer = textwrap.dedent(
        """
        import sys
        from oauthcli.store import User, UserStore
        store = UserStore(sys.argv[1])
        i = 0
        while True:
            i += 1
            with store.edit() as data:
                data.users[f"u{i}"] = User(f"u{i}", "$2b$04$" + "x" * 53, scopes=["a"] * 50)
        """
    )
    rng = random.Random(1234)
    seen = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(path)])
        time.sleep(0.3 + rng.random() * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        users = UserStore(path).load().users  # parses: never truncated
        assert len(users) >= seen
        seen = len(users)
    assert seen > 3
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) <= 8


def test_fifty_concurrent_user_add_processes_keep_fifty_users(tmp_path):
    path = tmp_path / "users.toml"
    env = {**os.environ, "OAUTHCLI_BCRYPT_ROUNDS": "4"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oauthcli",
                "user",
                "add",
                f"user{i}",
                "--password-stdin",
                "--store",
                str(path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(50)
    ]
    for i, proc in enumerate(procs):
        _, err = proc.communicate(f"password-{i}\n".encode(), timeout=120)
        assert proc.returncode == 0, err
    users = UserStore(path).load().users
    assert sorted(users) == sorted(f"user{i}" for i in range(50))
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600


def test_a_toml_file_that_is_not_a_user_store_is_refused(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[build-system]\nrequires = []\n')
    before = path.read_bytes()
    with pytest.raises(StoreError, match="unknown table or key 'build-system'"):
        UserStore(path).load()
    with pytest.raises(StoreError):
        UserStore(path).add_user(User("bob", "$2b$04$x"))
    assert path.read_bytes() == before
