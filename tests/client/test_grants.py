"""oauthcli.client.grants against real servers on 127.0.0.1: the FastAPI tutorial app and small
Starlette apps for misbehaving servers. ``httpx.MockTransport`` appears only where no
real server can be involved (a host that is refused before connecting, a dropped
connection)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote_plus

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordRequestFormStrict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

import oauthcli.http as transport
from oauthcli.client import grants, policy
from oauthcli.errors import AuthenticationError, ExitCode, RemoteError, UsageError
from tests._jwks_server import self_signed_cert
from tests.apps import tutorial_app
from tests.live_server import (
    LiveServer,
    live_server,
    start_server,
    tutorial_server,
    until_the_client_leaves,
)

__all__ = ["start_server", "tutorial_server"]  # fixtures, imported for pytest to find

StartServer = Callable[..., LiveServer]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with transport.make_client(timeout=5.0) as c:
        yield c


def bearer_get(client: httpx.Client, url: str, token: str) -> httpx.Response:
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def last_request(server: LiveServer):
    return server.app.state.tutorial.token_requests[-1]


# --- the tutorial app: password grant ------------------------------------------------------


def test_password_grant_sends_the_form_fastapi_expects(tutorial_server, client):
    token = grants.password_grant(
        client, tutorial_server.token_url, "alice", "secret", ["me", "items"]
    )

    assert token.token_type == "Bearer"
    assert token.expires_in == 900
    assert token.refresh_token
    received = last_request(tutorial_server)
    assert received.form == [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "secret"),
        ("scope", "me items"),
    ]
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"
    assert received.headers["accept"] == "application/json"
    assert "authorization" not in received.headers
    items = bearer_get(client, tutorial_server.url + "/users/me/items", token.access_token)
    assert items.json() == [{"item_id": "Foo", "owner": "alice"}]


def test_scopes_given_as_one_string_or_repeated_are_sent_space_separated(tutorial_server, client):
    grants.password_grant(client, tutorial_server.token_url, "alice", "secret", "me  items me")
    assert last_request(tutorial_server).fields["scope"] == "me items"
    grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me items"])
    assert last_request(tutorial_server).fields["scope"] == "me items"


def test_no_scopes_sends_no_scope_field(tutorial_server, client):
    grants.password_grant(client, tutorial_server.token_url, "alice", "secret", [])
    assert "scope" not in last_request(tutorial_server).fields


def test_scope_granted_narrower_than_requested_is_reported(tutorial_server, client):
    token = grants.password_grant(
        client, tutorial_server.token_url, "johndoe", "secret", ["me", "items"]
    )
    assert token.scope == "me"
    denied = bearer_get(client, tutorial_server.url + "/users/me/items", token.access_token)
    assert denied.status_code == 401
    assert denied.json() == {"detail": "Not enough permissions"}


def test_bad_scope_characters_are_refused_before_sending(tutorial_server, client):
    with pytest.raises(UsageError, match="invalid scope"):
        grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ['me"'])
    assert tutorial_server.app.state.tutorial.token_requests == []


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong-pw"), ("nobody", "secret")])
def test_wrong_credentials_are_an_authentication_error(tutorial_server, client, username, password):
    with pytest.raises(AuthenticationError) as caught:
        grants.password_grant(client, tutorial_server.token_url, username, password, ["me"])
    assert caught.value.exit_code == ExitCode.AUTH
    assert str(caught.value) == "Incorrect username or password"
    assert password not in str(caught.value)


def test_disabled_user_is_an_authentication_error(tutorial_server, client):
    with pytest.raises(AuthenticationError, match=r"^Inactive user$"):
        grants.password_grant(client, tutorial_server.token_url, "carol", "wonderland", ["me"])


def test_fastapi_validation_errors_are_a_remote_error_naming_the_field(tutorial_server, client):
    # The tutorial form only knows password and refresh_token: FastAPI answers 422.
    with pytest.raises(RemoteError, match=r"422.*grant_type: String should match pattern"):
        grants.client_credentials_grant(client, tutorial_server.token_url, "svc", "s3cr3t", None)


# --- the tutorial app's own contract, which other tests rely on ----------------------------


def test_tutorial_tokens_carry_a_scopes_list_and_bad_tokens_get_a_bearer_challenge(
    tutorial_server, client
):
    token = grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me"])
    claims = jwt.decode(token.access_token, tutorial_app.SECRET_KEY, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["scopes"] == ["me"]

    for bad in ("garbage", token.access_token + "x"):
        refused = bearer_get(client, tutorial_server.url + "/users/me", bad)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer scope="me"'
        assert refused.json() == {"detail": "Could not validate credentials"}
    anonymous = client.get(tutorial_server.url + "/users/me")
    assert (anonymous.status_code, anonymous.headers["www-authenticate"]) == (401, "Bearer")


def test_tutorial_refuses_a_disabled_users_token(tutorial_server, client):
    forged = jwt.encode(
        {"sub": "carol", "scopes": ["me"], "exp": int(time.time()) + 60},
        tutorial_app.SECRET_KEY,
        algorithm="HS256",
    )
    answer = bearer_get(client, tutorial_server.url + "/users/me", forged)
    assert (answer.status_code, answer.json()) == (400, {"detail": "Inactive user"})


# --- client authentication -----------------------------------------------------------------


def test_basic_client_auth_form_urlencodes_id_and_secret(tutorial_server, client):
    client_id, client_secret = "my app:1", "p@ss w:rd/é+%"
    grants.password_grant(
        client, tutorial_server.token_url, "alice", "secret", ["me"], client_id, client_secret
    )

    received = last_request(tutorial_server)
    scheme, _, encoded = received.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    raw_id, _, raw_secret = base64.b64decode(encoded).decode().partition(":")
    assert ":" not in raw_id and " " not in raw_secret  # RFC 6749 2.3.1 encoding applied
    assert (unquote_plus(raw_id), unquote_plus(raw_secret)) == (client_id, client_secret)
    assert "client_id" not in received.fields and "client_secret" not in received.fields


def test_post_client_auth_puts_id_and_secret_in_the_form(tutorial_server, client):
    grants.password_grant(
        client,
        tutorial_server.token_url,
        "alice",
        "secret",
        ["me"],
        "my-app",
        "app-secret",
        client_auth="post",
    )
    received = last_request(tutorial_server)
    assert received.fields["client_id"] == "my-app"
    assert received.fields["client_secret"] == "app-secret"
    assert "authorization" not in received.headers


def test_client_id_without_secret_goes_in_the_form(tutorial_server, client):
    grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me"], "public")
    received = last_request(tutorial_server)
    assert received.fields["client_id"] == "public"
    assert "client_secret" not in received.fields
    assert "authorization" not in received.headers


def test_unknown_client_auth_is_a_usage_error(tutorial_server, client):
    with pytest.raises(UsageError, match="basic' or 'post"):
        grants.password_grant(
            client, tutorial_server.token_url, "a", "b", [], "id", "s", client_auth="jwt"
        )


def strict_form_echo_app() -> FastAPI:
    """FastAPI's strict form (grant_type required), echoing what it parsed."""
    app = FastAPI()

    @app.post("/token")
    async def token(form: OAuth2PasswordRequestFormStrict = Depends()) -> dict:
        parsed = {
            "grant_type": form.grant_type,
            "username": form.username,
            "password": form.password,
            "scopes": form.scopes,
            "client_id": form.client_id,
            "client_secret": form.client_secret,
        }
        return {"access_token": "echo", "token_type": "bearer", "parsed": parsed}

    return app


def test_fastapi_strict_password_form_parses_every_field(start_server, client):
    server = start_server(strict_form_echo_app())
    token = grants.password_grant(
        client,
        server.token_url,
        "jo hn",
        "pa ss&=word",
        ["me", "items"],
        "cid",
        "csecret",
        client_auth="post",
    )
    assert token.raw["parsed"] == {
        "grant_type": "password",
        "username": "jo hn",
        "password": "pa ss&=word",
        "scopes": ["me", "items"],
        "client_id": "cid",
        "client_secret": "csecret",
    }


# --- refresh ---------------------------------------------------------------------------------


def test_expired_access_token_then_refresh(tutorial_server, client):
    state = tutorial_server.app.state.tutorial
    state.access_ttl_seconds = 0  # tokens are born expired
    first = grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me"])
    expired = bearer_get(client, tutorial_server.url + "/users/me", first.access_token)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == 'Bearer scope="me"'

    state.access_ttl_seconds = 900
    assert first.refresh_token is not None
    second = grants.refresh_grant(client, tutorial_server.token_url, first.refresh_token)

    assert last_request(tutorial_server).form == [
        ("grant_type", "refresh_token"),
        ("refresh_token", first.refresh_token),
    ]
    me = bearer_get(client, tutorial_server.url + "/users/me", second.access_token)
    assert me.json()["username"] == "alice"
    assert second.refresh_token not in (None, first.refresh_token)


def test_reused_refresh_token_asks_to_log_in_again(tutorial_server, client):
    token = grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me"])
    assert token.refresh_token is not None
    grants.refresh_grant(client, tutorial_server.token_url, token.refresh_token)

    with pytest.raises(AuthenticationError) as caught:
        grants.refresh_grant(client, tutorial_server.token_url, token.refresh_token)
    message = str(caught.value)
    assert message.startswith("refresh token rejected (expired or revoked): log in again")
    assert token.refresh_token not in message


def test_refresh_can_narrow_scopes(tutorial_server, client):
    token = grants.password_grant(
        client, tutorial_server.token_url, "alice", "secret", ["me", "items"]
    )
    assert token.refresh_token is not None
    narrowed = grants.refresh_grant(client, tutorial_server.token_url, token.refresh_token, ["me"])
    assert last_request(tutorial_server).fields["scope"] == "me"
    items = bearer_get(client, tutorial_server.url + "/users/me/items", narrowed.access_token)
    assert items.status_code == 401


# --- canned answers from a small Starlette app -----------------------------------------------

BIG = 2 * transport.MAX_BODY_BYTES


def _json(status: int, body: object) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


CANNED: dict[str, Callable[[], Response]] = {
    "string-expires": lambda: _json(
        200, {"access_token": "tok", "token_type": "BEARER", "expires_in": "3600"}
    ),
    "mac": lambda: _json(200, {"access_token": "tok", "token_type": "mac"}),
    "no-token-type": lambda: _json(200, {"access_token": "tok"}),
    "no-access-token": lambda: _json(200, {"token_type": "bearer", "expires_in": 60}),
    "bad-expires": lambda: _json(
        200, {"access_token": "t", "token_type": "bearer", "expires_in": "soon"}
    ),
    "json-list": lambda: _json(200, [{"access_token": "tok"}]),
    "not-json": lambda: Response("access_token=tok", 200, media_type="text/plain"),
    "html-502": lambda: Response(
        "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html"
    ),
    "html-401": lambda: Response("<html>login required</html>", 401, media_type="text/html"),
    "empty-401": lambda: Response(b"", 401, headers={"WWW-Authenticate": "Basic"}),
    "error-200": lambda: _json(200, {"error": "invalid_grant", "error_description": "nope"}),
    "detail-500": lambda: _json(500, {"detail": "database is down"}),
    "detail-404": lambda: _json(404, {"detail": "Not Found"}),
    "ansi": lambda: _json(
        401, {"detail": "\x1b[31mDenied\x1b[0m\r\nforged: line\x07\u202e" + "x" * 500}
    ),
    "big": lambda: Response(b" " * BIG, 200, media_type="application/json"),
    "big-chunked": lambda: StreamingResponse(
        (b" " * 65536 for _ in range(BIG // 65536)), media_type="application/json"
    ),
    "just-under-cap": lambda: _json(
        200,
        {
            "access_token": "tok",
            "token_type": "bearer",
            "pad": "x" * (transport.MAX_BODY_BYTES - 100),
        },
    ),
}


async def canned(request: Request) -> Response:
    return CANNED[request.path_params["name"]]()


async def rfc_error(request: Request) -> Response:
    code = request.path_params["code"]
    status = int(request.query_params.get("status", "400"))
    description = request.query_params.get("description", f"{code} explained")
    return _json(status, {"error": code, "error_description": description})


async def echo_error(request: Request) -> Response:
    # A careless server that repeats the secrets it was sent.
    form = await request.form()
    said = " ".join(f"{k}={v}" for k, v in form.items())
    return _json(400, {"error": "invalid_grant", "error_description": f"rejected {said}"})


async def echo_raw_error(request: Request) -> Response:
    # A server that repeats the raw request body: the secrets arrive form-encoded.
    body = (await request.body()).decode()
    return _json(400, {"error": "invalid_grant", "error_description": f"rejected {body}"})


async def redirect(request: Request) -> Response:
    return RedirectResponse(request.query_params["to"], status_code=307)


async def slow(request: Request) -> Response:
    await until_the_client_leaves(request)
    return _json(200, {"access_token": "late", "token_type": "bearer"})


async def trickle(request: Request) -> Response:
    async def body():
        # A byte every 50 ms, each within the per-read timeout, until the client gives up.
        for _ in range(1200):
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.05)
            yield b" "

    return StreamingResponse(body(), media_type="application/json")


def misbehaving_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/canned/{name}", canned, methods=["POST"]),
            Route("/rfc/{code}", rfc_error, methods=["POST"]),
            Route("/echo-error", echo_error, methods=["POST"]),
            Route("/echo-raw-error", echo_raw_error, methods=["POST"]),
            Route("/redirect", redirect, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
            Route("/trickle", trickle, methods=["POST"]),
        ]
    )


def recorder_app() -> Starlette:
    """Answers every request with a token and remembers it: proves whether anything arrived."""
    seen: list[tuple[str, str]] = []

    async def anything(request: Request) -> Response:
        seen.append((request.method, request.url.path))
        return JSONResponse({"access_token": "recorded", "token_type": "bearer"})

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    app.state.seen = seen
    return app


@pytest.fixture(scope="module")
def odd_server() -> Iterator[LiveServer]:
    with live_server(misbehaving_app()) as server:
        yield server


def grant(client: httpx.Client, url: str) -> grants.TokenResponse:
    return grants.password_grant(client, url, "alice", "secret", ["me"])


def test_expires_in_as_string_and_token_type_in_any_case(odd_server, client):
    token = grant(client, odd_server.url + "/canned/string-expires")
    assert (token.expires_in, token.token_type) == (3600, "Bearer")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("mac", "unsupported token_type 'mac'"),
        ("no-token-type", "unsupported token_type '(missing)'"),
        ("no-access-token", "no access_token"),
        ("bad-expires", "expires_in 'soon'"),
        ("json-list", "JSON that is not an object"),
        ("not-json", "non-JSON body (text/plain)"),
        ("html-502", "502 Bad Gateway with an HTML page"),
        ("html-401", "401 Unauthorized with an HTML page"),
        ("detail-500", "failed with 500 Internal Server Error: database is down"),
        ("detail-404", "answered 404 Not Found: Not Found"),
        ("big", "larger than 1024 KiB"),
        ("big-chunked", "larger than 1024 KiB"),
    ],
)
def test_unusable_answers_are_remote_errors(odd_server, client, name, fragment):
    with pytest.raises(RemoteError) as caught:
        grant(client, f"{odd_server.url}/canned/{name}")
    assert fragment in str(caught.value)
    assert caught.value.exit_code == ExitCode.REMOTE


def test_a_body_just_under_the_cap_is_read(odd_server, client):
    assert grant(client, odd_server.url + "/canned/just-under-cap").access_token == "tok"


def test_an_error_sent_with_200_is_still_an_error(odd_server, client):
    with pytest.raises(AuthenticationError, match=r"^nope$"):
        grant(client, odd_server.url + "/canned/error-200")


def test_empty_401_is_a_credentials_refusal(odd_server, client):
    with pytest.raises(AuthenticationError, match="incorrect username or password"):
        grant(client, odd_server.url + "/canned/empty-401")


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("invalid_grant", AuthenticationError, "invalid_grant explained"),
        ("invalid_client", AuthenticationError, "client authentication failed: invalid_client"),
        ("invalid_scope", AuthenticationError, "scope not granted: invalid_scope explained"),
        ("unauthorized_client", AuthenticationError, "may not use the password grant"),
        ("unsupported_grant_type", RemoteError, "does not support the password grant"),
        ("invalid_request", RemoteError, "rejected the request as malformed: invalid_request"),
        ("access_denied", AuthenticationError, "access_denied explained"),
        ("temporarily_unavailable", RemoteError, "400 Bad Request: temporarily_unavailable"),
    ],
)
def test_rfc6749_error_codes(odd_server, client, code, error, message):
    with pytest.raises(error) as caught:
        grant(client, f"{odd_server.url}/rfc/{code}")
    assert type(caught.value) is error
    assert message in str(caught.value)


def test_invalid_grant_on_refresh_means_log_in_again(odd_server, client):
    with pytest.raises(AuthenticationError) as caught:
        grants.refresh_grant(client, odd_server.url + "/rfc/invalid_grant", "old-refresh")
    assert str(caught.value) == (
        "refresh token rejected (expired or revoked): log in again (invalid_grant explained)"
    )


def test_unsupported_grant_names_the_grant(odd_server, client):
    with pytest.raises(RemoteError, match="does not support the client_credentials grant"):
        grants.client_credentials_grant(
            client, odd_server.url + "/rfc/unsupported_grant_type", "id", "secret", None
        )


def test_server_error_with_a_code_is_a_remote_error(odd_server, client):
    with pytest.raises(RemoteError, match="503 Service Unavailable: server_error explained"):
        grant(client, odd_server.url + "/rfc/server_error?status=503")


def test_control_characters_from_the_server_are_stripped_and_text_capped(odd_server, client):
    with pytest.raises(AuthenticationError) as caught:
        grant(client, odd_server.url + "/canned/ansi")
    message = str(caught.value)
    assert message.startswith("Denied forged: line")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in message)
    assert len(message) <= transport.MAX_SERVER_TEXT


def test_secrets_echoed_by_the_server_are_masked(odd_server, client):
    url = odd_server.url + "/echo-error"
    with pytest.raises(AuthenticationError) as caught:
        grants.password_grant(
            client, url, "alice", "hunter2-pw", ["me"], "cid", "client-s3cret", client_auth="post"
        )
    message = str(caught.value)
    assert "username=alice" in message
    assert "hunter2-pw" not in message and "client-s3cret" not in message

    with pytest.raises(AuthenticationError) as caught:
        grants.refresh_grant(client, url, "refresh-abc123")
    assert "refresh-abc123" not in str(caught.value)


def test_secrets_echoed_form_encoded_are_masked(odd_server, client):
    password, secret = "p@ss wörd&S3CRET", "cl/ent+s3cret"
    with pytest.raises(AuthenticationError) as caught:
        grants.password_grant(
            client, odd_server.url + "/echo-raw-error", "alice", password, ["me"], "cid", secret,
            client_auth="post",
        )  # fmt: skip
    message = str(caught.value)
    assert "username=alice" in message and "password=***" in message
    assert "S3CRET" not in message and "s3cret" not in message


# --- safety: where credentials may go -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com/token",
        "HTTPS://auth.example.com:8443/oauth/token?x=1",
        "http://localhost:8000/token",
        "http://LOCALHOST./token",
        "http://127.0.0.1/token",
        "http://127.12.0.3:9000/token",
        "http://[::1]:8000/token",
    ],
)
def test_safe_urls(url):
    policy.check_url_safe(url)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://auth.example.com/token", "over plain http"),
        ("http://10.0.0.1/token", "over plain http"),
        ("http://localhost.example.com/token", "over plain http"),
        ("http://127.0.0.1.nip.io/token", "over plain http"),
        ("http://0.0.0.0:8000/token", "over plain http"),
        ("ftp://auth.example.com/token", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("auth.example.com/token", "only http and https"),
        ("https:///token", "no host"),
        ("http://[::1/token", "not a valid URL"),
        (" ", "the URL is empty"),
    ],
)
def test_unsafe_urls_are_usage_errors(url, fragment):
    with pytest.raises(UsageError) as caught:
        policy.check_url_safe(url)
    assert fragment in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE


def test_insecure_http_allows_remote_http_but_not_userinfo():
    policy.check_url_safe("http://auth.example.com/token", insecure_http=True)
    with pytest.raises(UsageError) as caught:
        policy.check_url_safe("https://bob:pa55word@auth.example.com/token", insecure_http=True)
    assert "pa55word" not in str(caught.value)
    with pytest.raises(UsageError, match="only http and https"):
        policy.check_url_safe("ftp://auth.example.com/", insecure_http=True)


def test_userinfo_never_appears_in_the_message():
    for url in ("ftp://bob:pa55word@example.com/", "http://bob:pa55word@[::1/token"):
        with pytest.raises(UsageError) as caught:
            policy.check_url_safe(url)
        assert "pa55word" not in str(caught.value)


def test_unsafe_url_is_refused_before_any_connection():
    # No real server can stand in for a remote host; the transport proves nothing was sent.
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    with httpx.Client(transport=transport) as mock_client, pytest.raises(UsageError):
        grant(mock_client, "http://auth.example.com/token")
    assert sent == []


def test_redirect_is_not_followed(odd_server, start_server, client):
    target = start_server(recorder_app())
    location = f"{target.url}/token?code=abc"
    with pytest.raises(RemoteError) as caught:
        grant(client, f"{odd_server.url}/redirect?to={location}")
    message = str(caught.value)
    assert f"307 redirecting to {target.url}/token?…" in message
    assert "abc" not in message
    assert target.app.state.seen == []


def test_relative_redirect_is_named_too(odd_server, client):
    with pytest.raises(RemoteError, match="307 redirecting to /login: not following it"):
        grant(client, odd_server.url + "/redirect?to=/login%3Fnext%3D/token")


def test_insecure_http_lets_the_request_through():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"access_token": "t", "token_type": "bearer"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as mock_client:
        url = "http://auth.example.com/token"
        assert grants.password_grant(mock_client, url, "a", "b", [], insecure_http=True)
    assert [str(r.url) for r in sent] == ["http://auth.example.com/token"]


def test_redirect_is_not_followed_even_by_a_client_that_would(odd_server, start_server):
    target = start_server(recorder_app())
    with httpx.Client(follow_redirects=True) as following, pytest.raises(RemoteError):
        grant(following, f"{odd_server.url}/redirect?to={target.url}/token")
    assert target.app.state.seen == []


def test_https_to_a_plain_http_port_is_a_tls_error_with_nothing_sent(tutorial_server, client):
    url = tutorial_server.token_url.replace("http://", "https://")
    with pytest.raises(RemoteError, match=r"^TLS error contacting https://127\.0\.0\.1") as caught:
        grant(client, url)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert tutorial_server.app.state.tutorial.token_requests == []


def test_self_signed_server_is_refused_unless_its_ca_is_given(start_server, tmp_path, client):
    cert_file, key_file = self_signed_cert(tmp_path)
    server = start_server(recorder_app(), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    assert server.url.startswith("https://")

    with pytest.raises(RemoteError, match=r"certificate verify failed") as caught:
        grant(client, server.token_url)
    assert caught.value.reason == "tls_verify"
    assert "--" not in str(caught.value)  # the core names no CLI option; the CLI adds --cacert
    assert server.app.state.seen == []

    with transport.make_client(timeout=5.0, cacert=str(cert_file)) as trusting:
        assert grant(trusting, server.token_url).access_token == "recorded"
    assert server.app.state.seen == [("POST", "/token")]


def test_unreadable_ca_bundle_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot use CA bundle"):
        transport.make_client(cacert=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("inf"), float("nan"), 1e300])
def test_unusable_timeouts_are_usage_errors(timeout):
    with pytest.raises(UsageError, match="the timeout must be a number of seconds"):
        transport.make_client(timeout=timeout)


def test_make_client_defaults():
    with transport.make_client() as made:
        assert made.timeout == httpx.Timeout(10.0)
        assert made.follow_redirects is False
        assert made.headers["user-agent"].startswith("oauthcli/")


# --- safety: time and transport failures ----------------------------------------------------


def test_slow_server_times_out(odd_server):
    with transport.make_client(timeout=0.2) as impatient, pytest.raises(RemoteError) as caught:
        grant(impatient, odd_server.url + "/slow")
    assert str(caught.value) == f"timed out after 0.2 s contacting {odd_server.url}/slow"
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_trickling_body_hits_the_overall_deadline(odd_server):
    # Each byte comes within the per-read timeout; the whole body does not.
    with transport.make_client(timeout=0.5) as impatient, pytest.raises(RemoteError) as caught:
        grant(impatient, odd_server.url + "/trickle")
    assert "timed out after 0.5 s contacting" in str(caught.value)


def test_connection_refused_is_a_remote_error(client):
    # A bound socket that never listens: its port is ours and certainly refuses connections.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/token"
        with pytest.raises(RemoteError, match=f"^could not connect to {re.escape(url)}: "):
            grant(client, url)


def test_dropped_connection_is_a_remote_error():
    # A connection dropped mid-answer cannot be staged reliably by a real server.
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with (
        httpx.Client(transport=httpx.MockTransport(drop)) as dropping,
        pytest.raises(RemoteError, match=r"network error talking to http://127\.0\.0\.1/token"),
    ):
        grant(dropping, "http://127.0.0.1/token")


def test_token_response_repr_hides_tokens(tutorial_server, client):
    token = grants.password_grant(client, tutorial_server.token_url, "alice", "secret", ["me"])
    assert token.access_token not in repr(token)
    assert token.refresh_token is not None and token.refresh_token not in repr(token)


def test_server_text_that_already_names_the_failure_is_not_prefixed_twice(odd_server, client):
    url = f"{odd_server.url}/rfc/invalid_scope?description=Scope+not+granted:+items"
    with pytest.raises(AuthenticationError) as caught:
        grant(client, url)
    assert str(caught.value) == "Scope not granted: items"


def test_a_one_letter_password_does_not_garble_the_server_message(odd_server, client):
    url = f"{odd_server.url}/rfc/invalid_grant?description=Incorrect+username+or+password"
    with pytest.raises(AuthenticationError) as caught:
        grants.password_grant(client, url, "alice", "c", None)
    assert str(caught.value) == "Incorrect username or password"
