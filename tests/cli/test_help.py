"""Help for people: an example per command, one naming style in usage lines, shell completion."""

import os
import re
import shlex
import subprocess
import sys

import pytest

from oauthcli.cli.ci_output import FORMATS
from oauthcli.client.assertion import METHODS
from oauthcli.client.oidc_login import GRANTS
from oauthcli.store import Client, UserStore


def all_commands() -> list[tuple[str, ...]]:
    import typer.main

    from oauthcli.cli.app import full_app

    found: list[tuple[str, ...]] = []
    stack = [((), typer.main.get_command(full_app()))]
    while stack:
        path, command = stack.pop()
        found.append(path)
        stack.extend(((*path, n), c) for n, c in getattr(command, "commands", {}).items())
    return sorted(found)


def command_options(path: tuple[str, ...]) -> set[str]:
    import typer.main

    from oauthcli.cli.app import full_app

    command = typer.main.get_command(full_app())
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    for word in path:
        command = command.commands[word]
        options |= {o for p in command.params for o in getattr(p, "opts", [])}
    return options


def test_every_command_has_an_example_that_uses_real_options():
    from oauthcli.cli.app import EXAMPLES

    assert set(EXAMPLES) == set(all_commands())
    for path, examples in EXAMPLES.items():
        for segment in re.split(r"\|\||&&|\||\$\(|\)|\n", examples):
            match = re.search(r"oauthcli ((?:[a-z]+ )*[a-z]+)(.*)", segment)
            if not match:
                continue
            words = tuple(match.group(1).split())
            known = [p for p in all_commands() if p == words[: len(p)]]
            owner = max(known, key=len)
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", match.group(2)):
                assert option in command_options(owner), (path, segment, option)


@pytest.mark.parametrize("path", all_commands())
def test_help_shows_the_example(cli, path):
    from oauthcli.cli.app import EXAMPLES

    result = cli(*path, "--help")
    assert result.exit_code == 0
    examples = EXAMPLES[path].splitlines()
    assert ("Example:" if len(examples) == 1 else "Examples:") in result.stdout
    assert all(e.split()[0] in result.stdout for e in examples)


@pytest.mark.parametrize("path", [p for p in all_commands() if p])
def test_usage_lines_name_arguments_in_capitals(cli, path):
    usage = cli(*path, "--help").stdout.splitlines()[0]
    assert usage.startswith(f"Usage: oauthcli {' '.join(path)} [OPTIONS]")
    arguments = usage.split("[OPTIONS]", 1)[1]
    assert arguments == arguments.upper(), usage
    assert "{" not in arguments, usage  # USERNAME, not Typer's {USERNAME}


def test_login_help_shows_an_example_for_each_way_in(cli):
    text = " ".join(cli("login", "--help").stdout.split())
    assert "Examples:" in text
    for fragment in (
        "oauthcli login alice --password-stdin",
        "oauthcli login --issuer-url http://127.0.0.1:8000 --client-id cli",
        "--grant device-code",
        "oauthcli login alice --app http://127.0.0.1:8000",
        "--grant client-credentials --client-id ci-bot --client-secret-file ci-bot.secret",
    ):
        assert fragment in text, fragment


def test_help_text_shows_brackets_not_rich_escapes(cli):
    result = cli("verify", "--help")
    assert "[issuer]" in result.stdout and "\\[" not in result.stdout


def run(args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "oauthcli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_show_completion_prints_a_script_for_the_shell():
    # Typer finds the shell among the command's parent processes, as it would for a person
    # typing at a bash prompt: run it from bash (the trailing "; true" keeps bash from
    # replacing itself with the command).
    proc = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m oauthcli --show-completion; true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "not supported" not in proc.stderr, proc.stderr
    assert "_OAUTHCLI_COMPLETE" in proc.stdout and "complete " in proc.stdout
    assert "--install-completion" in run(["--help"]).stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("oauthcli us", 1, {"user", "userinfo"}),
        ("oauthcli ver", 1, {"verify"}),
        ("oauthcli user a", 2, {"add"}),
        ("oauthcli client di", 2, {"disable"}),
        ("oauthcli verify --jw", 2, {"--jwks"}),
    ],
)
def test_the_shell_gets_completions(words, cword, expected):
    env = {"_OAUTHCLI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = run([], env)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == expected


def test_completion_options_are_only_on_the_root(cli):
    assert "--install-completion" not in cli("user", "list", "--help").stdout


def complete(words: str) -> set[str]:
    cword = len(words.split()) if words.endswith(" ") else len(words.split()) - 1
    env = {"_OAUTHCLI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = run([], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing printed over the person's prompt
    return set(proc.stdout.split())


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("oauthcli login --grant ", set(GRANTS)),
        ("oauthcli login --grant d", {"device-code"}),
        ("oauthcli login --client-auth p", {"post", "private-key-jwt"}),
        ("oauthcli introspect x --client-auth ", set(METHODS)),
        ("oauthcli keys generate --alg E", {"ES256", "ES384", "ES512", "EdDSA"}),
        ("oauthcli verify --alg PS", {"PS256", "PS384", "PS512"}),
        ("oauthcli init --alg HS", {"HS256", "HS384", "HS512"}),
        ("oauthcli issue --format ", set(FORMATS)),
        ("oauthcli token --format ", {"text", "env", "exec-credential"}),
        ("oauthcli login --format e", {"env"}),
    ],
)
def test_option_values_complete_from_what_is_valid(words, expected):
    assert complete(words) == expected


def test_names_complete_from_the_store_and_the_cache(store_path, isolated_env):
    with UserStore(store_path).edit() as data:
        data.clients["ci-bot"] = Client("ci-bot", public=True)
    store_path.chmod(0o644)  # its warning is for commands, not for completion
    cache = isolated_env.parent / "cache"
    cache.mkdir()
    for name in ("ci.json", "default.json", "default.json.lock", "notes.txt"):
        (cache / name).write_text("{}")
    assert complete("oauthcli user show ") == {"alice", "johndoe", "carol"}
    assert complete("oauthcli login j") == {"johndoe"}
    assert complete("oauthcli client remove ") == {"ci-bot"}
    assert complete("oauthcli --profile ") == {"ci", "default"}
    assert complete("oauthcli token --profile c") == {"ci"}
    # Another store, named before the command; a missing one completes nothing.
    assert complete("oauthcli --store nothere.toml user show ") == set()
