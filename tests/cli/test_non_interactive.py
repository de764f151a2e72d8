"""Never hang in CI: what needs a person (a browser, a device code, a password prompt) fails
at once with exit 3 and one line naming the command to run at a terminal, when there is no
terminal, with --non-interactive, or with CI=true; at a terminal it goes on as before.

"At once" is shown without a clock: the stand-in browser is never launched, no request
reaches the provider (a counting server stands in for it), no prompt is read (counted).
"""

from __future__ import annotations

import getpass
import json
import shlex
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer

from oauthcli import settings
from oauthcli.cli.app import full_app
from oauthcli.client.cache import CacheEntry, TokenCache
from oauthcli.keys import write_new_key
from tests.apps_serve.browser import PUBLIC, provider_server
from tests.cli.test_prompt import run_on_terminal
from tests.conftest import write_store

# Every command of the tree is in exactly one of these: a new command fails the
# completeness test until someone says whether it can need a person.
NEVER_A_PERSON = {
    ("refresh",), ("logout",), ("status",), ("whoami",), ("issue",), ("decode",),
    ("verify",), ("kubeconfig",), ("revoke",), ("introspect",), ("serve",),
    ("audit",), ("user", "list"), ("user", "show"), ("user", "set"), ("user", "disable"),
    ("user", "enable"), ("user", "remove"), ("client", "add"), ("client", "list"),
    ("client", "remove"), ("client", "disable"), ("client", "enable"), ("keys", "generate"),
    ("keys", "jwks"), ("profile", "list"), ("profile", "rm"), ("control",), ("exchange",),
}  # fmt: skip

# Command path -> the invocations of it that need a person ({issuer}: the counting server).
NEEDS_A_PERSON: dict[tuple[str, ...], list[list[str]]] = {
    ("init",): [["init", "--user", "alice", "--store", "fresh.toml"]],
    ("login",): [
        ["login", "alice"],  # the local store's password prompt
        ["login", "alice", "--url", "{issuer}/token"],  # a token endpoint's password grant
        ["login", "alice", "--app", "{issuer}"],  # the app's OpenAPI document is not even read
        ["login", "--issuer-url", "{issuer}", "--client-id", "cli"],  # browser
        ["login", "--issuer-url", "{issuer}", "--client-id", "cli", "--grant", "device-code"],
        ["login", "alice", "--issuer-url", "{issuer}", "--client-id", "cli"],  # password grant
    ],
    ("user", "add"): [["user", "add", "bob"]],
    ("user", "passwd"): [["user", "passwd", "alice"]],
    # a profile from a browser login whose tokens are dead logs in again the same way
    ("token",): [["token"], ["token", "--format", "exec-credential"], ["token", "--id-token"]],
    ("call",): [["call", "{issuer}/me"]],
    ("header",): [["header"]],
    ("userinfo",): [["userinfo"]],
}
# What the line says to run at a terminal, when not the command itself.
RUN_INSTEAD = {
    path: "oauthcli --profile default login --issuer-url {issuer} --client-id cli --scope openid"
    for path in [("token",), ("call",), ("header",), ("userinfo",)]
}


def dead_profile(issuer: str) -> CacheEntry:
    """The default profile of a browser login whose token expired, with no refresh token."""
    entry = CacheEntry(
        access_token="expired-access-token",
        expires_at=int(time.time()) - 3600,
        scope="openid",
        source="remote",
        token_url=f"{issuer}/token",
        client_id="cli",
        client_auth="none",
        grant="authorization_code",
        issuer=issuer,
        endpoints={"token": f"{issuer}/token", "userinfo": f"{issuer}/me"},
    )
    TokenCache(settings.cache_dir()).save("default", entry)
    return entry


def command_paths() -> set[tuple[str, ...]]:
    root = typer.main.get_command(full_app())
    paths: set[tuple[str, ...]] = set()
    stack = [((), root)]
    while stack:
        path, command = stack.pop()
        children = getattr(command, "commands", None)
        if children:
            stack.extend(((*path, name), sub) for name, sub in children.items())
        elif path:
            paths.add(path)
    return paths


def test_every_command_is_known_to_need_a_person_or_not():
    paths = command_paths()
    assert set(NEEDS_A_PERSON) | NEVER_A_PERSON == paths
    assert not set(NEEDS_A_PERSON) & NEVER_A_PERSON


class Provider:
    """Counts every request; answers 404 (nothing should reach it)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(f"GET {self.path}")
                self.send_error(404)

            def do_POST(self) -> None:
                provider.requests.append(f"POST {self.path}")
                self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def provider() -> Iterator[Provider]:
    found = Provider()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def recording_browser(directory: Path) -> tuple[str, Path]:
    """A ``$BROWSER`` that only records that it was launched, with what URL."""
    record = directory / "launches.txt"
    script = directory / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {shlex.quote(str(record))}\n')
    script.chmod(stat.S_IRWXU)
    return f"{script} %s", record


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    command, record = recording_browser(tmp_path)
    monkeypatch.setenv("BROWSER", command)
    import webbrowser

    # webbrowser reads $BROWSER once per process: make it read this one
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return record


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hidden prompt shown (the person's answer would be 'typed-secret')."""
    shown: list[str] = []

    def counting(prompt: str = "Password: ", stream: object = None) -> str:
        shown.append(prompt)
        return "typed-secret"

    monkeypatch.setattr(getpass, "getpass", counting)
    return shown


def _cases() -> list[tuple[str, list[str]]]:
    return [(" ".join(path), args) for path, runs in NEEDS_A_PERSON.items() for args in runs]


@pytest.mark.parametrize(("command", "args"), _cases(), ids=[" ".join(a) for _, a in _cases()])
def test_with_ci_and_no_terminal_what_needs_a_person_exits_3_at_once(
    cli, store_path, provider, browser, prompts, monkeypatch, command, args
):
    monkeypatch.setenv("CI", "true")
    argv = [a.replace("{issuer}", provider.url) for a in args]
    path = tuple(command.split())
    entry = dead_profile(provider.url) if path in RUN_INSTEAD else None
    before = store_path.read_bytes()
    result = cli(*argv, input="")
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stdout == "", result.output
    assert "needs a person" in lines[0] and "(CI=true)" in lines[0]
    instead = RUN_INSTEAD.get(path, f"oauthcli {command}").replace("{issuer}", provider.url)
    assert f"at a terminal, run: {instead}" in lines[0]
    # nothing was started that a person would have had to finish
    assert not browser.exists()
    assert provider.requests == []
    assert prompts == []
    assert store_path.read_bytes() == before and not Path("fresh.toml").exists()
    cache = TokenCache(settings.cache_dir())
    assert cache.profiles() == (["default"] if entry else [])
    assert entry is None or cache.load("default") == entry


@pytest.mark.parametrize(
    ("env", "root", "why"),
    [
        ({}, [], "standard input is not a terminal"),
        ({}, ["--non-interactive"], "--non-interactive"),
        ({"OAUTHCLI_INTERACTIVE": "0"}, [], "OAUTHCLI_INTERACTIVE=0"),
        ({"GITHUB_ACTIONS": "true"}, [], "GITHUB_ACTIONS=true"),
    ],
)
def test_each_way_of_saying_no_person_is_named(cli, provider, browser, env, root, why):
    args = ["login", "--issuer-url", provider.url, "--client-id", "cli", "--grant", "device-code"]
    result = cli(*root, *args, env=env)
    assert result.exit_code == 3, result.output
    assert f"({why})" in result.stderr
    # the command to run leaves out --non-interactive, keeps the rest
    assert f"at a terminal, run: oauthcli {shlex.join(args)}" in result.stderr
    assert provider.requests == [] and not browser.exists()


def test_interactive_overrides_ci_for_a_browser_login(cli, provider, browser, monkeypatch):
    """--interactive: a person is here (an IDE's task runner has no terminal): it goes on."""
    monkeypatch.setenv("CI", "true")
    result = cli(
        "--interactive", "login", "--issuer-url", provider.url, "--client-id", "cli",
        "--timeout", "5",
    )  # fmt: skip
    assert result.exit_code == 6, result.output  # the stand-in provider has no discovery
    assert provider.requests  # it was asked


def test_the_installed_cli_in_a_ci_job_fails_at_once(run_oauthcli, provider, tmp_path):
    command, record = recording_browser(tmp_path)
    result = run_oauthcli(
        "login", "--issuer-url", provider.url, "--client-id", "cli",
        env={"CI": "true", "BROWSER": command},
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and "needs a person" in result.stderr
    assert provider.requests == [] and not record.exists()


def test_a_terminal_still_gets_the_password_prompt(store_path):
    code, screen = run_on_terminal(
        ["--store", str(store_path), "login", "alice", "--json"], ["secret"]
    )
    assert code == 0, screen
    assert "Password:" in screen and "needs a person" not in screen


def test_a_terminal_still_gets_the_browser(isolated_env, tmp_path):
    """At a terminal a browser login goes ahead as before: the browser is launched."""
    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    command, record = recording_browser(tmp_path)
    with provider_server(store) as serve:
        code, screen = run_on_terminal(
            ["login", "--issuer-url", serve.url, "--client-id", PUBLIC, "--timeout", "3"],
            [],
            env={"BROWSER": command},
        )
    assert "needs a person" not in screen
    # nobody finishes the login in the browser that was opened: it times out (exit 3)
    assert record.exists() and "/authorize?" in record.read_text(), screen
    assert code == 3, screen


def test_the_json_error_of_a_ci_run(cli, provider, monkeypatch):
    monkeypatch.setenv("CI", "1")
    result = cli("login", "--issuer-url", provider.url, "--client-id", "cli", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"] == "interaction_required"


def test_a_bad_oauthcli_interactive_is_a_configuration_error(cli, provider):
    result = cli(
        "login", "--issuer-url", provider.url, "--client-id", "cli",
        env={"OAUTHCLI_INTERACTIVE": "maybe"},
    )  # fmt: skip
    assert result.exit_code == 7 and "OAUTHCLI_INTERACTIVE" in result.stderr
    assert provider.requests == []
