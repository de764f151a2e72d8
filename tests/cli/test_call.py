"""``oauthcli call`` against real servers: the FastAPI tutorial app for the OAuth flows, and
a small Starlette API that echoes what it received for headers, bodies and statuses."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from oauthcli.cli import output
from tests.client.test_grants import self_signed_cert
from tests.conftest import assert_one_line_error
from tests.live_server import start_server, tutorial_server, until_the_client_leaves

__all__ = ["start_server", "tutorial_server"]  # fixtures, imported for pytest to find


def login(cli, url, user="alice", password="secret", *extra):
    result = cli("login", user, "--url", url, "--password-stdin", *extra, input=password + "\n")
    assert result.exit_code == 0, result.stderr
    return result


def cached(isolated_env: Path, profile: str = "default") -> dict:
    return json.loads((isolated_env.parent / "cache" / f"{profile}.json").read_text())


def tutorial_requests(server) -> list:
    return server.app.state.tutorial.token_requests


# ---------------------------------------------------------------- a small echoing API


def api_app() -> Starlette:
    """Issues tokens at /token (any user, password "secret"; rotating refresh tokens) and
    answers everything else, recording each request in ``app.state.seen``."""
    state: dict = {"n": 0, "refresh": set(), "expires_in": 900}
    seen: list[dict] = []

    async def token(request: Request) -> Response:
        form = dict(await request.form())
        seen.append({"path": "/token", "form": form})
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in state["refresh"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            state["refresh"].discard(form["refresh_token"])
        elif form.get("grant_type") == "client_credentials":
            state["n"] += 1
            return JSONResponse(
                {
                    "access_token": f"svc-{state['n']}",
                    "token_type": "bearer",
                    "expires_in": state["expires_in"],
                    "scope": form.get("scope", ""),
                }
            )
        elif form.get("password") != "secret":
            return JSONResponse({"detail": "Incorrect username or password"}, 400)
        state["n"] += 1
        refresh = f"rt-{state['n']}"
        state["refresh"].add(refresh)
        return JSONResponse(
            {
                "access_token": f"tok-{state['n']}",
                "token_type": "bearer",
                "expires_in": state["expires_in"],
                "refresh_token": refresh,
            }
        )

    async def record(request: Request) -> dict:
        body = await request.body()
        entry = {
            "path": request.url.path,
            "query": request.url.query,
            "method": request.method,
            "authorization": request.headers.get("authorization"),
            "content_type": request.headers.get("content-type"),
            "x_trace": request.headers.get("x-trace"),
            "body": body.decode(),
        }
        seen.append(entry)
        return entry

    async def echo(request: Request) -> Response:
        return JSONResponse(await record(request))

    async def status(request: Request) -> Response:
        await record(request)
        code = int(request.path_params["code"])
        return JSONResponse({"status": code}, code)

    async def text(request: Request) -> Response:
        await record(request)
        return PlainTextResponse("hello")

    async def terminal_trap(request: Request) -> Response:
        await record(request)
        kind = request.path_params["kind"]
        if kind == "binary":
            return Response(b"\x89PNG\r\n\x1a\n\x00\x00\x1b[2J", media_type="image/png")
        return PlainTextResponse("\x1b[2J\x1b]0;owned\x07title\r\nline\u202e two\x9b1m")

    async def redirect(request: Request) -> Response:
        await record(request)
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def slow(request: Request) -> Response:
        await until_the_client_leaves(request)
        return JSONResponse({})

    async def only_tok_2(request: Request) -> Response:
        # Accepts only the second token it issued: the first one is "revoked".
        entry = await record(request)
        if entry["authorization"] != "Bearer tok-2":
            return JSONResponse({"detail": "token revoked"}, 401)
        return JSONResponse({"ok": True})

    async def needs_admin(request: Request) -> Response:
        # An API that names the missing scope in its JSON body only (no challenge header).
        await record(request)
        return JSONResponse({"error": "insufficient_scope", "scope": "admin"}, 403)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/status/{code}", status, methods=methods),
            Route("/text", text),
            Route("/redirect", redirect),
            Route("/slow", slow),
            Route("/trap/{kind}", terminal_trap),
            Route("/only-tok-2", only_tok_2),
            Route("/needs-admin", needs_admin),
            Route("/{path:path}", echo, methods=methods),
        ]
    )
    app.state.seen = seen
    app.state.api = state
    return app


@pytest.fixture
def api(start_server):
    return start_server(api_app())


@pytest.fixture
def api_login(cli, api):
    login(cli, api.token_url)
    api.app.state.seen.clear()
    return api


def resource_requests(server) -> list[dict]:
    return [r for r in server.app.state.seen if r["path"] != "/token"]


# ---------------------------------------------------------------- the tutorial app


def test_call_sends_the_bearer_token_and_prints_the_body_raw_when_piped(cli, tutorial_server):
    login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me items")
    result = cli("call", tutorial_server.url + "/users/me")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith('{"username":"alice"')  # exactly as the server sent it
    assert json.loads(result.stdout)["email"] == "alice@example.com"

    items = cli("call", "GET", tutorial_server.url + "/users/me/items")
    assert items.exit_code == 0, items.stderr
    assert json.loads(items.stdout) == [{"item_id": "Foo", "owner": "alice"}]


def test_expired_token_is_refreshed_before_the_call(cli, tutorial_server, isolated_env):
    state = tutorial_server.app.state.tutorial
    state.access_ttl_seconds = 0  # the login hands out an already expired token
    login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me")
    stale = cached(isolated_env)
    state.access_ttl_seconds = 900

    result = cli("call", tutorial_server.url + "/users/me")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "alice"
    grants = [r.fields["grant_type"] for r in tutorial_requests(tutorial_server)]
    assert grants == ["password", "refresh_token"]
    fresh = cached(isolated_env)
    assert fresh["access_token"] != stale["access_token"]
    assert fresh["refresh_token"] != stale["refresh_token"]  # rotation kept


def test_a_401_refreshes_once_and_retries_once(cli, tutorial_server, isolated_env):
    state = tutorial_server.app.state.tutorial
    login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me")
    original_key = state.secret_key
    # The API restarts with a new signing key: the cached, unexpired token is now refused.
    state.secret_key = original_key + "-rotated"
    try:
        result = cli("call", tutorial_server.url + "/users/me")
    finally:
        state.secret_key = original_key
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "alice"
    grants = [r.fields["grant_type"] for r in tutorial_requests(tutorial_server)]
    assert grants == ["password", "refresh_token"]


def test_missing_scope_is_exit_3_after_one_refresh(cli, tutorial_server, isolated_env):
    login(cli, tutorial_server.token_url, "johndoe", "secret", "-s", "me items")  # gets only "me"
    result = cli("call", tutorial_server.url + "/users/me/items")
    assert_one_line_error(
        result, 3, "HTTP 401 Unauthorized from GET", "/users/me/items", "after refreshing"
    )
    # The tutorial's challenge is 'Bearer scope="items me"': the message names what to ask for.
    assert "the API asks for scope 'items me' (the token lacks 'items')" in result.stderr
    assert "log in again with --scope 'items me'" in result.stderr
    assert json.loads(result.stdout) == {"detail": "Not enough permissions"}
    grants = [r.fields["grant_type"] for r in tutorial_requests(tutorial_server)]
    assert grants == ["password", "refresh_token"]  # one refresh, no loop


def test_expired_token_with_a_revoked_refresh_token_is_exit_3(cli, tutorial_server, isolated_env):
    state = tutorial_server.app.state.tutorial
    state.access_ttl_seconds = 0
    login(cli, tutorial_server.token_url)
    before = cached(isolated_env)
    state.revoke_refresh_tokens()
    result = cli("call", tutorial_server.url + "/users/me")
    assert_one_line_error(result, 3, "refresh token rejected", "log in again")
    assert result.stdout == ""
    # The tokens are kept, marked: 'token' and 'status' now say so without asking again.
    assert cached(isolated_env) == {**before, "revoked": "its refresh token was refused"}


def test_token_goes_only_to_its_token_urls_origin(cli, tutorial_server, api, isolated_env):
    login(cli, tutorial_server.token_url)
    other = api.url + "/users/me"
    result = cli("call", other)
    assert_one_line_error(result, 2, "refusing to send", api.url, f"--allow-origin {api.url}")
    assert api.app.state.seen == []

    # Same host and port under another name is another origin.
    renamed = tutorial_server.url.replace("127.0.0.1", "localhost") + "/users/me"
    assert_one_line_error(cli("call", renamed), 2, "refusing to send")

    allowed = cli("call", other, "--allow-origin", api.url)
    assert allowed.exit_code == 0, allowed.stderr
    token = cached(isolated_env)["access_token"]
    assert resource_requests(api)[-1]["authorization"] == f"Bearer {token}"
    assert cached(isolated_env)["allowed_origins"] == [api.url]

    remembered = cli("call", other)
    assert remembered.exit_code == 0, remembered.stderr
    assert len(resource_requests(api)) == 2


def test_local_profile_token_goes_only_to_loopback(cli, store_path, api, isolated_env):
    result = cli("login", "alice", "--password-stdin", input="secret\n")
    assert result.exit_code == 0, result.stderr
    token = cached(isolated_env)["access_token"]

    sent = cli("call", api.url + "/echo")
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout)["authorization"] == f"Bearer {token}"

    # Refused before connecting: a connection attempt to a .invalid name would be exit 6.
    refused = cli("call", "https://api.example.invalid/users/me")
    assert_one_line_error(refused, 2, "refusing to send", "loopback")


# ---------------------------------------------------------------- requests and bodies


def test_explicit_token_from_option_or_environment(cli, api):
    result = cli("call", api.url + "/echo", "--token", "Bearer abc.def")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["authorization"] == "Bearer abc.def"
    result = cli("call", api.url + "/echo", env={"OAUTHCLI_TOKEN": "from-env"})
    assert json.loads(result.stdout)["authorization"] == "Bearer from-env"


def test_a_chosen_profile_wins_over_the_token_in_the_environment(cli, api_login):
    env = {"OAUTHCLI_TOKEN": "from-env"}
    for args in (["call", "--profile", "default"], ["--profile", "default", "call"]):
        result = cli(*args, api_login.url + "/echo", env=env)
        assert json.loads(result.stdout)["authorization"] == "Bearer tok-1"
    result = cli("call", api_login.url + "/echo", "--token", "opt", "--profile", "default", env=env)
    assert json.loads(result.stdout)["authorization"] == "Bearer opt"


def test_explicit_token_is_not_refreshed_on_401(cli, api):
    result = cli("call", api.url + "/status/401", "--token", "abc")
    assert_one_line_error(result, 3, "HTTP 401")
    assert "after refreshing" not in result.stderr
    assert len(api.app.state.seen) == 1


def test_data_text_file_and_stdin(cli, api_login, isolated_env):
    api = api_login
    result = cli("call", api.url + "/echo", "--data", "a=1&b=2")
    seen = json.loads(result.stdout)
    assert (seen["method"], seen["body"], seen["content_type"]) == ("POST", "a=1&b=2", None)

    (isolated_env / "payload.xml").write_bytes(b"<x>1</x>")
    result = cli(
        "call", "PUT", api.url + "/echo", "-d", "@payload.xml", "-H", "Content-Type: text/xml"
    )
    seen = json.loads(result.stdout)
    assert (seen["method"], seen["body"], seen["content_type"]) == ("PUT", "<x>1</x>", "text/xml")

    result = cli("call", "patch", api.url + "/echo", "--data", "-", input="from stdin")
    seen = json.loads(result.stdout)
    assert (seen["method"], seen["body"]) == ("PATCH", "from stdin")


def test_non_ascii_header_values_are_sent_as_utf8(cli, api_login):
    result = cli("call", api_login.url + "/echo", "-H", "X-Trace: café ☕")
    assert result.exit_code == 0, result.stderr
    # the server reads header bytes as latin-1, as HTTP says
    assert json.loads(result.stdout)["x_trace"].encode("latin-1").decode() == "café ☕"


def test_json_body_sets_the_content_type(cli, api_login):
    result = cli(
        "call", api_login.url + "/echo", "--json-body", '{"name": "x"}', "-H", "X-Trace: 7"
    )
    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["method"] == "POST" and json.loads(seen["body"]) == {"name": "x"}
    assert seen["content_type"] == "application/json" and seen["x_trace"] == "7"
    assert seen["authorization"] == "Bearer tok-1"


def test_query_string_is_sent_but_not_echoed_in_errors(cli, api_login):
    result = cli("call", api_login.url + "/status/404?api_key=hunter2")
    assert_one_line_error(result, 6, "HTTP 404 Not Found from GET", "/status/404?…")
    assert "hunter2" not in result.stderr
    assert resource_requests(api_login)[-1]["query"] == "api_key=hunter2"


def test_include_shows_status_line_and_headers(cli, api_login):
    result = cli("call", api_login.url + "/text", "-i")
    assert result.exit_code == 0, result.stderr
    head, _, body = result.stdout.partition("\n\n")
    lines = head.splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "content-type: text/plain; charset=utf-8" in lines
    assert body == "hello"  # raw when piped: no newline added


def test_json_is_pretty_printed_on_a_terminal(cli, api_login, monkeypatch):
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    result = cli("call", api_login.url + "/echo")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("{\n  ")
    assert json.loads(result.stdout)["method"] == "GET"
    text = cli("call", api_login.url + "/text")
    assert text.stdout == "hello\n"  # the prompt stays off the body's last line


def test_terminal_gets_no_control_sequences_and_no_binary(cli, api_login, monkeypatch):
    piped = cli("call", api_login.url + "/trap/text")
    assert piped.stdout.startswith("\x1b[2J")  # piped: exactly as sent

    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    text = cli("call", api_login.url + "/trap/text")
    assert text.exit_code == 0, text.stderr
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text.stdout)
    assert "\u202e" not in text.stdout
    assert "title\nline" in text.stdout and text.stdout.endswith("\n")

    binary = cli("call", api_login.url + "/trap/binary", "-i")
    assert binary.exit_code == 0
    assert binary.stdout.startswith("HTTP/1.1 200 OK\n") and "PNG" not in binary.stdout
    assert binary.stderr.startswith("oauthcli: warning: the response body is binary")


@pytest.mark.parametrize(("code", "exit_code"), [(204, 0), (403, 3), (404, 6), (500, 6)])
def test_exit_code_follows_the_status(cli, api_login, code, exit_code):
    result = cli("call", "DELETE", f"{api_login.url}/status/{code}")
    assert result.exit_code == exit_code, result.stderr
    if exit_code:
        assert_one_line_error(result, exit_code, f"HTTP {code}")
        assert json.loads(result.stdout) == {"status": code}  # the body is still shown
    # a 403 is not a reason to refresh: only one request was made
    assert [r["method"] for r in resource_requests(api_login)] == ["DELETE"]


def test_redirect_is_not_followed(cli, api_login, start_server):
    other = start_server(api_app())
    result = cli("call", f"{api_login.url}/redirect?to={other.url}/echo")
    assert_one_line_error(result, 6, "HTTP 302", "redirect to", "not followed")
    assert other.app.state.seen == []


def test_401_with_a_rotated_token_succeeds_and_the_profile_is_updated(cli, api_login, isolated_env):
    result = cli("call", api_login.url + "/only-tok-2")
    assert result.exit_code == 0, result.stderr
    assert [r["authorization"] for r in resource_requests(api_login)] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    entry = cached(isolated_env)
    assert (entry["access_token"], entry["refresh_token"]) == ("tok-2", "rt-2")


def test_401_without_a_refresh_token_says_to_log_in_again(cli, api):
    env = {"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"}
    args = ("--grant", "client-credentials", "--client-id", "svc")
    assert cli("login", "--url", api.token_url, *args, env=env).exit_code == 0
    result = cli("call", api.url + "/status/401")
    assert_one_line_error(result, 3, "HTTP 401", "cannot be refreshed: log in again")
    assert len(resource_requests(api)) == 1


def test_expired_client_credentials_token_is_renewed_with_the_secret(cli, api, isolated_env):
    env = {"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"}
    args = ("--grant", "client-credentials", "--client-id", "svc", "-s", "jobs")
    api.app.state.api["expires_in"] = 0
    assert cli("login", "--url", api.token_url, *args, env=env).exit_code == 0
    api.app.state.api["expires_in"] = 900

    without = cli("call", api.url + "/echo")  # no secret at hand: cannot renew
    assert_one_line_error(without, 3, "expired and cannot be refreshed")
    assert resource_requests(api) == []

    result = cli("call", api.url + "/echo", env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["authorization"] == "Bearer svc-2"
    renewal = api.app.state.seen[-2]["form"]
    assert renewal == {"grant_type": "client_credentials", "scope": "jobs"}
    assert (cached(isolated_env)["access_token"], cached(isolated_env)["scope"]) == (
        "svc-2",
        "jobs",
    )
    header = cli("header", env=env)
    assert header.stdout == "Authorization: Bearer svc-2\n"  # fresh now: not renewed again


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["FETCH", "/echo"], "unknown HTTP method"),
        (["GET", "/echo", "extra"], "expected [METHOD] URL"),
        (["/echo", "-H", "no colon"], "invalid header"),
        (["/echo", "-H", "Authorization: Bearer x"], "set by oauthcli"),
        (["/echo", "--data", "x", "--json-body", "{}"], "not both"),
        (["/echo", "--json-body", "{nope"], "not valid JSON"),
        (["/echo", "--data", "@missing.txt"], "cannot read missing.txt"),
        (["/echo", "--data", "@"], "needs a file name"),
        (["/echo", "-d", "@body.json", "-d", "-"], "give --data once"),
        (["/echo", "-H", "Naïve: x"], "invalid header name"),
        (["/echo", "-H", "X-A: a\x00b"], "control character"),
        (["/echo", "--token", "two words"], "contains spaces"),
    ],
)
def test_usage_errors_send_nothing(cli, api_login, args, fragment):
    args = [api_login.url + a if a.startswith("/") else a for a in args]
    assert_one_line_error(cli("call", *args), 2, fragment)
    assert api_login.app.state.seen == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1/x", "http://bob:pa55@127.0.0.1/x"])
def test_bad_urls_are_usage_errors(cli, api_login, url):
    result = cli("call", url)
    assert result.exit_code == 2, result.stderr
    assert "pa55" not in result.output


def test_no_profile_is_exit_3(cli, api):
    assert_one_line_error(cli("call", api.url + "/echo"), 3, "oauthcli login")
    assert api.app.state.seen == []


def test_connection_refused_and_timeout_are_exit_6(cli, api_login):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/x"
        result = cli("call", url, "--token", "t")
    assert_one_line_error(result, 6, "could not connect")
    slow = cli("call", api_login.url + "/slow", "--timeout", "0.3")
    assert_one_line_error(slow, 6, "timed out after 0.3 s")


def test_tls_needs_the_private_ca(cli, start_server, tmp_path, isolated_env):
    cert_file, key_file = self_signed_cert(tmp_path)
    server = start_server(api_app(), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    login(cli, server.token_url, "alice", "secret", "--cacert", str(cert_file))
    server.app.state.seen.clear()

    result = cli("call", server.url + "/echo")
    assert_one_line_error(result, 6, "TLS error", "certificate verify failed")
    assert server.app.state.seen == []

    result = cli("call", server.url + "/echo", "--cacert", str(cert_file))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["authorization"] == "Bearer tok-1"


def test_expired_token_with_https_refresh_uses_the_cacert(cli, start_server, tmp_path):
    cert_file, key_file = self_signed_cert(tmp_path)
    server = start_server(api_app(), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    server.app.state.api["expires_in"] = 0
    login(cli, server.token_url, "alice", "secret", "--cacert", str(cert_file))
    server.app.state.api["expires_in"] = 900
    result = cli("call", server.url + "/echo", "--cacert", str(cert_file))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["authorization"] == "Bearer tok-2"


def test_call_as_a_subprocess(run_oauthcli, tutorial_server, isolated_env):
    # PYTHONPATH: run this checkout, whatever the venv's editable install points at.
    root = Path(__file__).resolve().parents[2]
    env = {"OAUTHCLI_CACHE_DIR": str(isolated_env.parent / "cache"), "PYTHONPATH": str(root)}
    logged = run_oauthcli(
        "login", "alice", "--url", tutorial_server.token_url, "--password-stdin", "-s", "me",
        input="secret\n", env=env,
    )  # fmt: skip
    assert logged.exit_code == 0, logged.stderr
    result = run_oauthcli("call", tutorial_server.url + "/users/me", env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "alice"


def test_refresh_command_renews_a_client_credentials_profile(cli, api, isolated_env):
    env = {"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"}
    args = ("--grant", "client-credentials", "--client-id", "svc", "-s", "jobs")
    assert cli("login", "--url", api.token_url, *args, env=env).exit_code == 0
    first = cached(isolated_env)["access_token"]
    result = cli("refresh", "--print", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == cached(isolated_env)["access_token"] != first
    assert api.app.state.seen[-1]["form"] == {"grant_type": "client_credentials", "scope": "jobs"}
    assert "svc-s3cret" not in result.output


# ---------------------------------------------------------------- --follow, hints, display (issue 9.6, 9.18)


def fastapi_trailing_slash_app():
    """FastAPI's default redirect_slashes: POST /items answers 307 to /items/."""
    from fastapi import FastAPI

    app = FastAPI()
    app.state.seen = []

    async def record(request: Request) -> str:
        body = (await request.body()).decode()
        seen = (request.method, request.url.path, request.headers.get("authorization"), body)
        app.state.seen.append(seen)
        return body

    @app.post("/items/")
    async def create(request: Request) -> dict:
        return {"created": json.loads(await record(request))}

    @app.post("/form")
    async def form(request: Request) -> Response:
        await record(request)
        return RedirectResponse("/done", status_code=303)

    @app.get("/done")
    async def done(request: Request) -> dict:
        await record(request)
        return {"done": True}

    return app


def test_follow_takes_fastapis_307_to_the_trailing_slash_with_token_and_body(cli, start_server):
    server = start_server(fastapi_trailing_slash_app())
    result = cli(
        "call", "--follow", "--token", "tok-1", f"{server.url}/items", "--json-body", '{"n": 1}'
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"created": {"n": 1}}
    assert server.app.state.seen == [("POST", "/items/", "Bearer tok-1", '{"n": 1}')]

    without = cli("call", "--token", "tok-1", f"{server.url}/items", "--json-body", "{}")
    assert_one_line_error(without, 6, "HTTP 307", "not followed", "pass --follow")


def test_follow_never_takes_the_token_to_another_origin(cli, api_login, start_server):
    other = start_server(api_app())
    result = cli("call", "-L", f"{api_login.url}/redirect?to={other.url}/echo")
    assert_one_line_error(result, 6, "HTTP 302", "not followed (it leaves the origin")
    assert other.app.state.seen == []
    # Same host, other scheme or port: another origin too.
    https = api_login.url.replace("http://", "https://")
    result = cli("call", "-L", f"{api_login.url}/redirect?to={https}/echo")
    assert_one_line_error(result, 6, "not followed (it leaves the origin")


def test_follow_within_the_origin(cli, api_login):
    result = cli("call", "-L", f"{api_login.url}/redirect?to=/echo")
    assert result.exit_code == 0, result.stderr
    assert [(r["path"], r["authorization"]) for r in resource_requests(api_login)] == [
        ("/redirect", "Bearer tok-1"),
        ("/echo", "Bearer tok-1"),
    ]


def test_follow_a_303_after_a_post_is_a_get_without_the_body(cli, start_server):
    server = start_server(fastapi_trailing_slash_app())
    result = cli("call", "-L", "--token", "tok-1", f"{server.url}/form", "-d", "x=1")
    assert result.exit_code == 0, result.stderr
    assert server.app.state.seen == [
        ("POST", "/form", "Bearer tok-1", "x=1"),
        ("GET", "/done", "Bearer tok-1", ""),
    ]


def test_redirect_loops_stop(cli, api_login):
    loop = f"{api_login.url}/redirect?to={api_login.url}/redirect%3Fto%3D/redirect"
    result = cli("call", "-L", loop)
    assert result.exit_code == 6
    assert len(resource_requests(api_login)) <= 11


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("api.example.com/users/me", "did you mean https://api.example.com/users/me?"),
        ("127.0.0.1:8000/users/me", "did you mean http://127.0.0.1:8000/users/me?"),
        ("localhost:8000", "did you mean http://localhost:8000?"),
    ],
)
def test_a_url_without_a_scheme_gets_a_hint(cli, url, hint):
    result = cli("call", "--token", "t", url)
    assert_one_line_error(result, 2, "has no scheme", hint)


def test_long_tokens_in_pretty_json_are_not_hard_wrapped(cli, api_login, monkeypatch):
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "60")
    long_token = "eyJ" + "a" * 400
    result = cli("call", api_login.url + "/echo", "-H", f"X-Trace: {long_token}")
    assert result.exit_code == 0, result.stderr
    assert f'"x_trace": "{long_token}"' in result.stdout  # on one line, whole


def test_deeply_nested_json_body_is_shown_raw_on_a_terminal(cli, start_server, monkeypatch):
    async def nested(request: Request) -> Response:
        return Response(b"[" * 100_000, media_type="application/json")

    server = start_server(Starlette(routes=[Route("/deep", nested)]))
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    result = cli("call", "--token", "t", server.url + "/deep")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[" * 100_000 + "\n"


def test_a_403_names_the_scope_its_body_asks_for(cli, api_login):
    result = cli("call", api_login.url + "/needs-admin")
    assert_one_line_error(
        result, 3, "HTTP 403 Forbidden", "the API asks for scope 'admin'",
        "log in again with --scope 'admin'",
    )  # fmt: skip
    assert json.loads(result.stdout) == {"error": "insufficient_scope", "scope": "admin"}
    plain = cli("call", api_login.url + "/status/403")
    assert_one_line_error(plain, 3, "HTTP 403 Forbidden")
    assert "scope" not in plain.stderr  # nothing named, nothing guessed
