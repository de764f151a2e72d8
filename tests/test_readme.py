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
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", README, re.M))
    assert sorted(int(code) for code in table) == sorted(int(code) for code in ExitCode)


def test_every_environment_variable_is_documented():
    names = {value for key, value in vars(settings).items() if key.startswith("ENV_")}
    for name in names:
        assert f"`{name}`" in README, name


def documented_commands(text: str = README) -> set[tuple[str, ...]]:
    found = set()
    for match in re.finditer(r"`oauthcli ((?:[a-z]+ ?)+)", text):
        words = tuple(match.group(1).split())
        if words:
            found.add(words)
    return found


def command_path(words: tuple[str, ...]) -> list[str]:
    """The (sub)command ``words`` name, or AssertionError when a word names none.

    Words after a command are its arguments (``login alice``); a word after a group
    (``user frobnicate``) must name one of the group's commands.
    """
    import typer.main

    from oauthcli.cli.app import app

    command = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        commands = getattr(command, "commands", None)
        if commands is None:
            break  # a command: the rest are its arguments
        if word not in commands:
            where = " ".join(["oauthcli", *path])
            raise AssertionError(
                f"README mentions 'oauthcli {' '.join(words)}' but '{where}' has no command {word!r}"
            )
        command, path = commands[word], [*path, word]
    return path


@pytest.mark.parametrize("words", sorted(documented_commands()))
def test_documented_commands_exist(cli, words):
    path = command_path(words)
    assert cli(*path, "--help").exit_code == 0


def test_the_command_check_fails_for_a_command_that_does_not_exist():
    fake = "Run `oauthcli user frobnicate` and `oauthcli frobnicate` and `oauthcli login alice`.\n"
    documented = documented_commands(fake)
    assert documented == {("user", "frobnicate"), ("frobnicate",), ("login", "alice")}
    with pytest.raises(AssertionError, match="'oauthcli user' has no command 'frobnicate'"):
        command_path(("user", "frobnicate"))
    with pytest.raises(AssertionError, match="'oauthcli' has no command 'frobnicate'"):
        command_path(("frobnicate",))
    assert command_path(("login", "alice")) == ["login"]
    assert command_path(("user", "list")) == ["user", "list"]


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


def _command_options(path: tuple[str, ...]) -> set[str] | None:
    import typer.main

    from oauthcli.cli.app import app

    command = typer.main.get_command(app)
    for word in path:
        command = getattr(command, "commands", {}).get(word)
        if command is None:
            return None
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def documented_usages() -> list[tuple[tuple[str, ...], str]]:
    """(command path, option) for every ``--option`` written after ``oauthcli CMD`` in a code span or line."""
    usages = []
    snippets = re.findall(r"`(oauthcli [^`]+)`", README) + re.findall(
        r"^(?:\S+ \| )?(oauthcli .+)$", README, re.M
    )
    for snippet in snippets:
        for segment in re.split(r"\||&&|\$\(|\)", snippet):
            match = re.search(r"oauthcli ((?:[a-z]+ )*[a-z]+)(.*)", segment)
            if not match:
                continue
            words = tuple(match.group(1).split())
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", match.group(2)):
                usages.append((words, option))
    return sorted(set(usages))


@pytest.mark.parametrize(("words", "option"), documented_usages())
def test_documented_options_exist(words, option):
    # The longest prefix of the words that names a command owns the option.
    for end in range(len(words), 0, -1):
        options = _command_options(words[:end])
        if options is not None:
            break
    else:
        pytest.fail(f"no command for {words}")
    global_options = _command_options(())
    assert option in options | global_options, (
        f"README: 'oauthcli {' '.join(words[:end])} {option}'"
    )


def test_the_tour_runs_as_written(tmp_path):
    """The README's tour, run by bash with a free port in place of 8000."""
    import contextlib
    import os
    import shlex
    import signal
    import socket
    import subprocess
    import sys

    section = README.split("## A tour", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = script.replace("8000", str(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    env["OAUTHCLI_CACHE_DIR"] = str(tmp_path / "cache")
    env["OAUTHCLI_BCRYPT_ROUNDS"] = "4"
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    # A loaded machine may need more than the tour's two seconds to start serve: wait for it
    # to answer instead (what a person does by eye), so the tour is tested, not the load.
    assert "& sleep 2" in script
    ready = (
        f"{shlex.quote(sys.executable)} -c 'import sys, time, urllib.request as u\n"
        f"for _ in range(600):\n"
        f'    try: u.urlopen("http://127.0.0.1:{port}/.well-known/jwks.json"); sys.exit(0)\n'
        f"    except OSError: time.sleep(0.1)\nsys.exit(1)'"
    )
    script = script.replace("& sleep 2", f"& {ready}")
    proc = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a failed step leaves serve running: its group is ended below
    )
    try:
        out, err = proc.communicate(timeout=100)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out + err
    assert '"username": "alice"' in out or '"username":"alice"' in out
    assert "NOT verified" in out
