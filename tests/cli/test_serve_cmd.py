"""``oauthcli serve`` as users run it: a subprocess, real sockets, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from oauthcli.store import UserStore
from tests.conftest import assert_one_line_error, write_store

URL = re.compile(r"at (http://127\.0\.0\.1:\d+)")


@contextmanager
def serve(*args: str, cwd: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """Start ``oauthcli serve --port 0 ...``; yield the process, its base URL and stderr file."""
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oauthcli", "serve", "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=cwd,
            env=os.environ.copy(),
            start_new_session=True,  # its own process group: --workers' children end with it
        )
    try:
        url = wait_for_url(proc, log)
        wait_until_ready(url)
        yield proc, url, log
    finally:
        end_group(proc)


def end_group(proc: subprocess.Popen) -> None:
    """Stop ``serve`` and everything it started, even when the test left it running.

    SIGTERM first (uvicorn's supervisor then stops its workers); a bare SIGKILL of the
    supervisor would leave ``--workers`` processes running after the test.
    """
    if proc.poll() is None:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(30)
    with suppress(ProcessLookupError):  # the group is gone: nothing was left behind
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def wait_for_url(proc: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 120  # generous: CI machines are loaded
    while time.monotonic() < deadline:
        match = URL.search(log.read_text())
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"serve did not announce its URL: {log.read_text()}")


def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 120  # generous: CI machines are loaded
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/.well-known/jwks.json", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server never answered")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def password_login(url: str, username: str = "alice", password: str = "secret") -> httpx.Response:
    return httpx.post(
        url + "/token",
        data={"grant_type": "password", "username": username, "password": password},
        timeout=30,
    )


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def test_serve_runs_and_stops_cleanly_on_sigterm(store_path):
    with serve("--store", str(store_path), cwd=store_path.parent) as (proc, url, log):
        response = password_login(url)
        assert response.status_code == 200
        token = response.json()["access_token"]
        me = httpx.get(url + "/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "alice"
        # The query string (which could carry a token) never reaches the log.
        httpx.get(f"{url}/users/me?access_token={token}")
        port = int(url.rsplit(":", 1)[1])
        assert stop(proc) == 0
    assert port_is_free(port)
    text = log.read_text()
    assert f"serving {store_path} at {url}" in text
    assert '"POST /token" 200' in text and '"GET /users/me" 200' in text
    assert token not in text and "secret" not in text and "access_token" not in text
    assert "Traceback" not in text


def test_two_workers_serve_and_stop_cleanly(store_path):
    with serve("--store", str(store_path), "--workers", "2", cwd=store_path.parent) as (
        proc,
        url,
        log,
    ):
        port = int(url.rsplit(":", 1)[1])
        assert "2 workers" in log.read_text()
        for _ in range(4):
            assert password_login(url).status_code == 200
        # Revocation is shared by all workers through the file beside the store.
        token = password_login(url).json()["access_token"]
        assert httpx.post(url + "/revoke", data={"token": token}).status_code == 200
        for _ in range(6):
            with httpx.Client() as fresh:  # new connections spread over both workers
                answer = fresh.get(url + "/users/me", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401
        assert stop(proc) == 0
        assert group_ends(proc.pid)  # its workers (and multiprocessing's tracker) end with it
    assert port_is_free(port)


def group_ends(pgid: int) -> bool:
    """True once no process is left in the group (a generous bound: CI machines are loaded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_user_disable_applies_to_running_server(store_path, run_oauthcli):
    with serve("--store", str(store_path), cwd=store_path.parent) as (proc, url, _):
        token = password_login(url).json()["access_token"]
        disabled = run_oauthcli("user", "disable", "alice", "--store", str(store_path))
        assert disabled.exit_code == 0, disabled.stderr
        answer = httpx.get(url + "/users/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert stop(proc) == 0


def test_missing_store_fails_before_starting(cli, isolated_env):
    result = cli("serve", "--store", str(isolated_env / "nope.toml"), "--port", "0")
    assert_one_line_error(result, 7, "nope.toml", "not found")


def test_missing_key_fails_before_starting(run_oauthcli, isolated_env):
    path = isolated_env / "es.toml"
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    result = run_oauthcli("serve", "--store", str(path), "--port", "0")
    assert_one_line_error(result, 7, "signing.pem", "oauthcli keys generate")


def test_port_in_use_is_one_line_error(cli, store_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--store", str(store_path), "--port", str(port))
    assert_one_line_error(result, 7, f"127.0.0.1:{port}")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_failed_start_on_an_exposed_host_is_still_one_line(cli, isolated_env, host):
    """The plain-HTTP warning comes only once the server can start."""
    missing = cli("serve", "--store", str(isolated_env / "nope.toml"), "--host", host)
    assert_one_line_error(missing, 7, "nope.toml")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--workers", "0"], "--workers"),
        (["--log-level", "loud"], "--log-level"),
        (["--lockout", "soon"], "--lockout"),
        (["--lockout", "0s"], "--lockout"),
        (["--max-failures", "-1"], "--max-failures"),
        (["--header-timeout", "0s"], "--header-timeout"),
        (["--header-timeout", "later"], "--header-timeout"),
        (["--session-ttl", "0s"], "--session-ttl"),
        (["--session-ttl", "forever"], "--session-ttl"),
    ],
)
def test_bad_options_are_usage_errors(cli, store_path, args, fragment):
    result = cli("serve", "--store", str(store_path), "--port", "0", *args)
    assert_one_line_error(result, 2, fragment)


def test_serve_help_lists_options(cli):
    result = cli("serve", "--help")
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--workers",
        "--max-failures",
        "--lockout",
        "--header-timeout",
        "--max-connections",
        "--forwarded-allow-ips",
        "--store",
    ):
        assert option in result.stdout
    # Rich markup must not swallow the table name (issue 9 item 20).
    assert "[clients.ID]" in result.stdout


def test_hmac_issuer_pointing_at_a_pem_file_is_one_line_exit_7(cli, isolated_env):
    """Issue 9 item 13: never a 500 with a traceback per request."""
    from oauthcli.keys import write_new_key

    write_new_key(isolated_env / "signing.pem", "ES256")
    path = isolated_env / "pem.toml"
    write_store(path, issuer={"algorithm": "HS256", "secret_file": "signing.pem"})
    result = cli("serve", "--store", str(path), "--port", "0")
    assert_one_line_error(result, 7, "not a shared secret")


def test_cli_modules_do_not_import_the_server_stack():
    code = (
        "import sys, oauthcli.cli.app; "
        "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_listening_socket_carries_ipproto_tcp():
    """uvicorn #3149: accepted sockets inherit proto; asyncio sets TCP_NODELAY only for TCP."""
    from oauthcli.server.run import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        with socket.create_connection(sock.getsockname()):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


# --- end to end with oauthcli's own remote commands -------------------------------------------


@pytest.fixture
def es256_server(isolated_env):
    """ES256 store without [issuer].issuer: the server's base URL becomes iss."""
    from oauthcli.keys import write_new_key
    from tests.apps_serve.live import live_server

    path = isolated_env / "es.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    with live_server(path) as live:
        yield live


def test_verify_issuer_url_accepts_tokens_from_serve(cli, es256_server):
    url = es256_server.url
    token = password_login(url).json()["access_token"]
    verified = cli("verify", token, "--issuer-url", url, "--require-scope", "me", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["valid"] is True
    missing = cli("verify", token, "--issuer-url", url, "--require-scope", "admin")
    assert missing.exit_code == 4
    elsewhere = cli("verify", token, "--issuer-url", url.replace("127.0.0.1", "localhost"))
    assert elsewhere.exit_code == 6  # the discovered issuer must be the URL asked for


def test_login_url_call_and_refresh(cli, es256_server):
    url = es256_server.url
    login = cli(
        "login",
        "alice",
        "--url",
        url + "/token",
        "--password-stdin",
        "--json",
        input="secret\n",
    )
    assert login.exit_code == 0, login.stderr
    assert json.loads(login.stdout)["scope"] == "me items" and "secret" not in login.output
    call = cli("call", url + "/users/me")
    assert call.exit_code == 0, call.stderr
    assert json.loads(call.stdout)["username"] == "alice"
    refreshed = cli("refresh")
    assert refreshed.exit_code == 0, refreshed.stderr
    assert cli("call", url + "/users/me").exit_code == 0


def test_remote_login_failures_exit_3(cli, es256_server):
    url = es256_server.url + "/token"
    wrong = cli("login", "alice", "--url", url, "--password-stdin", input="wrong\n")
    assert_one_line_error(wrong, 3)
    assert "incorrect username or password" in wrong.stderr.lower()
    inactive = cli("login", "carol", "--url", url, "--password-stdin", input="wonderland\n")
    assert_one_line_error(inactive, 3, "inactive")
    escalated = cli(
        "login",
        "johndoe",
        "--url",
        url,
        "--password-stdin",
        "--scope",
        "items",
        input="secret\n",
    )
    assert escalated.exit_code == 3


def test_call_without_the_scope_is_exit_3(cli, es256_server):
    url = es256_server.url
    login = cli(
        "login",
        "alice",
        "--url",
        url + "/token",
        "--password-stdin",
        "--scope",
        "items",
        input="secret\n",
    )
    assert login.exit_code == 0, login.stderr
    assert cli("call", url + "/users/me").exit_code == 3


def test_client_credentials_login_against_serve(cli, es256_server, monkeypatch):
    from tests.apps_serve.live import add_client

    add_client(es256_server.store, "ci-bot", "bot-secret", ["items"])
    monkeypatch.setenv("OAUTHCLI_CLIENT_SECRET", "bot-secret")
    result = cli(
        "login",
        "--url",
        es256_server.url + "/token",
        "--grant",
        "client-credentials",
        "--client-id",
        "ci-bot",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert '"scope": "items"' in result.stdout
    monkeypatch.setenv("OAUTHCLI_CLIENT_SECRET", "wrong")
    bad = cli(
        "login",
        "--url",
        es256_server.url + "/token",
        "--grant",
        "client-credentials",
        "--client-id",
        "ci-bot",
    )
    assert bad.exit_code == 3 and "wrong" not in bad.output


@pytest.mark.parametrize("option", [(), ("--no-consent",)])
def test_no_consent_turns_the_consent_page_off(store_path, option):
    from oauthcli.store import UserStore
    from tests.apps_serve.browser import add_flow_clients, authorize, public_params, submit_login

    add_flow_clients(UserStore(store_path))
    with (
        serve("--store", str(store_path), *option, cwd=store_path.parent) as (_, url, _),
        httpx.Client(base_url=url, timeout=30, trust_env=False) as http,
    ):
        page = authorize(http, **public_params(scope="openid me")[1])
        answer = submit_login(http, page, "alice", "secret", allow=False)
    if option:
        assert answer.status_code == 303 and "code=" in answer.headers["location"]
    else:
        assert answer.status_code == 200 and "<h1>Allow access?</h1>" in answer.text


def test_start_up_says_where_everything_is(store_path):
    """The issuer to give --issuer-url, discovery, the browser and device pages, docs, the
    store and the state: each on its own line, each URL answering."""
    with serve("--store", str(store_path), cwd=store_path.parent) as (_proc, url, log):
        lines = log.read_text().splitlines()
        said = {
            line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
            for line in lines
            if line.startswith("  ") and ":" in line
        }
        assert said["issuer"] == f"{url}   (oauthcli login --issuer-url {url} --client-id ID)"
        assert said["discovery"] == f"{url}/.well-known/openid-configuration"
        assert said["authorize"] == f"{url}/authorize"
        assert said["device"] == f"{url}/device"
        assert said["docs"] == f"{url}/docs"
        assert said["store"] == str(store_path)
        assert said["state"].startswith("SQLite state ") and said["state"].endswith(".db")
        discovered = httpx.get(said["discovery"]).json()
        assert discovered["issuer"] == url
        assert discovered["authorization_endpoint"] == said["authorize"]
        assert httpx.get(said["device"]).status_code == 200
    # A store that names its issuer: that is the --issuer-url to use, whatever the port.
    with UserStore(store_path).edit() as data:
        data.other["issuer"]["issuer"] = "https://auth.example.test"
    with serve("--store", str(store_path), cwd=store_path.parent) as (_proc, _url, log):
        assert "  issuer:    https://auth.example.test   (oauthcli login" in log.read_text()
