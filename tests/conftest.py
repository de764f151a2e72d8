"""Shared fixtures: an isolated HOME/cache/store per test, and ways to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from typer.testing import CliRunner

from oauthcli.cli import main
from oauthcli.passwords import hash_password
from oauthcli.store import User, UserStore

# Fixtures redis_server / own_redis: a real redis-server on 127.0.0.1 (shared-state tests);
# oidc_provider / standin_browser: panva's oidc-provider on 127.0.0.1 and a stand-in browser.
pytest_plugins = ["tests.redis_server", "tests.oidc.harness"]

# A user's project with its own pytest.ini; tests/test_pytest_plugin.py runs it in a subprocess.
collect_ignore = ["plugin_project", "control_project"]

# Hypothesis: no per-example deadline. A loaded CI machine (two cores, xdist workers and
# servers) can take longer than 200 ms for one example; that is load, not a failure.
hypothesis_settings.register_profile("oauthcli", deadline=None)
hypothesis_settings.load_profile("oauthcli")

# Tests hash at the lowest bcrypt cost; one test checks the default of 12 separately.
TEST_ROUNDS = 4
TEST_SECRET = "test-secret-of-at-least-32-bytes-for-hs256!!"

DEMO_USERS = {
    # name: (password, scopes, disabled)
    "alice": ("secret", ["me", "items"], False),
    "johndoe": ("secret", ["me"], False),
    "carol": ("wonderland", ["me", "items"], True),
}


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own HOME, cache dir and working directory, and no OAUTHCLI_* leaks in."""
    for name in list(os.environ):
        if name.startswith("OAUTHCLI_"):
            monkeypatch.delenv(name)
    # A CI service's CI=true would make every test that stands in for a person a CI job.
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("OAUTHCLI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OAUTHCLI_BCRYPT_ROUNDS", str(TEST_ROUNDS))
    # Tokens in the cache file: no test writes to the OS keyring of the person running it
    # (tests/cli/test_token_store.py uses a private Secret Service of its own).
    monkeypatch.setenv("OAUTHCLI_TOKEN_STORE", "file")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(autouse=True)
def private_umask() -> Iterator[None]:
    """Files a test writes by hand are private, as a careful user's are: oauthcli refuses
    secret and key files that others can read, and warns about such a store."""
    old = os.umask(0o077)
    yield
    os.umask(old)


Runner = Callable[..., Result]


@pytest.fixture
def cli() -> Runner:
    """Run oauthcli in-process through ``main`` (the real error boundary)."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        with runner.isolation(input=input, env=env) as (out, err, *_):
            code = main(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    return run


@pytest.fixture
def run_oauthcli() -> Runner:
    """Run the installed CLI as a subprocess, as a CI pipeline does."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "oauthcli", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=60,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def write_store(
    path: Path,
    users: dict[str, tuple[str, list[str], bool]] = DEMO_USERS,
    issuer: dict | None = None,
) -> UserStore:
    store = UserStore(path)
    with store.edit(create=True) as data:
        if issuer is not None:
            data.other["issuer"] = issuer
        for name, (password, scopes, disabled) in users.items():
            data.users[name] = User(
                username=name,
                hashed_password=hash_password(password, TEST_ROUNDS),
                full_name=name.title(),
                email=f"{name}@example.com",
                disabled=disabled,
                scopes=list(scopes),
            )
    return store


@pytest.fixture
def es256_provider(isolated_env: Path) -> Iterator[object]:
    """``oauthcli serve``'s app on 127.0.0.1 over the demo users with an ES256 issuer (ID
    tokens verifiable through its JWKS): ``tests.apps_serve.browser.provider_server``."""
    from oauthcli.keys import write_new_key
    from tests.apps_serve.browser import provider_server

    write_new_key(isolated_env / "signing.pem", "ES256")
    store = isolated_env / "users.toml"
    write_store(store, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    with provider_server(store) as provider:
        yield provider


@pytest.fixture
def browser_provider(
    es256_provider: object, monkeypatch: pytest.MonkeyPatch, standin_browser: Path
) -> object:
    """``es256_provider`` with the stand-in browser signing in as alice."""
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "secret")  # alice's password in the demo store
    return es256_provider


@pytest.fixture
def store_path(isolated_env: Path) -> Path:
    """``users.toml`` in the working directory with the demo users and an HS256 issuer."""
    path = isolated_env / "users.toml"
    secret = isolated_env / "hs256.secret"
    secret.write_text(TEST_SECRET)
    secret.chmod(0o600)
    write_store(path, issuer={"algorithm": "HS256", "secret_file": "hs256.secret"})
    return path


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("oauthcli: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])


def argv_options(args: Sequence[str]) -> list[str]:
    return [a for a in args if a.startswith("--")]
