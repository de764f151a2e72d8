"""``oauthcli exchange`` (RFC 8693) against ``oauthcli serve``: a GitHub Actions job's OIDC token
(from a local stand-in of the runner's token endpoint, which serve trusts as an issuer), and a
token piped on stdin; the subject token is in no output, log or file afterwards."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from oauthcli.keys import generate, jwks_from_files
from oauthcli.passwords import hash_password
from oauthcli.server.run import base_url, bind
from oauthcli.store import Client, UserStore
from tests.apps_serve.live import ROUNDS, live_server, login, serve_socket
from tests.conftest import assert_one_line_error

SECRET = "ci-client-secret-0123456789"
RUNNER_SECRET = "runner-request-token-0123456789"


@contextmanager
def runner(key: Path) -> Iterator[tuple[str, list[dict]]]:
    """A stand-in of GitHub's job token endpoint: ``GET /token?...&audience=A`` with the
    request token as bearer answers ``{"value": <JWT>}``; its keys at ``/jwks``."""
    issued: list[dict] = []
    kid = jwks_from_files([key])["keys"][0]["kid"]
    where: dict[str, str] = {}

    async def token(request) -> JSONResponse:
        if request.headers.get("authorization") != f"bearer {RUNNER_SECRET}":
            return JSONResponse({"message": "bad credentials"}, status_code=401)
        now = int(time.time())
        claims = {"iss": where["url"], "sub": "repo:octo/app:ref:refs/heads/main",
                  "aud": request.query_params["audience"], "actor": "alice",
                  "iat": now, "exp": now + 300}  # fmt: skip
        value = jwt.encode(claims, key.read_bytes(), algorithm="ES256", headers={"kid": kid})
        issued.append({"query": dict(request.query_params), "value": value})
        return JSONResponse({"count": 1, "value": value})

    async def jwks(request) -> JSONResponse:
        return JSONResponse(jwks_from_files([key]))

    app = Starlette(routes=[Route("/token", token), Route("/jwks", jwks)])
    sock = bind("127.0.0.1", 0)
    where["url"] = base_url("127.0.0.1", sock.getsockname()[1])
    with serve_socket(app, sock):
        yield where["url"], issued


@pytest.fixture
def setup(store_path: Path, tmp_path: Path, monkeypatch):
    key = tmp_path / "runner.pem"
    key.write_bytes(generate("ES256"))
    with runner(key) as (runner_url, issued):
        with UserStore(store_path).edit() as data:
            data.clients["ci"] = Client("ci", hash_password(SECRET, ROUNDS), ["me"],
                                        token_exchange=True)  # fmt: skip
            data.other["trusted_issuers"] = {
                "github": {
                    "issuer": runner_url,
                    "jwks_url": runner_url + "/jwks",
                    "algorithms": ["ES256"],
                    "user_claim": "actor",
                }
            }
        secret = tmp_path / "ci.secret"
        secret.write_text(SECRET + "\n")
        secret.chmod(0o600)
        with live_server(store_path) as server:
            monkeypatch.setenv(
                "ACTIONS_ID_TOKEN_REQUEST_URL", runner_url + "/token?api-version=2.0"
            )
            monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNNER_SECRET)
            yield server, secret, issued


def every_file(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                yield path, path.read_bytes()


def test_github_actions_token_is_exchanged_and_never_shown_or_kept(
    cli, setup, isolated_env, caplog, tmp_path
):
    server, secret, issued = setup
    caplog.set_level(logging.DEBUG)
    result = cli(
        "exchange", "--issuer-url", server.url, "--client-id", "ci",
        "--client-secret-file", str(secret), "--subject-token-source", "github-actions",
        "--scope", "me", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (fetched,) = issued
    # the job's token was asked for serve (the default --subject-audience: the issuer)
    assert fetched["query"] == {"api-version": "2.0", "audience": server.url}
    access = json.loads(result.stdout)["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["client_id"] == "ci"
    token = cli("token")
    assert token.exit_code == 0 and token.stdout.strip() == access
    # the subject token and the runner's request token: in no output, log or file
    for secret_value in (fetched["value"], RUNNER_SECRET):
        for text in (result.stdout, result.stderr, token.stdout, caplog.text):
            assert secret_value not in text
        for path, data in every_file(isolated_env, Path(str(tmp_path))):
            assert secret_value.encode() not in data, path


def test_a_token_on_stdin_is_exchanged(cli, setup):
    server, secret, _ = setup
    mine = login(server, scope="me").json()["access_token"]
    result = cli(
        "exchange", "--issuer-url", server.url, "--client-id", "ci",
        "--client-secret-file", str(secret), "--subject-token", "-", "--print",
        input=mine + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert new != mine
    assert jwt.decode(new, options={"verify_signature": False})["client_id"] == "ci"


def test_a_literal_token_on_argv_is_refused(cli):
    literal = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    result = cli(
        "exchange", "--issuer-url", "https://idp.example", "--client-id", "ci",
        "--subject-token", literal,
    )  # fmt: skip
    assert_one_line_error(result, 2, "--subject-token takes '-'", "visible to every user")
    assert literal not in result.output


def test_github_actions_source_needs_the_runners_variables(cli, monkeypatch):
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", raising=False)
    result = cli(
        "exchange", "--issuer-url", "https://idp.example", "--client-id", "ci",
        "--subject-token-source", "github-actions",
    )  # fmt: skip
    assert_one_line_error(result, 7, "ACTIONS_ID_TOKEN_REQUEST_URL", "id-token: write")


def test_a_runner_token_that_is_no_header_value_is_one_line(cli, monkeypatch):
    # it goes into an Authorization header: anything else was an internal error
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:9/token")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t\u00f6k-runner-secret")
    result = cli(
        "exchange", "--issuer-url", "https://idp.example", "--client-id", "ci",
        "--subject-token-source", "github-actions",
    )  # fmt: skip
    assert_one_line_error(result, 7, "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "visible ASCII")
    assert "runner-secret" not in result.stderr


def test_a_refused_exchange_masks_the_subject_token(cli, setup):
    server, _, _ = setup
    wrong = Path(str(setup[1]) + ".wrong")
    wrong.write_text("not-the-secret-0123456789\n")
    wrong.chmod(0o600)
    mine = login(server, scope="me").json()["access_token"]
    result = cli(
        "exchange", "--issuer-url", server.url, "--client-id", "ci",
        "--client-secret-file", str(wrong), "--subject-token", "-", input=mine + "\n",
    )  # fmt: skip
    assert_one_line_error(result, 3, "client authentication failed")
    assert mine not in result.output


def test_exchange_at_oidc_provider(cli, oidc_provider):
    """panva's oidc-provider with a token-exchange grant registered (tests/oidc/provider.mjs)."""
    import httpx

    from tests.oidc.harness import CONFIDENTIAL_SECRET, secret_file

    with httpx.Client(trust_env=False, timeout=30) as http:
        answer = http.post(
            oidc_provider.issuer + "/token",
            data={"grant_type": "client_credentials", "scope": "api:read"},
            auth=("confidential", CONFIDENTIAL_SECRET),
        )
    assert answer.status_code == 200, answer.text
    subject = answer.json()["access_token"]
    secret = secret_file(Path(str(oidc_provider.log.parent)), "exchanger-secret-0123456789")
    result = cli(
        "exchange", "--issuer-url", oidc_provider.issuer, "--client-id", "exchanger",
        "--client-secret-file", str(secret), "--subject-token", "-", "--json",
        input=subject + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exchanged = json.loads(result.stdout)["access_token"]
    assert exchanged and exchanged != subject and subject not in result.output
    assert oidc_provider.token_requests()[-1]["grant_type"] == (
        "urn:ietf:params:oauth:grant-type:token-exchange"
    )
    assert cli("token").stdout.strip() == exchanged
