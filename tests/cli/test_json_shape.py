"""One JSON shape: every command's ``--json``, on success and on failure, against the
vocabulary the README documents (the same key for the same thing), and a failure is a JSON
document on stdout too: ``{"error": REASON, "message": TEXT, "exit_code": N}``."""

from __future__ import annotations

import json

import pytest

from oauthcli.verify.verdict import FIELDS as VERDICT
from tests.apps_serve.browser import CONFIDENTIAL, CONFIDENTIAL_SECRET, PUBLIC
from tests.oidc.harness import secret_file

ERROR = ["error", "message", "exit_code"]
# A token endpoint's answer (RFC 6749 5.1): login, refresh and token print it.
TOKEN_RESPONSE = {"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"}


@pytest.fixture
def serve(browser_provider):
    return browser_provider  # tests/conftest.py


def run_json(cli, *args, code: int, stdin: str | None = None) -> dict | list:
    result = cli(*args, input=stdin)
    assert result.exit_code == code, (args, result.output)
    document = json.loads(result.stdout)  # exactly one JSON document, whatever happened
    if code != 0:
        assert result.stderr.startswith("oauthcli: error: ")  # and the line for people
    return document


def is_error(document, code: int) -> None:
    assert list(document) == ERROR, document
    assert document["exit_code"] == code and document["error"] and document["message"]


def test_every_json_command_on_success_and_failure(cli, serve, tmp_path):
    url = serve.url
    # Failures before any login: one error document each, the reason code stable.
    for args, code in [
        (("token", "--json"), 3),
        (("header", "--json"), 3),
        (("userinfo", "--json"), 3),
        (("refresh", "--json"), 3),
        (("status", "--json", "--profile", "none"), 3),
        (("introspect", "x", "--json"), 2),
        (("login", "alice", "--url", "ftp://x/token", "--json"), 2),
        (("issue", "--sub", "", "--json"), 2),
        (("user", "show", "nobody", "--json"), 2),
        (("client", "list", "--json", "--store", str(tmp_path / "none.toml")), 7),
        (("login", "--json", "--bogus-option"), 2),
    ]:
        document = run_json(cli, *args, code=code)
        if args[0] == "status":
            assert document["usable"] is False  # status prints its own document
        else:
            is_error(document, code)
    assert run_json(cli, "introspect", "x", "--json", code=2)["error"] == "usage"

    # Verdicts: verify's shape for decode, verify and audit, on good and bad tokens.
    issued = run_json(cli, "issue", "--sub", "alice", "--scope", "me", "--json", code=0)
    assert list(issued) == ["access_token", "token_type", "expires_in", "header", "payload"]
    token = issued["access_token"]
    for args, code in [
        (("decode", token), 0),
        (("decode", "garbage"), 4),
        (("verify", token, "--issuer-url", url), 4),  # issued without iss: refused
        (("verify", "garbage"), 4),
        (("audit", token), 4),
        (("audit", "garbage"), 4),
    ]:
        document = run_json(cli, *args, "--json", code=code)
        assert list(document)[: len(VERDICT)] == list(VERDICT), (args, document)
        assert document["valid"] is (None if code == 0 else False)
        assert (document["error"] is None) == (code == 0)
    good = run_json(cli, "issue", "--sub", "alice", "--iss", url, "--aud", "api", "--json", code=0)
    verified = run_json(cli, "verify", good["access_token"], "--issuer-url", url, "--json", code=0)
    assert verified["valid"] is True and verified["payload"]["sub"] == "alice"

    # A login at the provider, then every profile command.
    logged = run_json(
        cli, "login", "--issuer-url", url, "--client-id", PUBLIC, "--scope",
        "openid profile me offline_access", "--json", code=0,
    )  # fmt: skip
    assert set(logged) <= TOKEN_RESPONSE and {"access_token", "expires_in", "id_token"} <= set(
        logged
    )
    refreshed = run_json(cli, "refresh", "--json", code=0)
    assert set(refreshed) <= TOKEN_RESPONSE and refreshed["expires_in"] > 0
    current = run_json(cli, "token", "--json", code=0)
    assert set(current) <= TOKEN_RESPONSE - {"refresh_token"}
    assert current["access_token"] == refreshed["access_token"]
    header = run_json(cli, "header", "--json", code=0)
    assert header == {"name": "Authorization", "value": f"Bearer {current['access_token']}"}
    status = run_json(cli, "status", "--json", code=0)
    assert status["usable"] is True and status["profiles"][0]["expires_in"] > 0
    info = run_json(cli, "userinfo", "--json", code=0)
    assert info["sub"] == "alice"
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)
    answer = run_json(
        cli, "introspect", "-", "--issuer-url", url, "--client-id", CONFIDENTIAL,
        "--client-secret-file", str(secret), "--json", code=0,
        stdin=current["access_token"] + "\n",
    )  # fmt: skip
    assert answer["active"] is True
    users = run_json(cli, "user", "list", "--json", code=0)
    assert {u["username"] for u in users} >= {"alice"}
    assert run_json(cli, "profile", "list", "--json", code=0)[0]["profile"] == "default"
