"""The README is the user's manual: keep it honest against the code."""

import re
from pathlib import Path

import pytest

from oauthcli import settings
from oauthcli.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quickstart_lines() -> list[str]:
    section = README.split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block under ## Quickstart"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_second():
    lines = quickstart_lines()
    assert len(lines) == 2
    assert "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n 2p" in ci and "## Quickstart" in ci


def test_exit_code_table_matches_the_code():
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", README, re.M))
    assert sorted(int(code) for code in table) == sorted(int(code) for code in ExitCode)


def test_every_environment_variable_is_documented():
    names = {value for key, value in vars(settings).items() if key.startswith("ENV_")}
    for name in names:
        assert f"`{name}`" in README, name


def documented_commands() -> set[tuple[str, ...]]:
    found = set()
    for match in re.finditer(r"`oauthcli ((?:[a-z]+ ?)+)", README):
        words = tuple(match.group(1).split())
        if words:
            found.add(words)
    return found


@pytest.mark.parametrize("words", sorted(documented_commands()))
def test_documented_commands_exist(cli, words):
    # Walk down the words as far as they name (sub)commands; the first one must be a command.
    import typer.main

    from oauthcli.cli.app import app

    command = typer.main.get_command(app)
    path = []
    for word in words:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    assert path, f"README mentions 'oauthcli {' '.join(words)}' but there is no such command"
    assert cli(*path, "--help").exit_code == 0


def test_quickstart_main_command_runs_as_written(tmp_path):
    """Run the first quickstart line, minus the venv set-up, with this interpreter's oauthcli."""
    import os
    import shutil
    import subprocess
    import sys

    line = quickstart_lines()[0]
    setup = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
    assert line.startswith(setup)
    command = line.removeprefix(setup).replace(
        ".venv/bin/oauthcli", f"'{sys.executable}' -m oauthcli"
    )
    shutil.copy(ROOT / "users.example.toml", tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    env["OAUTHCLI_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sub" in proc.stdout and "alice" in proc.stdout
    assert "me items" in proc.stdout
    assert "NOT verified" in proc.stdout
