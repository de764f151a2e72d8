"""The CLI is started thousands of times in CI loops: cheap commands must stay cheap."""

import json
import subprocess
import sys

import pytest

HEAVY = ["httpx", "fastapi", "uvicorn", "pydantic", "cryptography", "jwt", "starlette"]

PROBE = """
import json, sys
from oauthcli.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nLOADED=" + json.dumps(sorted(m for m in {heavy} if m in sys.modules)) + "\\n")
"""

# The command modules: `oauthcli X --help` imports only X's.
COMMAND_MODULES = sorted(
    "oauthcli.cli." + m
    for m in [
        "tokens_cmd",
        "issue_cmd",
        "inspect_cmd",
        "http_cmd",
        "serve_cmd",
        "user_cmd",
        "client_cmd",
        "keys_cmd",
    ]
)


def loaded_modules(args, modules):
    """Run ``oauthcli ARGS`` (stdout a pipe, as in CI) and say which of ``modules`` it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=modules), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(proc.stderr.rsplit("LOADED=", 1)[1])


# {"alg":"HS256","typ":"JWT"}.{"sub":"alice","exp":1} with a dummy signature: decode never checks it.
UNVERIFIED = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2ln"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["user", "list"],
        ["user", "--help"],
        ["decode", UNVERIFIED],
        ["decode", "--json", UNVERIFIED],
    ],
)
def test_cheap_commands_do_not_import_heavy_modules(args, store_path):
    _, loaded = loaded_modules(args, HEAVY)
    assert loaded == []


@pytest.mark.parametrize(
    "args",
    [["--help"], ["user", "--help"], ["verify", "--help"], ["keys", "jwks", "--help"]],
)
def test_help_into_a_pipe_is_plain_text_without_rich(args):
    out, loaded = loaded_modules(args, ["rich", "typer.rich_utils"])
    assert loaded == []
    assert out.startswith("Usage: oauthcli") and "Example:" in out
    assert "\x1b[" not in out and "╭" not in out


@pytest.mark.parametrize(
    ("args", "own"),
    [
        (["user", "--help"], ["oauthcli.cli.user_cmd"]),
        (["verify", "--help"], ["oauthcli.cli.inspect_cmd"]),
        (["keys", "generate", "--help"], ["oauthcli.cli.keys_cmd"]),
        # issue shares its issuer loading with login
        (["issue", "--help"], ["oauthcli.cli.issue_cmd", "oauthcli.cli.tokens_cmd"]),
    ],
)
def test_a_named_command_imports_only_its_own_module(args, own):
    _, loaded = loaded_modules(args, COMMAND_MODULES)
    assert loaded == sorted(own)


def test_root_help_lists_every_command_with_its_example():
    out, loaded = loaded_modules(["--help"], COMMAND_MODULES)
    assert loaded == []  # the listing tree: names and summaries only
    from oauthcli.cli.app import COMMANDS

    listed = [
        line.split()[0]
        for line in out.split("Commands:")[1].splitlines()
        if line[:3] == "  " + line[2:3] and line.strip()
    ]
    assert [w for w in listed if w in COMMANDS] == list(COMMANDS)


@pytest.mark.parametrize(
    ("args", "tree"),
    [
        (["user", "list"], ["user"]),
        (["--store", "x.toml", "--debug", "user", "list"], ["user"]),
        (["--profile=ci", "login", "--help"], ["login"]),
        (["keys", "jwks"], ["keys"]),
        (["--help", "user"], None),  # root help lists every command
        (["--version"], None),
        (["usr"], None),  # a typo gets the full tree, for "did you mean"
        (["--", "user"], None),
        ([], None),
    ],
)
def test_only_the_named_command_is_built(args, tree):
    from oauthcli.cli.app import app, app_for

    chosen = app_for(args)
    if tree is None:
        assert chosen is app
    else:
        names = [i.name for i in (*chosen.registered_commands, *chosen.registered_groups)]
        assert names == tree


def test_a_partial_tree_behaves_like_the_full_one(cli, store_path):
    from oauthcli.cli.app import app

    assert "login" in cli("--help").stdout and "keys" in cli("--help", "user").stdout
    typo = cli("usr")
    assert typo.exit_code == 2 and "user" in typo.stderr
    # The global options still apply before the command name.
    listed = cli("--store", str(store_path), "user", "list", "--json")
    assert listed.exit_code == 0 and "alice" in listed.stdout
    missing = cli("--store", str(store_path.with_name("none.toml")), "user", "list")
    assert missing.exit_code == 7
    # The shared app is never trimmed.
    assert {"login", "issue", "verify"} <= {c.name for c in app.registered_commands}
    assert {g.name for g in app.registered_groups} == {"user", "client", "keys", "profile"}


PARSERS = ["typer", "click", "rich"]


@pytest.mark.parametrize(
    "args",
    [
        ["decode", UNVERIFIED],
        ["decode", "--json", UNVERIFIED],
        ["--debug", "decode", UNVERIFIED],
    ],
)
def test_decode_in_a_ci_loop_loads_no_parser_and_no_crypto(args):
    out, loaded = loaded_modules(args, HEAVY + PARSERS)
    assert loaded == [] and "alice" in out


def test_an_hs256_verify_loads_no_parser_and_no_crypto(tmp_path):
    import jwt

    secret = tmp_path / "hs.secret"
    secret.write_bytes(b"k" * 32)
    secret.chmod(0o600)
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, b"k" * 32, algorithm="HS256")
    out, loaded = loaded_modules(["verify", token, "--secret-file", str(secret)], HEAVY + PARSERS)
    assert loaded == [] and out.startswith("valid:")


def test_help_and_unusual_arguments_still_go_through_typer():
    _, loaded = loaded_modules(["decode", "--help"], PARSERS)
    assert "typer" in loaded


def test_command_signatures_are_not_strings_typer_must_evaluate():
    """Typer evaluates string annotations at every start (about 60 ms for root help)."""
    from oauthcli.cli.app import full_app

    callbacks = []
    stack = [full_app()]
    while stack:
        app = stack.pop()
        callbacks += [info.callback for info in app.registered_commands]
        callbacks += [app.registered_callback.callback] if app.registered_callback else []
        stack += [group.typer_instance for group in app.registered_groups]
    assert len(callbacks) >= 30  # every command and group
    for callback in callbacks:
        for name, annotation in callback.__annotations__.items():
            assert not isinstance(annotation, str), (callback.__qualname__, name)


@pytest.mark.parametrize("columns", ["80", "50", "132"])
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--store", "x.toml", "--debug", "--help"]])
def test_root_help_from_the_listing_equals_the_full_trees(args, columns, monkeypatch, capsys):
    from oauthcli.cli import app, main

    monkeypatch.setenv("COLUMNS", columns)
    assert app.is_root_help(args)
    assert main(args) == 0
    listed = capsys.readouterr().out
    with monkeypatch.context() as patch:
        patch.setattr(app, "listing_app", app.full_app)
        assert main(args) == 0
    assert listed == capsys.readouterr().out
    assert "Commands:" in listed


def test_every_command_has_a_summary_and_groups_are_groups():
    from oauthcli.cli.app import COMMANDS, GROUPS, SUMMARIES, full_app

    assert list(SUMMARIES) == list(COMMANDS)
    full = full_app()
    assert {g.name for g in full.registered_groups} == GROUPS
    assert all(len(line) <= 62 for line in SUMMARIES.values())  # one line at 80 columns


@pytest.mark.parametrize(
    "args", [["--help", "user"], ["user", "--help"], ["--version"], [], ["--store", "--help"]]
)
def test_anything_but_root_help_is_not_the_listing(args):
    from oauthcli.cli.app import is_root_help

    assert not is_root_help(args)


def test_local_login_and_logout_import_no_redis(store_path):
    """The embedded state is the default: Redis (its package and backend) only for redis://."""
    modules = ["redis", "oauthcli.state.redis", "oauthcli.state.memory"]
    for args, stdin in (
        (["login", "alice", "--password-stdin", "--print"], "secret\n"),
        (["logout"], None),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=modules), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stderr.rsplit("LOADED=", 1)[1]) == [], args
