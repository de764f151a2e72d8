import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
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
        (
            '[users.alice]\nhashed_password = "h"\nscopes = "me"\n',
            "must be an array of strings, not a string",
        ),
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


def test_sigkill_at_any_point_never_corrupts(tmp_path):
    """A writer killed between or inside writes (wherever the kill lands) leaves a whole store.

    No sleeps: the writer reports each finished write on stdout; the test kills it after
    a varying number of them, so the kill lands somewhere in the next write.
    """
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
                name = f"r{sys.argv[2]}u{i}"
                data.users[name] = User(name, "$2b$04$" + "x" * 53, scopes=["a"] * 50)
            print(i, flush=True)
        """
    )
    seen = 0
    for round_, writes in enumerate((1, 3, 2, 5, 1, 4, 2, 3)):
        proc = subprocess.Popen(
            [sys.executable, "-c", writer, str(path), str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(writes):
            assert proc.stdout.readline(), "the writer died on its own"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        users = UserStore(path).load().users  # parses: never truncated
        assert len(users) >= seen + writes  # every reported write is there
        seen = len(users)
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) <= 8  # at most one temp file per killed writer


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


# ---------------------------------------------------------------- one rule for names, clear TOML errors


@pytest.mark.parametrize(
    "name", ["émilie", "Jürgen", "李雷", "o'brien-x"[:-2].replace("'", ""), "a.b@c+d"]
)
def test_unicode_letters_are_names_both_typed_and_hand_edited(tmp_path, name):
    path = tmp_path / "users.toml"
    UserStore(path).add_user(User(name, "$2b$04$x"))
    assert name in UserStore(path).load().users
    hand = tmp_path / "hand.toml"
    hand.write_text(f'[users."{name}"]\nhashed_password = "$2b$04$x"\n')
    assert name in UserStore(hand).load().users


@pytest.mark.parametrize("name", ["émilie x", "_x", "-x", "a/b", "bob\u202e", "x" * 129, ""])
def test_names_outside_the_rule_are_refused_typed_and_hand_edited(tmp_path, name):
    with pytest.raises(UsageError, match="invalid username"):
        UserStore(tmp_path / "users.toml").add_user(User(name, "$2b$04$x"))
    hand = tmp_path / "hand.toml"
    hand.write_text(f'[users."{name}"]\nhashed_password = "$2b$04$x"\n')
    with pytest.raises(StoreError, match="invalid username"):
        UserStore(hand).load()


def test_a_decomposed_name_is_stored_composed_and_refused_hand_edited(tmp_path):
    path = tmp_path / "users.toml"
    UserStore(path).add_user(User("e\u0301milie", "$2b$04$x"))
    assert list(UserStore(path).load().users) == ["\u00e9milie"]
    path.write_text('[users."e\u0301milie"]\nhashed_password = "$2b$04$x"\n')
    with pytest.raises(StoreError, match="NFC"):
        UserStore(path).load()


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "users.toml"
    path.write_bytes(b'\xef\xbb\xbf[users.alice]\nhashed_password = "$2b$04$x"\n')
    assert list(UserStore(path).load().users) == ["alice"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "[users.alice]\nhashed_password = 5\n",
            "'hashed_password' must be a string, not an integer",
        ),
        (
            '[users.alice]\nhashed_password = "$2b$04$x"\ndisabled = "no"\n',
            "must be true or false, not a string",
        ),
        (
            '[users.alice]\nhashed_password = "$2b$04$x"\nfull_name = true\n',
            "must be a string, not a boolean",
        ),
        (
            '[clients.ci]\nhashed_secret = "$2b$04$x"\nscopes = 1.5\n',
            "must be an array of strings, not a float",
        ),
    ],
)
def test_type_errors_name_the_expected_type(tmp_path, content, message):
    path = tmp_path / "users.toml"
    path.write_text(content)
    with pytest.raises(StoreError, match=message):
        UserStore(path).load()


def test_a_duplicate_table_is_named_as_toml_not_a_python_tuple(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text('[users.alice]\nhashed_password = "x"\n[users.alice]\nhashed_password = "y"\n')
    with pytest.raises(StoreError) as excinfo:
        UserStore(path).load()
    message = str(excinfo.value)
    assert "[users.alice]" in message and "('users'" not in message and ":3:" in message


def test_unknown_passwords_setting_is_refused(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text("[passwords]\nbcrypt_round = 5\n")
    with pytest.raises(StoreError, match=r"\[passwords\]: unknown setting 'bcrypt_round'"):
        UserStore(path).load()


@pytest.mark.parametrize(
    ("hashed", "scheme"),
    [
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "an argon2 hash"),
        ("$1$salt$hash", "a md5_crypt hash"),
        ("plain-text-password", "not a password hash"),
    ],
)
def test_hashes_oauthcli_cannot_check_get_a_hint(tmp_path, hashed, scheme):
    from oauthcli.errors import OAuthCliWarning

    path = tmp_path / "users.toml"
    path.write_text(f'[users.bob]\nhashed_password = "{hashed}"\n')
    with pytest.warns(OAuthCliWarning, match=rf"{scheme}.*oauthcli user passwd bob"):
        UserStore(path).load()


def test_known_schemes_load_without_a_warning(tmp_path):
    import warnings

    from passlib.hash import pbkdf2_sha256, sha256_crypt

    path = tmp_path / "users.toml"
    with UserStore(path).edit(create=True) as data:
        data.users["a"] = User("a", "$2b$04$x")
        data.users["b"] = User("b", pbkdf2_sha256.hash("pw"))
        data.users["c"] = User("c", sha256_crypt.hash("pw"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(UserStore(path).load().users) == 3


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"issuer": "https://ci.example", "algorithms": ["RS256"]}, "jwks_url' or 'jwks_file"),
        ({"issuer": "https://ci.example", "jwks_file": "k.json", "algorithms": ["HS256"]},
         "never accepted"),
        ({"issuer": "https://ci.example", "jwks_file": "k.json", "algorithms": ["none"]},
         "never accepted"),
        ({"jwks_file": "k.json", "algorithms": ["RS256"]}, "'issuer'"),
        ({"issuer": "x", "jwks_file": "k.json", "algorithms": ["RS256"], "extra": 1},
         "unknown field 'extra'"),
    ],
)  # fmt: skip
def test_trusted_issuers_are_checked_when_the_store_loads(tmp_path, table, fragment):
    import tomli_w

    path = tmp_path / "users.toml"
    path.write_text(tomli_w.dumps({"trusted_issuers": {"ci": table}}))
    path.chmod(0o600)
    with pytest.raises(StoreError, match=re.escape(fragment)):
        UserStore(path).load()


def test_a_trusted_issuer_loads_with_its_defaults(tmp_path):
    import tomli_w

    path = tmp_path / "users.toml"
    table = {"issuer": "https://ci.example", "jwks_file": "k.json", "algorithms": ["ES256"]}
    path.write_text(tomli_w.dumps({"trusted_issuers": {"ci": table}}))
    path.chmod(0o600)
    (trusted,) = UserStore(path).load().trusted_issuers(path).values()
    assert trusted.user_claim == "sub" and trusted.jwks_file == tmp_path / "k.json"
    assert trusted.algorithms == ("ES256",) and trusted.audience is None
