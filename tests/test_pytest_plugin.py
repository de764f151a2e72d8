"""oauthcli's pytest plugin: loaded through its entry point, cheap to load, real fixtures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from oauthcli import pytest_plugin

PROJECT = Path(__file__).resolve().parent / "plugin_project"


def run_project(*args: str, project: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    """pytest in ``project`` (tests/plugin_project), as its own project (its own rootdir
    and pytest.ini)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OAUTHCLI_", "PYTEST_")) and k != "PYTHONPATH"
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# Each of these runs a whole pytest session that starts several oauthcli serve processes:
# on a loaded 2-core machine that takes longer than the suite's default 120 s per test.
@pytest.mark.timeout(600)
def test_a_users_project_runs_its_own_suite_against_the_fixtures():
    # Nothing in the project names the plugin: the pytest11 entry point brings it in.
    import re

    for path in PROJECT.iterdir():
        if path.suffix in (".py", ".ini", ".toml", ".cfg"):
            text = path.read_text()
            assert not re.search(r"^\s*pytest_plugins\s*=|-p\s*oauthcli", text, re.M), path
    proc = run_project("-p", "no:randomly", "-rA")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in (
        "test_good_login",
        "test_wrong_password",
        "test_disabled_user",
        "test_missing_scope",
        "test_expired_token",
    ):
        assert f"PASSED test_api.py::{name}" in proc.stdout, proc.stdout
    assert "6 passed" in proc.stdout
    # Turned off by its entry-point name, the fixtures are gone: that is where they came from.
    off = run_project("-p", "no:oauthcli", "test_api.py::test_expired_token")
    assert off.returncode != 0
    assert "fixture 'oauthcli_store' not found" in off.stdout


@pytest.mark.timeout(600)
def test_the_readme_example_runs_as_written(tmp_path):
    import re
    import shutil

    readme = (PROJECT.parent.parent / "README.md").read_text()
    section = readme.split("### Testing your app with pytest", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    conftest, tests = block.split("# test_api.py\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_api.py").write_text(tests)
    shutil.copy(PROJECT / "tutorial_api.py", tmp_path / "myapp.py")
    shutil.copy(PROJECT / "pytest.ini", tmp_path / "pytest.ini")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OAUTHCLI_", "PYTEST_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_loading_the_plugin_imports_nothing_heavy():
    probe = (
        "import sys, json; import oauthcli.pytest_plugin; "
        "print(json.dumps(sorted(m.split('.')[0] if not m.startswith('oauthcli') else m "
        "for m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(proc.stdout))
    heavy = {"httpx", "fastapi", "starlette", "uvicorn", "pydantic", "jwt", "cryptography"}
    heavy |= {"bcrypt", "passlib", "tomli_w", "typer", "rich"}
    assert loaded & heavy == set()
    ours = {m for m in loaded if m.startswith("oauthcli")}
    assert ours == {"oauthcli", "oauthcli.errors", "oauthcli.pytest_plugin"}


# -- the fixtures, used directly (the plugin is loaded in this suite too) ------------------


def test_store_helpers(oauthcli_store):
    oauthcli_store.add_user(
        "alice", "pw-alice", scopes=["me", "items"], full_name="Alice L", email="a@example.com"
    )
    oauthcli_store.add_user("bob", "pw-bob", disabled=True)
    data = oauthcli_store.store.load()
    alice = data.users["alice"]
    assert alice.public() == {
        "username": "alice",
        "full_name": "Alice L",
        "email": "a@example.com",
        "disabled": False,
        "scopes": ["me", "items"],
        "claims": {},
    }
    assert alice.hashed_password.startswith("$2b$04$")  # bcrypt cost 4: fast tests
    assert data.users["bob"].disabled is True
    oauthcli_store.disable_user("alice")
    assert oauthcli_store.store.load().users["alice"].disabled is True
    oauthcli_store.enable_user("alice")
    assert oauthcli_store.store.load().users["alice"].disabled is False
    from oauthcli.errors import UsageError

    with pytest.raises(UsageError, match="already exists"):
        oauthcli_store.add_user("alice", "again")
    secret_file = oauthcli_store.directory / "issuer.secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(oauthcli_store.secret) >= 32


def test_provider_logs_in_and_accepts_fixture_tokens(oauthcli_store, oauthcli_provider):
    oauthcli_store.add_user("alice", "pw-alice", scopes=["me", "items"])
    assert oauthcli_provider.url.startswith("http://127.0.0.1:")
    assert oauthcli_provider.token_url == oauthcli_provider.url + "/token"
    with oauthcli_provider.client() as http:
        discovery = http.get("/.well-known/openid-configuration").json()
        assert discovery["issuer"] == oauthcli_provider.issuer_url
        assert discovery["token_endpoint"] == oauthcli_provider.token_url
        assert discovery["jwks_uri"] == oauthcli_provider.jwks_url
        assert http.get(oauthcli_provider.jwks_url).json() == {"keys": []}  # HS256

    answer = oauthcli_provider.login("alice", "pw-alice", scopes=["me"])
    assert answer.status_code == 200 and answer.json()["scope"] == "me"
    assert oauthcli_provider.login("alice", "wrong").status_code == 400

    # Minted without HTTP, with the same key and iss: the provider takes it as its own.
    token = oauthcli_store.token("alice", ["me"])
    with oauthcli_provider.client() as http:
        me = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "alice"
        expired = oauthcli_store.token("alice", ["me"], ttl=0)
        stale = http.get("/users/me", headers={"Authorization": f"Bearer {expired}"})
        assert stale.status_code == 401


def test_provider_serves_clients(oauthcli_store, oauthcli_provider):
    oauthcli_store.add_client("ci-bot", "bot-secret", scopes=["items"])
    with oauthcli_provider.client() as http:
        answer = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "items"},
            auth=("ci-bot", "bot-secret"),
        )
    assert answer.status_code == 200 and answer.json()["scope"] == "items"


def test_provider_is_stopped_at_the_end(oauthcli_store):
    with pytest_plugin.run_provider(oauthcli_store) as provider:
        process = provider.process
        assert process.poll() is None
    assert process.poll() == 0  # SIGTERM: a clean shutdown
    assert oauthcli_store.issuer_url is None


def test_token_fixture(oauthcli_token):
    import jwt

    token = oauthcli_token(sub="bob", scopes=["a", "b"], ttl=60, claims={"tenant": 7})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "bob" and claims["scope"] == "a b" and claims["tenant"] == 7
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    expired = jwt.decode(
        oauthcli_token(ttl=-60), options={"verify_signature": False, "verify_exp": False}
    )
    assert expired["exp"] < time.time()


def test_an_asymmetric_issuer_publishes_its_key(tmp_path):
    import jwt

    store = pytest_plugin.OAuthCliStore(tmp_path, {"algorithm": "ES256"})
    store.add_user("alice", "pw", scopes=["me"])
    with pytest.raises(TypeError, match="no shared secret"):
        store.secret  # noqa: B018
    with pytest_plugin.run_provider(store) as provider, provider.client() as http:
        jwks = http.get(provider.jwks_url).json()
        token = provider.login("alice", "pw").json()["access_token"]
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    assert key.key_id == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, key.key, algorithms=["ES256"])
    assert claims["iss"] == provider.issuer_url
    fixture_token = store.token("alice", ["me"])
    assert jwt.decode(fixture_token, key.key, algorithms=["ES256"])["sub"] == "alice"


def test_asgi_variant_needs_no_socket(oauthcli_store, oauthcli_asgi):
    oauthcli_store.add_user("alice", "pw", scopes=["me"])

    async def scenario() -> tuple[int, int, str]:
        async with oauthcli_asgi.async_client() as http:
            bad = await http.post("/token", data={"username": "alice", "password": "no"})
            good = await http.post("/token", data={"username": "alice", "password": "pw"})
            token = good.json()["access_token"]
            me = await http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
            return bad.status_code, me.status_code, me.json()["username"]

    assert asyncio.run(scenario()) == (400, 200, "alice")
    assert oauthcli_asgi.token_url == "http://oauthcli.test/token"


def test_session_provider(oauthcli_session_store, oauthcli_session_provider):
    name = f"user{time.monotonic_ns()}"
    oauthcli_session_store.add_user(name, "pw", scopes=["me"])
    assert oauthcli_session_provider.login(name, "pw").status_code == 200
    assert oauthcli_session_provider.store is oauthcli_session_store


def test_a_provider_that_cannot_start_says_why(tmp_path):
    store = pytest_plugin.OAuthCliStore(tmp_path, {"algorithm": "HS256"})
    (tmp_path / "issuer.secret").unlink()
    with (
        pytest.raises(RuntimeError, match=r"did not start.*secret file"),
        pytest_plugin.run_provider(store),
    ):
        pass


def test_environment_does_not_leak_into_the_provider(oauthcli_store, monkeypatch):
    # OAUTHCLI_SECRET would override the store's secret_file in the server.
    monkeypatch.setenv("OAUTHCLI_SECRET", "s" * 40)
    oauthcli_store.add_user("alice", "pw", scopes=["me"])
    with pytest_plugin.run_provider(oauthcli_store) as provider, provider.client() as http:
        token = oauthcli_store.token("alice", ["me"])
        answer = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_provider_client_ignores_proxies(oauthcli_store, oauthcli_provider, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with oauthcli_provider.client() as http:
        assert isinstance(http, httpx.Client)
        assert http.get("/.well-known/jwks.json").status_code == 200


DIES_WITH_PYTEST = """
import os
import signal
from pathlib import Path


def test_holds_the_provider(oauthcli_provider):
    pid = oauthcli_provider.process.pid
    Path(os.environ["REPORT"]).write_text(f"{pid} {oauthcli_provider.url}")
    Path(os.environ["REPORT"] + ".done").touch()
    import time

    time.sleep(600)  # until the test kills this pytest
"""


def _process_gone(pid: int) -> bool:
    """Exited (reaped, or a zombie waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_provider_dies_with_a_killed_pytest(tmp_path, sig):
    """A CI timeout kills pytest: its oauthcli serve (throttling off) must not serve on."""
    (tmp_path / "test_hold.py").write_text(DIES_WITH_PYTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OAUTHCLI_", "PYTEST_")) and k != "PYTHONPATH"
    }
    env["REPORT"] = str(report)
    pytest_proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    serve_pid = None
    try:
        deadline = time.monotonic() + 200
        while not (tmp_path / "report.done").exists():
            assert pytest_proc.poll() is None, "the inner pytest ended early"
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.05)
        pid_text, url = report.read_text().split()
        serve_pid = int(pid_text)
        with httpx.Client(trust_env=False, timeout=30) as http:
            assert http.get(url + "/.well-known/jwks.json").status_code == 200
        pytest_proc.send_signal(sig)
        pytest_proc.wait(60)
        deadline = time.monotonic() + 90  # a bound for a loaded machine, not a speed
        while not _process_gone(serve_pid):
            assert time.monotonic() < deadline, "oauthcli serve outlived pytest"
            time.sleep(0.1)
        with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as http:
            http.get(url + "/.well-known/jwks.json")
    finally:
        if pytest_proc.poll() is None:
            pytest_proc.kill()
            pytest_proc.wait(30)
        if serve_pid is not None and not _process_gone(serve_pid):
            os.kill(serve_pid, signal.SIGKILL)
