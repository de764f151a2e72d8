"""oauthcli.client.answer: every shape of token endpoint answer, table-driven (no network)."""

from __future__ import annotations

import json

import pytest

from oauthcli.client.answer import TokenResponse, describe_body, interpret
from oauthcli.errors import AuthenticationError, RemoteError

JSON = "application/json"


def answer(status: int, body: object, grant: str = "password", secrets: tuple[str, ...] = ()):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return interpret(status, "Reason", raw, JSON, grant=grant, secrets=secrets)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"access_token": "a", "token_type": "bearer"},
            {"token_type": "Bearer", "expires_in": None, "refresh_token": None, "scope": None},
        ),
        (
            {"access_token": "a", "token_type": "Bearer", "expires_in": "3600", "scope": "me"},
            {"expires_in": 3600, "scope": "me"},
        ),
        ({"access_token": "a", "token_type": "BEARER", "expires_in": 59.9}, {"expires_in": 59}),
        (
            {"access_token": "a", "token_type": "bearer", "scope": ["me", "items"]},
            {"scope": "me items"},
        ),
        (
            {"access_token": "a", "token_type": "bearer", "refresh_token": ""},
            {"refresh_token": None},
        ),
        (
            {"access_token": "a", "token_type": "bearer", "refresh_token": "r"},
            {"refresh_token": "r"},
        ),
        # a 200 carrying an error code but also a token: the token wins
        ({"access_token": "a", "token_type": "bearer", "error": "x"}, {"access_token": "a"}),
    ],
)
def test_accepted_answers(body, expected):
    token = answer(200, body)
    assert isinstance(token, TokenResponse)
    assert token.raw == body
    for name, value in expected.items():
        assert getattr(token, name) == value, name


@pytest.mark.parametrize(
    ("status", "body", "grant", "error", "reason", "message"),
    [
        (200, {"token_type": "bearer"}, "password", RemoteError, "bad_answer", "has no access_token"),
        (200, {"access_token": "a", "token_type": "mac"}, "password", RemoteError, "bad_answer",
         "unsupported token_type 'mac'"),
        (200, {"access_token": "a"}, "password", RemoteError, "bad_answer", "(missing)"),
        (200, {"access_token": "a", "token_type": "bearer", "expires_in": -1}, "password",
         RemoteError, "bad_answer", "expires_in '-1' is not a number of seconds"),
        (200, {"access_token": "a", "token_type": "bearer", "expires_in": 999999999999},
         "password", RemoteError, "bad_answer", "expires_in 999999999999 is beyond 100 years"),
        (200, {"access_token": "a", "token_type": "bearer", "expires_in": 1e400},
         "password", RemoteError, "bad_answer", "is not a number of seconds"),
        (200, {"access_token": "a", "token_type": "bearer", "expires_in": "nan"},
         "password", RemoteError, "bad_answer", "is not a number of seconds"),
        (200, {"access_token": "a", "token_type": "bearer", "expires_in": True}, "password",
         RemoteError, "bad_answer", "is not a number of seconds"),
        (200, {"access_token": "a", "token_type": "bearer", "scope": 3}, "password",
         RemoteError, "bad_answer", "scope is not a string"),
        (200, {"access_token": "a", "token_type": "bearer", "refresh_token": 3}, "password",
         RemoteError, "bad_answer", "refresh_token is not a string"),
        (200, [1, 2], "password", RemoteError, "bad_answer", "JSON that is not an object"),
        (200, {"error": "invalid_grant"}, "password", AuthenticationError, "invalid_grant",
         "incorrect username or password"),
        (400, {"error": "invalid_grant", "error_description": "Bad password"}, "password",
         AuthenticationError, "invalid_grant", "Bad password"),
        (401, {"error": "invalid_client"}, "password", AuthenticationError, "invalid_client",
         "client authentication failed: check the client id and secret"),
        (400, {"error": "invalid_scope", "error_description": "Scope not granted: items"},
         "password", AuthenticationError, "invalid_scope", "Scope not granted: items"),
        (400, {"error": "unauthorized_client"}, "client_credentials", AuthenticationError,
         "unauthorized_client", "may not use the client_credentials grant"),
        (400, {"error": "unsupported_grant_type"}, "password", RemoteError,
         "unsupported_grant_type", "does not support the password grant"),
        (400, {"error": "invalid_request", "error_description": "x"}, "password", RemoteError,
         "invalid_request", "rejected the request as malformed: x"),
        (400, {"detail": "Incorrect username or password"}, "password", AuthenticationError,
         "invalid_grant", "Incorrect username or password"),
        (401, {"detail": "Bad"}, "client_credentials", AuthenticationError, "invalid_client",
         "client authentication failed: Bad"),
        (400, {"error": "invalid_grant"}, "refresh_token", AuthenticationError, "invalid_grant",
         "refresh token rejected (expired or revoked): log in again"),
        (422, {"detail": [{"loc": ["body", "username"], "msg": "Field required"}]}, "password",
         RemoteError, "http_status", "username: Field required"),
        (500, {"detail": "boom"}, "password", RemoteError, "http_status", "failed with 500"),
        (200, {"error": "temporarily_unavailable"}, "password", RemoteError, "http_status",
         "the token endpoint failed with 200"),
        (401, b"", "password", AuthenticationError, "invalid_grant", "incorrect username"),
        # glewlwyd refuses a refresh with a bare 400
        (400, b"", "refresh_token", AuthenticationError, "invalid_grant",
         "refresh token rejected (expired or revoked): log in again"),
        (400, b"<html>Bad request</html>", "password", RemoteError, "bad_answer", "an HTML page"),
        (502, b"<html>Bad gateway</html>", "password", RemoteError, "bad_answer", "an HTML page"),
        (200, b"", "password", RemoteError, "bad_answer", "an empty body"),
        (200, b"[" * 100_000, "password", RemoteError, "bad_answer", "a non-JSON body"),
    ],
)  # fmt: skip
def test_refused_answers(status, body, grant, error, reason, message):
    with pytest.raises(error) as caught:
        answer(status, body, grant)
    assert type(caught.value) is error
    assert caught.value.reason == reason
    assert message in str(caught.value)


def test_server_text_is_cleaned_and_secrets_masked():
    body = {
        "error": "invalid_grant",
        "error_description": "\x1b]0;x\x07bad s3cret!\u202e\r\nforged",
    }
    with pytest.raises(AuthenticationError) as caught:
        answer(400, body, secrets=("s3cret!",))
    assert str(caught.value) == "bad *** forged"


def test_long_server_text_is_capped():
    with pytest.raises(AuthenticationError) as caught:
        answer(400, {"detail": "x" * 5000})
    assert len(str(caught.value)) <= 200


@pytest.mark.parametrize(
    ("body", "content_type", "described"),
    [
        (b"", "", "an empty body"),
        (b"  <!doctype html>", "text/plain", "an HTML page"),
        (b"hi", "text/html; charset=utf-8", "an HTML page"),
        (b"hi", "text/plain", "a non-JSON body (text/plain)"),
        (b"hi", "", "a non-JSON body (no content type)"),
        (b"3", JSON, "JSON that is not an object"),
    ],
)
def test_describe_body(body, content_type, described):
    assert describe_body(body, content_type) == described
