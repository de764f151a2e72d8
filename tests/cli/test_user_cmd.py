import errno
import json
import os
import stat
import tomllib

import pytest

from oauthcli.store import UserStore
from tests.conftest import assert_one_line_error


def add(cli, name, password="pw-" + "x" * 8, *extra, store="users.toml"):
    return cli(
        "user", "add", name, "--password-stdin", "--store", store, *extra, input=password + "\n"
    )


def test_add_then_list_and_show(cli, isolated_env):
    result = add(
        cli,
        "alice",
        "secret",
        "--full-name",
        "Alice L",
        "--email",
        "a@example.com",
        "--scope",
        "me",
        "-s",
        "items",
    )
    assert result.exit_code == 0, result.stderr
    assert "secret" not in result.output
    listed = cli("user", "list", "--store", "users.toml", "--json")
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == [
        {
            "username": "alice",
            "full_name": "Alice L",
            "email": "a@example.com",
            "disabled": False,
            "scopes": ["me", "items"],
            "claims": {},
        }
    ]
    shown = cli("user", "show", "alice", "--json", "--store", "users.toml")
    assert json.loads(shown.stdout)["scopes"] == ["me", "items"]
    assert "hashed_password" not in shown.stdout
    human = cli("user", "list", "--store", "users.toml")
    assert "alice" in human.stdout and "Alice L" in human.stdout and "$2b$" not in human.stdout
    path = isolated_env / "users.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["users"]["alice"]["hashed_password"].startswith(
        "$2b$04$"
    )


def test_show_and_list_show_a_users_chosen_claims(cli, store_path):
    assert cli("user", "set", "alice", "--claim", 'roles=["admin"]').exit_code == 0
    shown = cli("user", "show", "alice", "--json")
    assert json.loads(shown.stdout)["claims"] == {"roles": ["admin"]}
    listed = cli("user", "list", "--json")
    claims = {u["username"]: u["claims"] for u in json.loads(listed.stdout)}
    assert claims["alice"] == {"roles": ["admin"]} and not any(
        found for name, found in claims.items() if name != "alice"
    )
    human = cli("user", "show", "alice").stdout
    assert 'claims:          {"roles": ["admin"]}' in human


def test_show_hash_only_when_asked(cli, store_path):
    plain = cli("user", "show", "alice")
    assert "$2b$" not in plain.stdout and "alice" in plain.stdout
    shown = cli("user", "show", "alice", "--show-hash", "--json")
    assert json.loads(shown.stdout)["hashed_password"].startswith("$2b$")


def test_store_from_env_and_global_option(cli, tmp_path):
    path = tmp_path / "elsewhere.toml"
    assert add(cli, "bob", store=str(path)).exit_code == 0
    via_env = cli("user", "list", "--json", env={"OAUTHCLI_STORE": str(path)})
    assert [u["username"] for u in json.loads(via_env.stdout)] == ["bob"]
    via_global = cli("--store", str(path), "user", "show", "bob", "--json")
    assert json.loads(via_global.stdout)["username"] == "bob"


def test_passwd_changes_the_hash(cli, store_path):
    before = UserStore(store_path).load().users["alice"].hashed_password
    result = cli("user", "passwd", "alice", "--password-stdin", input="new-password\n")
    assert result.exit_code == 0, result.stderr
    after = UserStore(store_path).load().users["alice"]
    assert after.hashed_password != before
    from oauthcli.passwords import verify_password

    assert verify_password("new-password", after.hashed_password, 4)[0]


def test_set_disable_enable_remove(cli, store_path):
    assert (
        cli(
            "user",
            "set",
            "alice",
            "--add-scope",
            "admin",
            "--remove-scope",
            "items",
            "--email",
            "new@example.com",
        ).exit_code
        == 0
    )
    alice = UserStore(store_path).load().users["alice"]
    assert alice.scopes == ["me", "admin"] and alice.email == "new@example.com"
    assert cli("user", "set", "alice", "--scope", "x", "--scope", "y").exit_code == 0
    assert UserStore(store_path).load().users["alice"].scopes == ["x", "y"]
    assert cli("user", "disable", "alice").exit_code == 0
    assert UserStore(store_path).load().users["alice"].disabled is True
    assert cli("user", "enable", "alice").exit_code == 0
    assert UserStore(store_path).load().users["alice"].disabled is False
    assert cli("user", "remove", "alice").exit_code == 0
    assert "alice" not in UserStore(store_path).load().users


def test_add_existing_user_is_usage_error(cli, store_path):
    result = cli("user", "add", "alice", "--password-stdin", input="whatever\n")
    assert_one_line_error(result, 2, "already exists")


@pytest.mark.parametrize("command", ["show", "passwd", "disable", "enable", "remove"])
def test_missing_user_is_usage_error(cli, store_path, command):
    extra = ["--password-stdin"] if command == "passwd" else []
    result = cli("user", command, "nobody", *extra, input="password1\n")
    assert_one_line_error(result, 2, "no user 'nobody'")


def test_missing_store_is_exit_7(cli):
    assert_one_line_error(
        cli("user", "list", "--store", "missing.toml"), 7, "missing.toml", "not found"
    )


def test_corrupt_store_exit_7_with_position_and_untouched(cli, isolated_env):
    path = isolated_env / "users.toml"
    path.write_text('[users.alice]\nhashed_password = "x"\nscopes = [me]\n')
    before = path.read_bytes()
    for args in (
        ["user", "list"],
        ["user", "add", "bob", "--password-stdin"],
        ["user", "disable", "alice"],
    ):
        result = cli(*args, input="password1\n")
        assert_one_line_error(result, 7, "users.toml:3:")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["user", "add", "bad name", "--password-stdin"], 2, "invalid username"),
        (["user", "add", "bob", "--scope", "a\\b", "--password-stdin"], 2, "invalid scope"),
        (["user", "add", "bob", "--password"], 2, "no such option"),
        (["user", "frobnicate"], 2, "no such command"),
        (["user", "set", "alice"], 2, "nothing to change"),
        (["user", "add", "bob"], 3, "--password-stdin"),  # no person to type it
    ],
)
def test_bad_input_one_line_errors(cli, store_path, args, code, fragment):
    assert_one_line_error(
        cli(*args, input="password1\n" if "--password-stdin" in args else None), code, fragment
    )


def test_password_too_long_refused_at_add_and_passwd(cli, store_path):
    long_password = "é" * 37  # 74 bytes, 37 characters
    result = cli("user", "add", "bob", "--password-stdin", input=long_password + "\n")
    assert_one_line_error(result, 2, "72 bytes")
    assert long_password not in result.output
    result = cli("user", "passwd", "alice", "--password-stdin", input="x" * 73 + "\n")
    assert_one_line_error(result, 2, "72 bytes")


def test_empty_stdin_password(cli, store_path):
    assert_one_line_error(
        cli("user", "add", "bob", "--password-stdin", input=""), 2, "standard input is empty"
    )


def test_no_option_takes_a_password_on_argv():
    import typer.main

    from oauthcli.cli.app import app

    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(typer.main.get_command(app)):
        for param in command.params:
            for opt in getattr(param, "opts", []):
                lowered = opt.lower()
                if "password" in lowered or "secret" in lowered:
                    assert param.is_flag or lowered.endswith(("-stdin", "-file")), (
                        command.name,
                        opt,
                    )


def test_internal_error_is_one_line_without_traceback_unless_debug(cli, store_path, monkeypatch):
    from oauthcli import store as store_module

    def boom(self):
        raise KeyError("unexpected")

    monkeypatch.setattr(store_module.UserStore, "load", boom)
    result = cli("user", "list")
    assert_one_line_error(result, 1, "internal error", "--debug")
    result = cli("--debug", "user", "list")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "KeyError: 'unexpected'" in result.stderr


def test_version_and_help(cli):
    from oauthcli import __version__

    assert cli("--version").stdout.strip() == f"oauthcli {__version__}"
    helped = cli("user", "--help")
    assert helped.exit_code == 0 and "passwd" in helped.stdout


def test_subprocess_end_to_end(run_oauthcli, isolated_env):
    result = run_oauthcli(
        "user", "add", "eve", "--password-stdin", "--scope", "me", input="hunter22\n"
    )
    assert result.exit_code == 0, result.stderr
    listed = run_oauthcli("user", "list", "--json")
    assert json.loads(listed.stdout)[0]["username"] == "eve"
    assert "hunter22" not in result.output + listed.output


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_store_that_cannot_be_written_is_exit_7(cli, store_path, monkeypatch, code):
    # A read-only mount or a full disk; forced here because CI cannot mount one.
    before = store_path.read_bytes()

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", refuse)
    result = cli("user", "disable", "alice")
    assert_one_line_error(result, 7, "cannot write user store users.toml", os.strerror(code))
    assert store_path.read_bytes() == before


def test_scope_option_takes_space_separated_scopes_like_login(cli, isolated_env):
    # `--scope "me items"` means two scopes everywhere, as it does for login (issue 9 item 15).
    assert add(cli, "bob", "pw-" + "x" * 8, "--scope", "me items").exit_code == 0
    shown = cli("user", "show", "bob", "--json", "--store", "users.toml")
    assert json.loads(shown.stdout)["scopes"] == ["me", "items"]


# ---------------------------------------------------------------- what people type and see


@pytest.mark.parametrize(
    "value", ["Eve\x1b]8;;http://evil\x07x", "Eve\u202egnp.exe", "Eve\nMallory", "Eve\x00"]
)
def test_set_and_add_refuse_control_and_bidi_characters(cli, store_path, value):
    for option in ("--full-name", "--email"):
        result = cli("user", "set", "alice", option, value)
        assert_one_line_error(result, 2, "invalid")
        assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
        added = add(cli, "eve", "pw-" + "x" * 8, option, value, store=str(store_path))
        assert_one_line_error(added, 2, "invalid")
    assert UserStore(store_path).load().users["alice"].full_name == "Alice"


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.example", "a b@c.example", "a@b@c"])
def test_emails_are_validated(cli, store_path, email):
    assert_one_line_error(cli("user", "set", "alice", "--email", email), 2, "e-mail")


@pytest.mark.parametrize("email", ["bob@example.com", "émilie@exemple.fr", "x+tag@sub.例え.jp"])
def test_ordinary_emails_are_accepted(cli, store_path, email):
    assert cli("user", "set", "alice", "--email", email).exit_code == 0
    assert UserStore(store_path).load().users["alice"].email == email


def test_show_and_list_clean_hand_edited_values_but_json_stays_exact(cli, store_path):
    text = store_path.read_text().replace(
        'full_name = "Alice"', 'full_name = "Al\\u001b[31mice\\u202e\\u0007"'
    )
    store_path.write_text(text)
    for args in (("user", "show", "alice"), ("user", "list")):
        shown = cli(*args)
        assert shown.exit_code == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
        assert "\x07" not in shown.stdout and "Alice" in shown.stdout
    exact = json.loads(cli("user", "show", "alice", "--json").stdout)
    assert exact["full_name"] == "Al\x1b[31mice\u202e\x07"


def test_remove_of_an_absent_scope_and_disabling_twice_say_so(cli, store_path):
    result = cli("user", "set", "alice", "--remove-scope", "admin", "--remove-scope", "me")
    assert result.exit_code == 0
    assert "had no scope 'admin'" in result.stderr and "'me'" not in result.stderr.split("admin")[1]
    assert UserStore(store_path).load().users["alice"].scopes == ["items"]
    assert "already disabled" in cli("user", "disable", "carol").stderr
    assert "already enabled" in cli("user", "enable", "alice").stderr
    assert "disabled user 'alice'" in cli("user", "disable", "alice").stderr


def test_add_accepts_unicode_names_as_the_store_does(cli, isolated_env):
    assert add(cli, "émilie").exit_code == 0
    assert "émilie" in UserStore("users.toml").load().users
    assert cli("user", "show", "émilie", "--store", "users.toml").exit_code == 0


def test_list_on_a_narrow_terminal_cuts_long_cells(isolated_env):
    from oauthcli.store import User
    from tests.cli.test_prompt import run_on_terminal

    path = isolated_env / "users.toml"
    UserStore(path).add_user(
        User("alice", "$2b$04$x", full_name="A" * 100, email="a@" + "x" * 100 + ".example")
    )
    code, screen = run_on_terminal(
        ["user", "list", "--store", str(path)], [], env={"COLUMNS": "60"}
    )
    assert code == 0, screen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert all(len(line) <= 60 for line in lines), lines
    assert "…" in screen and "alice" in screen
