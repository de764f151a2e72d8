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
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stderr.rsplit("LOADED=", 1)[1])
    assert loaded == []


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
