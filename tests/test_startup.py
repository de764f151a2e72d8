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
        "users",
        "clients",
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
        (["user", "--help"], ["oauthcli.cli.users"]),
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
    assert loaded == COMMAND_MODULES
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
    assert {g.name for g in app.registered_groups} == {"user", "client", "keys"}
