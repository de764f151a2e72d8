"""``oauthcli login --url`` and ``oauthcli refresh`` of remote profiles, against real servers.

The FastAPI tutorial app (``tutorial_server``) stands in for the APIs people build;
small Starlette apps play service-account endpoints and misbehaving servers; the
``oauthcli serve`` app checks that the two halves of oauthcli talk to each other.
"""

from __future__ import annotations

import base64
import json
import socket
import stat
import time
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.client.test_grants import self_signed_cert
from tests.conftest import assert_one_line_error
from tests.live_server import start_server, tutorial_server, until_the_client_leaves

__all__ = ["start_server", "tutorial_server"]  # fixtures, imported for pytest to find

TOKEN_RESPONSE_KEYS = ["access_token", "token_type", "expires_in", "refresh_token", "scope"]


def login(cli, url, user="alice", password="secret", *extra, env=None):
    return cli(
        "login", user, "--url", url, "--password-stdin", *extra, input=password + "\n", env=env
    )


def cache_file(isolated_env: Path, profile: str = "default") -> Path:
    return isolated_env.parent / "cache" / f"{profile}.json"


def cached(isolated_env: Path, profile: str = "default") -> dict:
    return json.loads(cache_file(isolated_env, profile).read_text())


def requests_of(server) -> list:
    return server.app.state.tutorial.token_requests


def bearer_get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)


# ---------------------------------------------------------------- password grant


def test_login_json_is_the_token_response_and_the_profile_is_cached(
    cli, tutorial_server, isolated_env
):
    before = int(time.time())
    result = login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    body = json.loads(result.stdout)
    assert list(body) == TOKEN_RESPONSE_KEYS
    assert body["token_type"] == "bearer" and 899 <= body["expires_in"] <= 900
    assert body["scope"] == "me"

    (received,) = requests_of(tutorial_server)
    assert received.form == [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "secret"),
        ("scope", "me"),
    ]
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"

    path = cache_file(isolated_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = cached(isolated_env)
    assert entry["source"] == "remote"
    assert entry["token_url"] == tutorial_server.token_url
    assert entry["username"] == "alice"
    assert entry["access_token"] == body["access_token"]
    assert entry["refresh_token"] == body["refresh_token"]
    assert before + 900 <= entry["expires_at"] <= int(time.time()) + 900
    assert entry["allowed_origins"] == []
    assert "secret" not in path.read_text().replace("client_secret_file", "")
    me = bearer_get(tutorial_server.url + "/users/me", body["access_token"])
    assert me.json()["username"] == "alice"


def test_login_print_prints_only_the_access_token(cli, tutorial_server, isolated_env):
    result = login(cli, tutorial_server.token_url, "alice", "secret", "--print")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == cached(isolated_env)["access_token"] + "\n"
    assert result.stderr == ""


def test_login_summary_for_people(cli, tutorial_server, isolated_env):
    result = login(cli, tutorial_server.token_url, "alice", "secret", "--scope", "me items")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"Logged in as alice ({tutorial_server.token_url})" in out
    assert "scopes:   me items" in out and "expires in 15 min" in out
    assert "refresh:  yes" in out and "profile:  default" in out
    entry = cached(isolated_env)
    assert entry["access_token"] not in out and entry["refresh_token"] not in out


def test_scopes_repeated_or_space_separated_are_sent_once_each(cli, tutorial_server):
    result = login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me items", "-s", "me")
    assert result.exit_code == 0, result.stderr
    assert requests_of(tutorial_server)[-1].fields["scope"] == "me items"


def test_no_scope_sends_none_and_caches_what_the_server_says(cli, tutorial_server, isolated_env):
    assert login(cli, tutorial_server.token_url).exit_code == 0
    assert "scope" not in requests_of(tutorial_server)[-1].fields
    assert cached(isolated_env)["scope"] == ""


def test_narrower_grant_is_what_gets_cached(cli, tutorial_server, isolated_env):
    result = login(cli, tutorial_server.token_url, "johndoe", "secret", "-s", "me items", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["scope"] == "me"
    assert cached(isolated_env)["scope"] == "me"


def test_profiles_are_separate(cli, tutorial_server, isolated_env):
    assert login(cli, tutorial_server.token_url, "alice", "secret", "--profile", "a").exit_code == 0
    assert (
        login(cli, tutorial_server.token_url, "johndoe", "secret", "--profile", "j").exit_code == 0
    )
    assert cached(isolated_env, "a")["username"] == "alice"
    assert cached(isolated_env, "j")["username"] == "johndoe"
    assert not cache_file(isolated_env).exists()


# ---------------------------------------------------------------- refused logins


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong-pw"), ("nobody", "secret")])
def test_wrong_password_is_exit_3_and_nothing_is_cached(
    cli, tutorial_server, isolated_env, user, password
):
    result = login(cli, tutorial_server.token_url, user, password)
    assert_one_line_error(result, 3, "incorrect username or password")
    assert result.stdout == ""
    assert password not in result.output
    assert not cache_file(isolated_env).exists()


def test_disabled_user_is_exit_3(cli, tutorial_server, isolated_env):
    result = login(cli, tutorial_server.token_url, "carol", "wonderland")
    assert_one_line_error(result, 3, "Inactive user")
    assert not cache_file(isolated_env).exists()


def test_failed_login_leaves_the_existing_profile_alone(cli, tutorial_server, isolated_env):
    assert login(cli, tutorial_server.token_url).exit_code == 0
    before = cache_file(isolated_env).read_bytes()
    assert login(cli, tutorial_server.token_url, "alice", "nope").exit_code == 3
    assert cache_file(isolated_env).read_bytes() == before


def test_password_is_never_taken_from_argv_and_prompting_needs_a_terminal(cli, tutorial_server):
    result = cli("login", "alice", "--url", tutorial_server.token_url, input="secret\n")
    assert_one_line_error(result, 3, "--password-stdin")  # no terminal: no person to type it
    assert requests_of(tutorial_server) == []
    result = cli("login", "alice", "--url", tutorial_server.token_url, "--password", "secret")
    assert result.exit_code == 2


# ---------------------------------------------------------------- client authentication


def decode_basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    raw_id, _, raw_secret = base64.b64decode(encoded).decode().partition(":")
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def test_client_secret_from_the_environment_goes_by_basic_auth(cli, tutorial_server, isolated_env):
    env = {"OAUTHCLI_CLIENT_SECRET": "env-s3cret"}
    result = login(cli, tutorial_server.token_url, "alice", "secret", "--client-id", "app", env=env)
    assert result.exit_code == 0, result.stderr
    received = requests_of(tutorial_server)[-1]
    assert decode_basic(received.headers["authorization"]) == ("app", "env-s3cret")
    assert "client_secret" not in received.fields
    entry = cached(isolated_env)
    assert (entry["client_id"], entry["client_auth"]) == ("app", "basic")
    assert entry["client_secret_file"] is None
    assert "env-s3cret" not in cache_file(isolated_env).read_text()


def test_client_secret_file_and_post_auth(cli, tutorial_server, isolated_env):
    secret_file = isolated_env / "client.secret"
    secret_file.write_text("file-s3cret\n")
    result = login(
        cli,
        tutorial_server.token_url,
        "alice",
        "secret",
        "--client-id",
        "app",
        "--client-secret-file",
        "client.secret",
        "--client-auth",
        "post",
        # the file named on the command line wins over the environment
        env={"OAUTHCLI_CLIENT_SECRET": "env-s3cret"},
    )
    assert result.exit_code == 0, result.stderr
    received = requests_of(tutorial_server)[-1]
    assert received.fields["client_id"] == "app"
    assert received.fields["client_secret"] == "file-s3cret"
    assert "authorization" not in received.headers
    entry = cached(isolated_env)
    assert entry["client_secret_file"] == str(secret_file.resolve())
    assert entry["client_auth"] == "post"
    assert "file-s3cret" not in cache_file(isolated_env).read_text()


def test_client_secret_without_client_id_is_not_sent(cli, tutorial_server):
    env = {"OAUTHCLI_CLIENT_SECRET": "env-s3cret"}
    assert login(cli, tutorial_server.token_url, env=env).exit_code == 0
    received = requests_of(tutorial_server)[-1]
    assert "authorization" not in received.headers
    assert "env-s3cret" not in json.dumps(received.form)


def test_client_secret_file_problems_are_refused_before_the_password_is_sent(
    cli, tutorial_server, isolated_env
):
    url = tutorial_server.token_url
    result = login(cli, url, "alice", "secret", "--client-secret-file", "missing.secret")
    assert_one_line_error(result, 2, "--client-secret-file needs --client-id")
    result = login(
        cli, url, "alice", "secret", "--client-id", "app", "--client-secret-file", "missing.secret"
    )
    assert_one_line_error(result, 7, "cannot read client secret file")
    (isolated_env / "empty.secret").write_text("\n")
    result = login(
        cli, url, "alice", "secret", "--client-id", "app", "--client-secret-file", "empty.secret"
    )
    assert_one_line_error(result, 7, "is empty")
    assert requests_of(tutorial_server) == []


# ---------------------------------------------------------------- client credentials


def service_account_app() -> Starlette:
    """A client_credentials endpoint checking HTTP Basic (or form) client authentication."""
    seen: list[dict] = []

    async def token(request: Request) -> Response:
        form = dict(await request.form())
        seen.append({"form": form, "headers": dict(request.headers)})
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if "authorization" in request.headers:
            client_id, secret = decode_basic(request.headers["authorization"])
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if (client_id, secret) != ("svc", "svc-s3cret"):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "unknown client"}, 401
            )
        return JSONResponse(
            {"access_token": "svc-token", "token_type": "Bearer", "expires_in": 60, "scope": "jobs"}
        )

    app = Starlette(routes=[Route("/token", token, methods=["POST"])])
    app.state.seen = seen
    return app


def test_client_credentials_login(cli, start_server, isolated_env):
    server = start_server(service_account_app())
    result = cli(
        "login",
        "--url",
        server.token_url,
        "--grant",
        "client-credentials",
        "--client-id",
        "svc",
        "--scope",
        "jobs",
        "--json",
        env={"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"},
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body == {
        "access_token": "svc-token",
        "token_type": "bearer",
        "expires_in": body["expires_in"],
        "scope": "jobs",
    }
    assert 59 <= body["expires_in"] <= 60
    (seen,) = server.app.state.seen
    assert seen["form"] == {"grant_type": "client_credentials", "scope": "jobs"}
    entry = cached(isolated_env)
    assert entry["username"] is None and entry["refresh_token"] is None
    assert entry["client_id"] == "svc" and entry["source"] == "remote"

    summary = cli(
        "login",
        "--url",
        server.token_url,
        "--grant",
        "client-credentials",
        "--client-id",
        "svc",
        env={"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"},
    )
    assert "Logged in as client svc" in summary.stdout and "refresh:  no" in summary.stdout


def test_client_credentials_with_a_wrong_secret_is_exit_3(cli, start_server, isolated_env):
    server = start_server(service_account_app())
    result = cli(
        "login",
        "--url",
        server.token_url,
        "--grant",
        "client-credentials",
        "--client-id",
        "svc",
        env={"OAUTHCLI_CLIENT_SECRET": "wrong-s3cret"},
    )
    assert_one_line_error(result, 3, "client authentication failed: unknown client")
    assert "wrong-s3cret" not in result.output
    assert not cache_file(isolated_env).exists()


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        ([], {"OAUTHCLI_CLIENT_SECRET": "x"}, "needs --client-id"),
        (["--client-id", "svc"], {}, "needs the client secret"),
        (["alice", "--client-id", "svc"], {"OAUTHCLI_CLIENT_SECRET": "x"}, "drop USERNAME"),
    ],
)
def test_client_credentials_usage_errors(cli, start_server, args, env, fragment):
    server = start_server(service_account_app())
    result = cli(
        "login", *args, "--url", server.token_url, "--grant", "client-credentials", env=env
    )
    assert_one_line_error(result, 2, fragment)
    assert server.app.state.seen == []


def test_unknown_grant_and_client_auth_are_usage_errors(cli, tutorial_server):
    url = tutorial_server.token_url
    assert_one_line_error(login(cli, url, "alice", "secret", "--grant", "implicit"), 2, "--grant")
    result = login(cli, url, "alice", "secret", "--client-auth", "jwt")
    assert_one_line_error(result, 2, "--client-auth")
    assert requests_of(tutorial_server) == []


# ---------------------------------------------------------------- odd servers


def _json(status: int, body: object, **headers: str) -> Response:
    return Response(json.dumps(body), status, media_type="application/json", headers=headers)


ANSWERS = {
    "string-expires": lambda: _json(
        200, {"access_token": "tok", "token_type": "BEARER", "expires_in": "3600"}
    ),
    "no-expiry": lambda: _json(200, {"access_token": "tok", "token_type": "bearer"}),
    "html-502": lambda: Response(
        "<html><h1>502 Bad Gateway</h1></html>", 502, media_type="text/html"
    ),
    "html-200": lambda: Response("<html>Sign in</html>", 200, media_type="text/html"),
    "not-json": lambda: Response("access_token=tok", 200, media_type="text/plain"),
    "no-access-token": lambda: _json(200, {"token_type": "bearer"}),
    "mac": lambda: _json(200, {"access_token": "tok", "token_type": "mac"}),
    "injection": lambda: _json(200, {"access_token": "tok\r\nX-Evil: 1", "token_type": "bearer"}),
    "huge": lambda: Response(b" " * (2 * 1024 * 1024), 200, media_type="application/json"),
    "invalid_client": lambda: _json(401, {"error": "invalid_client"}),
    "invalid_scope": lambda: _json(
        400, {"error": "invalid_scope", "error_description": "admin is not yours"}
    ),
    "unsupported_grant_type": lambda: _json(400, {"error": "unsupported_grant_type"}),
    "invalid_grant": lambda: _json(400, {"error": "invalid_grant"}),
    "detail-401": lambda: _json(401, {"detail": "Bad credentials"}),
    "ansi": lambda: _json(400, {"detail": "\x1b[31mDenied\x1b[0m\r\nforged: ok\x07" + "x" * 600}),
    "huge-expiry": lambda: _json(
        200, {"access_token": "tok", "token_type": "bearer", "expires_in": 999999999999}
    ),
    "nested": lambda: Response(b"[" * 100_000, 200, media_type="application/json"),
    "nested-object": lambda: Response(
        b'{"access_token": "tok", "token_type": "bearer", "x": ' + b"[" * 100_000,
        200,
        media_type="application/json",
    ),
    "escapes": lambda: _json(
        200,
        {
            "access_token": "tok",
            "token_type": "bearer",
            "scope": "me \x1b]0;owned\x07\x1b[2Jitems \u202eadmin\x9b1m",
        },
    ),
    # FastAPI's tutorial (docs_src/security/tutorial004.py): no expires_in, the JWT carries exp
    "jwt-exp": lambda: _json(
        200,
        {
            "access_token": _unsigned_jwt({"sub": "alice", "exp": 4102444800}),
            "token_type": "bearer",
        },
    ),
}


def _unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def odd_app() -> Starlette:
    seen: list[str] = []

    async def answer(request: Request) -> Response:
        seen.append(request.url.path)
        return ANSWERS[request.path_params["name"]]()

    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=307)

    async def slow(request: Request) -> Response:
        await until_the_client_leaves(request)
        return _json(200, {"access_token": "late", "token_type": "bearer"})

    async def echo(request: Request) -> Response:
        # A careless server repeating the raw request, in an error and in a server fault.
        body = (await request.body()).decode()
        return _json(int(request.path_params["status"]), {"detail": f"got {body}"})

    app = Starlette(
        routes=[
            Route("/echo/{status}", echo, methods=["POST"]),
            Route("/answer/{name}", answer, methods=["POST"]),
            Route("/redirect", redirect, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
            Route("/{path:path}", answer_any, methods=["GET", "POST"]),
        ]
    )
    app.state.seen = seen
    return app


async def answer_any(request: Request) -> Response:
    request.app.state.seen.append(request.url.path)
    return _json(200, {"access_token": "recorded", "token_type": "bearer"})


@pytest.fixture
def odd_server(start_server):
    return start_server(odd_app())


def test_expires_in_as_a_string_and_token_type_in_capitals(cli, odd_server, isolated_env):
    result = login(cli, odd_server.url + "/answer/string-expires", "alice", "secret", "--json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["token_type"] == "bearer" and 3599 <= body["expires_in"] <= 3600
    assert cached(isolated_env)["expires_at"] >= int(time.time()) + 3599


def test_no_expires_in_means_no_expiry(cli, odd_server, isolated_env):
    result = login(cli, odd_server.url + "/answer/no-expiry")
    assert result.exit_code == 0, result.stderr
    assert "expiry:   not stated by the server" in result.stdout
    assert cached(isolated_env)["expires_at"] is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("html-502", "502 Bad Gateway with an HTML page"),
        ("html-200", "answered 200 with an HTML page"),
        ("not-json", "non-JSON body"),
        ("no-access-token", "no access_token"),
        ("mac", "unsupported token_type 'mac'"),
        ("huge", "larger than 1024 KiB"),
        ("injection", "spaces or control characters"),
        ("unsupported_grant_type", "does not support the password grant"),
    ],
)
def test_unusable_answers_are_exit_6_with_nothing_cached(
    cli, odd_server, isolated_env, name, fragment
):
    result = login(cli, f"{odd_server.url}/answer/{name}")
    assert_one_line_error(result, 6, fragment)
    assert result.stdout == ""
    assert not cache_file(isolated_env).exists()


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("invalid_client", "client authentication failed"),
        ("invalid_scope", "scope not granted: admin is not yours"),
        ("invalid_grant", "incorrect username or password"),
        ("detail-401", "Bad credentials"),
    ],
)
def test_refusals_are_exit_3_with_their_own_message(cli, odd_server, isolated_env, name, fragment):
    result = login(cli, f"{odd_server.url}/answer/{name}")
    assert_one_line_error(result, 3, fragment)
    assert not cache_file(isolated_env).exists()


def test_server_text_is_stripped_of_control_characters_and_capped(cli, odd_server):
    result = login(cli, odd_server.url + "/answer/ansi")
    assert_one_line_error(result, 3, "Denied forged: ok")
    line = result.stderr.rstrip("\n")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in line)
    assert len(line) < 300


# ---------------------------------------------------------------- safety


def test_no_password_over_plain_http_to_another_host(cli, isolated_env):
    # Refused before any connection: were one attempted, the .invalid name would fail (exit 6).
    result = login(cli, "http://auth.example.invalid/token")
    assert_one_line_error(
        result, 2, "refusing to send credentials over plain http", "--insecure-http"
    )
    assert "secret" not in result.output
    assert not cache_file(isolated_env).exists()


def test_plain_http_refused_even_before_prompting(cli):
    # No --password-stdin and no terminal: the URL is refused first, not the prompt.
    result = cli("login", "alice", "--url", "http://auth.example.invalid/token")
    assert_one_line_error(result, 2, "plain http")


def test_insecure_http_is_honoured_and_remembered_for_refresh_and_call(
    cli, tutorial_server, isolated_env
):
    # 0.0.0.0 reaches this machine's loopback server but is not a loopback address,
    # so it is a real non-loopback http:// origin for the purpose of the rule.
    url = f"http://0.0.0.0:{tutorial_server.port}/token"
    refused = login(cli, url)
    assert refused.exit_code == 2 and requests_of(tutorial_server) == []

    result = login(cli, url, "alice", "secret", "--insecure-http", "-s", "me")
    assert result.exit_code == 0, result.stderr
    entry = cached(isolated_env)
    assert entry["allowed_origins"] == [f"http://0.0.0.0:{tutorial_server.port}"]

    refreshed = cli("refresh", "--json")
    assert refreshed.exit_code == 0, refreshed.stderr
    assert requests_of(tutorial_server)[-1].fields["grant_type"] == "refresh_token"
    called = cli("call", f"http://0.0.0.0:{tutorial_server.port}/users/me")
    assert called.exit_code == 0, called.stderr
    assert json.loads(called.stdout)["username"] == "alice"


def test_insecure_http_with_https_remembers_nothing(cli, tutorial_server, isolated_env):
    assert (
        login(cli, tutorial_server.token_url, "alice", "secret", "--insecure-http").exit_code == 0
    )
    assert cached(isolated_env)["allowed_origins"] == []


def test_url_with_userinfo_is_refused_without_echoing_it(cli, tutorial_server):
    url = tutorial_server.token_url.replace("http://", "http://bob:pa55word@")
    result = login(cli, url)
    assert_one_line_error(result, 2, "user name or password")
    assert "pa55word" not in result.output


def test_redirect_is_not_followed(cli, odd_server, start_server, isolated_env):
    target = start_server(odd_app())
    result = login(cli, f"{odd_server.url}/redirect?to={target.url}/token")
    assert_one_line_error(result, 6, "307 redirecting to", "not following it")
    assert target.app.state.seen == []
    assert not cache_file(isolated_env).exists()


def test_https_to_a_plain_http_server_is_a_tls_error_with_nothing_sent(
    cli, tutorial_server, isolated_env
):
    result = login(cli, tutorial_server.token_url.replace("http://", "https://"))
    assert_one_line_error(result, 6, "TLS error")
    assert requests_of(tutorial_server) == []
    assert not cache_file(isolated_env).exists()


def test_self_signed_server_needs_cacert(cli, start_server, tmp_path, isolated_env):
    cert_file, key_file = self_signed_cert(tmp_path)
    server = start_server(odd_app(), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    result = login(cli, server.token_url)
    assert_one_line_error(result, 6, "certificate verify failed", "--cacert")
    assert server.app.state.seen == []
    assert not cache_file(isolated_env).exists()

    result = login(cli, server.token_url, "alice", "secret", "--cacert", str(cert_file))
    assert result.exit_code == 0, result.stderr
    assert server.app.state.seen == ["/token"]
    assert cached(isolated_env)["access_token"] == "recorded"


def test_unreadable_cacert_is_a_usage_error(cli, tutorial_server):
    result = login(cli, tutorial_server.token_url, "alice", "secret", "--cacert", "missing.pem")
    assert_one_line_error(result, 2, "cannot use CA bundle")
    assert requests_of(tutorial_server) == []


def test_the_password_never_appears_in_any_output_or_file(cli, odd_server, isolated_env):
    password = "Pw S3CRET/x+y@z"
    forms = {password, quote_plus(password), quote(password, safe="")}
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unused.getsockname()[1]}/token"
    # Each URL with its one exit code: a token is 0, a refusal (400/401) 3, anything else 6.
    tokens = {"string-expires", "no-expiry", "escapes", "jwt-exp"}
    refusals = {"invalid_client", "invalid_scope", "invalid_grant", "detail-401", "ansi"}
    cases = [
        (f"{odd_server.url}/answer/{name}", 0 if name in tokens else 3 if name in refusals else 6)
        for name in ANSWERS
    ]
    cases += [(f"{odd_server.url}/echo/{status}", 3) for status in (400, 401)]
    cases += [(f"{odd_server.url}/echo/{status}", 6) for status in (422, 500)]
    cases += [(f"{odd_server.url}/redirect?to={odd_server.url}/echo/400", 6), (refused, 6)]
    cases.append((odd_server.url.replace("http:", "https:") + "/token", 6))
    for url, code in cases:
        for debug in ([], ["--debug"]):
            result = cli(
                *debug, "login", "alice", "--url", url, "--password-stdin", "--timeout", "20",
                input=password + "\n",
            )  # fmt: skip
            assert result.exit_code == code, (url, result.stderr)
            leaked = [f for f in forms if f in result.output]
            assert not leaked, (url, result.output)
    for path in (isolated_env.parent / "cache").iterdir():
        assert not any(f in path.read_text(errors="replace") for f in forms)


def test_slow_server_times_out_with_exit_6(cli, odd_server, isolated_env):
    # The server answers a token only once the client hung up: exit 6 proves it gave up.
    result = login(cli, odd_server.url + "/slow", "alice", "secret", "--timeout", "0.3")
    assert_one_line_error(result, 6, "timed out after 0.3 s")
    assert not cache_file(isolated_env).exists()


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e300"])
def test_unusable_timeout_is_a_usage_error_with_nothing_sent(cli, tutorial_server, timeout):
    result = login(cli, tutorial_server.token_url, "alice", "secret", "--timeout", timeout)
    assert_one_line_error(result, 2, "--timeout must be a number of seconds")
    assert requests_of(tutorial_server) == []


def test_connection_refused_is_exit_6(cli, isolated_env):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/token"
        result = login(cli, url)
    assert_one_line_error(result, 6, "could not connect")


# ---------------------------------------------------------------- refresh


def test_refresh_uses_the_refresh_token_at_the_same_url_and_rotates_it(
    cli, tutorial_server, isolated_env
):
    assert login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me").exit_code == 0
    first = cached(isolated_env)

    result = cli("refresh", "--json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert requests_of(tutorial_server)[-1].form == [
        ("grant_type", "refresh_token"),
        ("refresh_token", first["refresh_token"]),
    ]
    second = cached(isolated_env)
    assert second["refresh_token"] == body["refresh_token"] != first["refresh_token"]
    assert second["access_token"] == body["access_token"]
    assert second["scope"] == "me" and second["token_url"] == first["token_url"]
    assert stat.S_IMODE(cache_file(isolated_env).stat().st_mode) == 0o600
    assert bearer_get(tutorial_server.url + "/users/me", body["access_token"]).status_code == 200

    # The rotated token works again; the old one is gone from the cache (and the server).
    again = cli("refresh", "--print")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == cached(isolated_env)["access_token"]


def test_refresh_sends_the_client_credentials_again(cli, tutorial_server, isolated_env):
    (isolated_env / "client.secret").write_text("file-s3cret")
    args = ("--client-id", "app", "--client-secret-file", "client.secret")
    assert login(cli, tutorial_server.token_url, "alice", "secret", *args).exit_code == 0
    assert cli("refresh").exit_code == 0
    received = requests_of(tutorial_server)[-1]
    assert received.fields["grant_type"] == "refresh_token"
    assert decode_basic(received.headers["authorization"]) == ("app", "file-s3cret")


def test_refresh_can_narrow_the_scope(cli, tutorial_server, isolated_env):
    assert login(cli, tutorial_server.token_url, "alice", "secret", "-s", "me items").exit_code == 0
    result = cli("refresh", "--scope", "me", "--json")
    assert result.exit_code == 0, result.stderr
    assert requests_of(tutorial_server)[-1].fields["scope"] == "me"
    assert cached(isolated_env)["scope"] == "me"


def test_revoked_refresh_token_is_exit_3_and_the_cache_is_kept(cli, tutorial_server, isolated_env):
    assert login(cli, tutorial_server.token_url).exit_code == 0
    before = cache_file(isolated_env).read_bytes()
    tutorial_server.app.state.tutorial.revoke_refresh_tokens()
    result = cli("refresh")
    assert_one_line_error(result, 3, "refresh token rejected", "log in again")
    assert json.loads(before)["refresh_token"] not in result.output
    assert cache_file(isolated_env).read_bytes() == before


def test_a_refresh_refused_with_a_bare_400_is_exit_3(cli, start_server, isolated_env):
    # glewlwyd answers a refused refresh with 400 and an empty body: the README promises
    # exit 3 for a 400/401 from the token endpoint (it was exit 6, "an empty body")
    async def token(request: Request) -> Response:
        form = await request.form()
        if form["grant_type"] == "refresh_token":
            return Response(status_code=400)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt"}
        )

    server = start_server(Starlette(routes=[Route("/token", token, methods=["POST"])]))
    assert login(cli, server.token_url).exit_code == 0
    before = cache_file(isolated_env).read_bytes()
    result = cli("refresh")
    assert_one_line_error(result, 3, "refresh token rejected", "log in again")
    assert cache_file(isolated_env).read_bytes() == before


def test_refresh_of_a_service_account_without_its_secret_is_exit_3(cli, start_server, isolated_env):
    server = start_server(service_account_app())
    env = {"OAUTHCLI_CLIENT_SECRET": "svc-s3cret"}
    args = ("--grant", "client-credentials", "--client-id", "svc")
    assert cli("login", "--url", server.token_url, *args, env=env).exit_code == 0
    result = cli("refresh")  # no refresh token, and no client secret at hand to renew with
    assert_one_line_error(result, 3, "cannot be renewed without its secret")
    assert len(server.app.state.seen) == 1


def test_refresh_against_a_server_that_went_away_is_exit_6(cli, start_server, isolated_env):
    from tests.apps.tutorial_app import create_tutorial_app
    from tests.live_server import live_server

    with live_server(create_tutorial_app()) as server:
        assert login(cli, server.token_url).exit_code == 0
    before = cache_file(isolated_env).read_bytes()
    result = cli("refresh", "--timeout", "2")
    assert_one_line_error(result, 6, "could not connect")
    assert cache_file(isolated_env).read_bytes() == before


# ---------------------------------------------------------------- against oauthcli serve


def test_login_refresh_and_call_against_oauthcli_serve(cli, store_path, isolated_env):
    from tests.apps_serve.live import add_client, live_server

    with live_server(store_path) as server:
        token_url = server.url + "/token"
        result = login(cli, token_url, "alice", "secret", "-s", "me", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["scope"] == "me"
        assert cached(isolated_env)["source"] == "remote"
        assert cli("refresh").exit_code == 0
        called = cli("call", server.url + "/users/me")
        assert called.exit_code == 0, called.stderr
        assert json.loads(called.stdout)["username"] == "alice"
        assert_one_line_error(login(cli, token_url, "alice", "nope"), 3)

        add_client(server.store, "ci-bot", "bot-s3cret", ["me"])
        result = cli(
            "login",
            "--url",
            token_url,
            "--grant",
            "client-credentials",
            "--client-id",
            "ci-bot",
            "--profile",
            "bot",
            env={"OAUTHCLI_CLIENT_SECRET": "bot-s3cret"},
        )
        assert result.exit_code == 0, result.stderr
        assert cached(isolated_env, "bot")["client_id"] == "ci-bot"


# ---------------------------------------------------------------- --debug tracebacks


@pytest.fixture
def echoing_status_line():
    """Answers with a broken status line that repeats the request body (password and all)."""
    from tests.client.test_http import _serve

    def respond(conn: socket.socket, server) -> None:
        data = server.seen[-1]
        while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 2x0 " + data.split(b"\r\n\r\n", 1)[1] + b"\r\n\r\n")

    yield from _serve(respond)


def test_debug_traceback_masks_the_password_and_client_secret(cli, echoing_status_line):
    password, secret = "pa55word!", "cl1ent-s3cret"
    result = cli(
        "--debug", "login", "alice", "--url", echoing_status_line.url + "/token",
        "--password-stdin", "--client-id", "cli", "--client-auth", "post",
        input=password + "\n", env={"OAUTHCLI_CLIENT_SECRET": secret},
    )  # fmt: skip
    assert result.exit_code == 6
    assert "Traceback" in result.stderr and "illegal status line" in result.stderr
    assert "password=***" in result.stderr and "client_secret=***" in result.stderr
    for form in (password, quote_plus(password), secret):
        assert form not in result.output


# ---------------------------------------------------------------- hostile answers (issue 9.3, 9.6)


@pytest.mark.parametrize("name", ["nested", "nested-object"])
def test_deeply_nested_answer_is_exit_6_not_a_crash(cli, odd_server, isolated_env, name):
    result = login(cli, odd_server.url + f"/answer/{name}")
    assert_one_line_error(result, 6, "a non-JSON body")
    assert not cache_file(isolated_env).exists()


def test_absurd_expires_in_is_refused_before_anything_is_cached(cli, odd_server, isolated_env):
    result = login(cli, odd_server.url + "/answer/huge-expiry")
    assert_one_line_error(result, 6, "expires_in 999999999999 is beyond 100 years")
    assert not cache_file(isolated_env).exists()


def test_login_summary_shows_server_fields_cleaned(cli, odd_server, isolated_env):
    result = login(cli, odd_server.url + "/answer/escapes")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\x9b" not in result.stdout and "\x07" not in result.stdout
    assert "  scopes:   me items admin" in result.stdout
    # the profile and --json keep what the server said, exactly
    assert cached(isolated_env)["scope"].startswith("me \x1b]0;owned")


def test_expiry_is_read_from_the_jwt_when_the_answer_has_no_expires_in(
    cli, odd_server, isolated_env
):
    result = login(cli, odd_server.url + "/answer/jwt-exp")
    assert result.exit_code == 0, result.stderr
    assert "not stated by the server" not in result.stdout
    assert "(2100-01-01T00:00:00Z)" in result.stdout
    assert cached(isolated_env)["expires_at"] == 4102444800
