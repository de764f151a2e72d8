"""``--format env`` and GitHub Actions masking: every printed token is masked before it is printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET, assert_one_line_error
from tests.live_server import live_server

TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MASK = re.compile(r"^::add-mask::(.*)$")


def run_step(script: str, cwd: Path, **env: str) -> str:
    """A ``run:`` step as the runner sees it: bash, stdout and stderr into one log."""
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    full_env.update(env)
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env['PATH']}"
    proc = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def unescape_data(data: str) -> str:
    """A command's data as the runner decodes it (actions/runner ``ActionCommand.UnescapeData``)."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unmasked_secrets(log: str, secrets: list[str] | None = None) -> list[str]:
    """Read the log as the runner does: ``::add-mask::`` lines register values for later lines.

    Returns every token (or given secret) that appears in a line before a mask for it:
    a line is hidden where a registered value occurs in it.
    """
    masks: set[str] = set()
    leaked = []
    for line in log.splitlines():
        match = MASK.match(line)
        if match:
            masks.add(unescape_data(match.group(1)))
            continue
        for value in [*TOKEN.findall(line), *(s for s in secrets or [] if s in line)]:
            if not any(mask and mask in value for mask in masks):
                leaked.append(value)
    return leaked


def github_env(**extra: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", **extra}


def test_issue_masks_before_printing(store_path, isolated_env):
    log = run_step("oauthcli issue --sub alice --scope me", isolated_env, **github_env())
    [token] = set(TOKEN.findall(log))
    assert log.index(f"::add-mask::{token}\n") < log.index(f"\n{token}\n")
    assert unmasked_secrets(log) == []


@pytest.mark.parametrize("mode", [["--print"], ["--json"], ["--format", "env"]])
def test_login_masks_access_and_refresh_tokens(store_path, isolated_env, mode):
    script = f"echo secret | oauthcli login alice --password-stdin {' '.join(mode)}"
    log = run_step(script, isolated_env, **github_env())
    tokens = set(TOKEN.findall(log))
    assert len(tokens) == (1 if mode == ["--print"] else 2)  # the refresh token is printed too
    assert unmasked_secrets(log) == []


def test_in_a_capture_the_mask_reaches_the_log_and_the_variable_stays_clean(
    store_path, isolated_env
):
    # The runner never sees what $(...) captures: a mask on stdout would end up in $TOKEN.
    script = (
        "TOKEN=$(echo secret | oauthcli login alice --password-stdin --print)\n"
        'printf "%s" "$TOKEN" > token.txt\n'
        'echo "using $TOKEN"\n'
    )
    log = run_step(script, isolated_env, **github_env())
    token = (isolated_env / "token.txt").read_text()
    assert TOKEN.fullmatch(token)
    assert log.splitlines()[0] == f"::add-mask::{token}"
    assert f"using {token}" in log  # a later line: the runner would print *** instead
    assert unmasked_secrets(log) == []


def test_env_lines_feed_github_env_and_dotenv(store_path, isolated_env):
    script = (
        'echo secret | oauthcli login alice --password-stdin --format env >> "$GITHUB_ENV"\n'
        "set -a; . ./github_env; set +a\n"
        'oauthcli decode "$OAUTHCLI_ACCESS_TOKEN" --json > claims.json\n'
    )
    log = run_step(script, isolated_env, **github_env(GITHUB_ENV=str(isolated_env / "github_env")))
    lines = (isolated_env / "github_env").read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "OAUTHCLI_ACCESS_TOKEN",
        "OAUTHCLI_REFRESH_TOKEN",
    ]
    assert all(TOKEN.fullmatch(line.split("=", 1)[1]) for line in lines)
    assert json.loads((isolated_env / "claims.json").read_text())["payload"]["sub"] == "alice"
    # Both tokens were masked in the log, though neither was printed there.
    masked = {m.group(1) for m in map(MASK.match, log.splitlines()) if m}
    assert masked == {line.split("=", 1)[1] for line in lines}


def test_header_and_generated_secrets_are_masked(store_path, isolated_env):
    issued = run_step("oauthcli issue --sub alice", isolated_env).strip()
    log = run_step("oauthcli header", isolated_env, **github_env(OAUTHCLI_TOKEN=issued))
    assert f"Authorization: Bearer {issued}" in log
    assert unmasked_secrets(log) == []

    log = run_step("oauthcli keys generate --alg HS256 --out -", isolated_env, **github_env())
    secret = next(line for line in log.splitlines() if not line.startswith(("::", "wrote")))
    assert unmasked_secrets(log, [secret]) == []
    log = run_step("oauthcli keys generate --alg ES256 --out -", isolated_env, **github_env())
    body = [line for line in log.splitlines() if line and not line.startswith(("::", "wrote"))]
    assert unmasked_secrets(log, body) == []


def test_nothing_is_masked_outside_github_actions(store_path, isolated_env):
    log = run_step("oauthcli issue --sub alice --format env", isolated_env, GITHUB_ACTIONS="false")
    assert "::add-mask::" not in log
    assert re.fullmatch(r"OAUTHCLI_ACCESS_TOKEN=eyJ\S+\n", log)


def test_format_option_in_process(cli, store_path):
    result = cli("issue", "--sub", "alice", "--format", "env")
    assert result.exit_code == 0 and result.stderr == ""
    assert re.fullmatch(r"OAUTHCLI_ACCESS_TOKEN=eyJ\S+\n", result.stdout)
    assert (
        json.loads(cli("issue", "--sub", "a", "--format", "json").stdout)["payload"]["sub"] == "a"
    )
    assert_one_line_error(cli("issue", "--sub", "a", "--format", "yaml"), 2, "--format must be")
    assert_one_line_error(cli("issue", "--sub", "a", "--json", "--format", "env"), 2, "contradict")
    assert_one_line_error(cli("login", "alice", "--print", "--format", "env"), 2, "contradict")
    env = cli("login", "alice", "--password-stdin", "--format", "env", input="secret\n")
    assert env.exit_code == 0, env.stderr
    assert [line.split("=")[0] for line in env.stdout.splitlines()] == [
        "OAUTHCLI_ACCESS_TOKEN",
        "OAUTHCLI_REFRESH_TOKEN",
    ]


def test_env_lines_refuse_unsafe_values():
    from oauthcli.cli.ci_output import env_lines
    from oauthcli.errors import RemoteError

    assert env_lines({"access_token": "a.b.c", "refresh_token": None, "id_token": "i"}) == [
        "OAUTHCLI_ACCESS_TOKEN=a.b.c",
        "OAUTHCLI_ID_TOKEN=i",
    ]
    for bad in (
        "a b",
        "a\nOTHER=1",
        "a'b",
        'a"b',
        "a\\b",
        HOSTILE,
        "a$(id)",
        "a`id`",
        "~root",
        "a=b",
    ):
        with pytest.raises(RemoteError):
            env_lines({"access_token": bad})


def test_the_secret_env_does_not_leak(isolated_env):
    # issue with no store signs with OAUTHCLI_SECRET; the secret is never printed or masked.
    log = run_step(
        "oauthcli issue --sub ci", isolated_env, **github_env(OAUTHCLI_SECRET=TEST_SECRET)
    )
    assert TEST_SECRET not in log


def test_token_masks_and_prints_env_lines(store_path, isolated_env):
    run_step("echo secret | oauthcli login alice --password-stdin --print >/dev/null", isolated_env)
    log = run_step("oauthcli token", isolated_env, **github_env())
    [token] = set(TOKEN.findall(log))
    assert log.index(f"::add-mask::{token}\n") < log.index(f"\n{token}\n")
    assert unmasked_secrets(log) == []

    log = run_step("oauthcli token --format env", isolated_env, **github_env())
    assert re.search(rf"^OAUTHCLI_ACCESS_TOKEN={re.escape(token)}$", log, re.M)
    assert unmasked_secrets(log) == []
    plain = run_step("oauthcli token --format env", isolated_env, GITHUB_ACTIONS="false")
    assert plain == f"OAUTHCLI_ACCESS_TOKEN={token}\n"


def token_app(access_token: str):
    """A token endpoint that answers every password grant with ``access_token``."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def token(request):
        return JSONResponse({"access_token": access_token, "token_type": "bearer"})

    return Starlette(routes=[Route("/token", token, methods=["POST"])])


HOSTILE = "eyJ.x;touch${IFS}pwned;#"


def test_a_token_with_shell_metacharacters_is_never_an_env_line(isolated_env):
    # A token endpoint controls the value: sourcing the env file must never run it.
    with live_server(token_app(HOSTILE)) as server:
        script = (
            f"echo pw | oauthcli login alice --url {server.token_url} --password-stdin "
            '--format env > env.sh || echo "exit $?"\n'
            "set -a; . ./env.sh; set +a\n"
        )
        log = run_step(script, isolated_env)
    assert not (isolated_env / "pwned").exists()
    assert "exit 6" in log and "not safe in an env line" in log
    assert (isolated_env / "env.sh").read_text() == ""


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "a-b.c_d~e+f/g==",
        "2YotnFZFEjr1zCsicMWpAA",
    ],
)
def test_env_lines_read_back_the_same_in_bash_github_env_and_dotenv(isolated_env, value):
    from dotenv import dotenv_values

    with live_server(token_app(value)) as server:
        run_step(
            f"echo pw | oauthcli login alice --url {server.token_url} --password-stdin "
            "--format env > env.sh",
            isolated_env,
        )
    env_file = isolated_env / "env.sh"
    [line] = env_file.read_text().splitlines()
    # bash: source the file, print the variable back
    sourced = run_step('. ./env.sh; printf %s "$OAUTHCLI_ACCESS_TOKEN"', isolated_env)
    assert sourced == value
    # $GITHUB_ENV: the runner takes everything after the first "=" literally
    name, _, literal = line.partition("=")
    assert (name, literal) == ("OAUTHCLI_ACCESS_TOKEN", value)
    # dotenv loaders (python-dotenv, as uvicorn and Docker-Compose-like tools read it)
    assert dotenv_values(env_file) == {"OAUTHCLI_ACCESS_TOKEN": value}


def test_mask_data_is_escaped_as_the_runner_decodes_it(isolated_env):
    # %0A in a token would be decoded by the runner into a line break: the mask would
    # never match the printed token. Escaped as actions/toolkit's escapeData does, it does.
    token = "abc%0Adef%25ghi"
    log = run_step("oauthcli header", isolated_env, **github_env(OAUTHCLI_TOKEN=token))
    assert f"::add-mask::{token.replace('%', '%25')}" in log
    assert f"Authorization: Bearer {token}" in log
    assert unmasked_secrets(log, [token]) == []


def test_escape_data_matches_actions_toolkit():
    from oauthcli.cli.ci_output import escape_data

    # actions/toolkit packages/core/__tests__/command.test.ts: escapes %, CR and LF only
    assert escape_data("percent % percent % cr \r cr \r lf \n lf \n") == (
        "percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
    )
    assert escape_data("%25%0A:,") == "%2525%250A:,"
