"""``token``, ``revoke``, ``introspect``, ``userinfo``, ``logout`` and ``--id-token`` for a
profile from a real OpenID provider (oidc-provider on 127.0.0.1, stand-in browser)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.oidc.harness import CONFIDENTIAL_SECRET, secret_file


def cached(profile: str = "default"):
    return TokenCache(settings.cache_dir()).load(profile)


@pytest.fixture
def logged_in(cli, oidc_provider, standin_browser, tmp_path):
    """alice, logged in through the browser with the confidential client and a refresh token."""
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "confidential",
        "--client-secret-file",
        str(secret),
        "--scope",
        "openid email offline_access",
    )
    assert result.exit_code == 0, result.output
    return secret


def introspect(cli, provider, secret, token: str, *extra: str):
    return cli(
        "introspect",
        "-",
        "--issuer-url",
        provider.issuer,
        "--client-id",
        "confidential",
        "--client-secret-file",
        str(secret),
        *extra,
        input=token + "\n",
    )


def test_token_prints_the_access_token_and_id_token_prints_the_id_token(cli, logged_in):
    entry = cached()
    result = cli("token")
    assert result.exit_code == 0 and result.stdout == entry.access_token + "\n"
    result = cli("token", "--id-token")
    assert result.exit_code == 0 and result.stdout == entry.id_token + "\n"


def test_token_without_a_profile_is_exit_3(cli):
    result = cli("token")
    assert result.exit_code == 3
    assert "oauthcli login" in result.stderr


def test_token_id_token_of_a_profile_without_one_is_exit_3(cli, store_path):
    assert cli("login", "alice", "--password-stdin", input="secret\n").exit_code == 0
    result = cli("token", "--id-token")
    assert result.exit_code == 3 and "no ID token" in result.stderr


def test_introspection_says_active_then_revoke_makes_both_tokens_inactive(
    cli, oidc_provider, logged_in
):
    entry = cached()
    active = introspect(cli, oidc_provider, logged_in, entry.access_token, "--json")
    assert active.exit_code == 0, active.output
    answer = json.loads(active.stdout)
    assert answer["active"] is True and answer["sub"] == "alice"
    human = introspect(cli, oidc_provider, logged_in, entry.refresh_token)
    assert human.exit_code == 0 and human.stdout.startswith("active: yes\n")

    revoked = cli("revoke")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.stderr

    for token in (entry.refresh_token, entry.access_token):
        gone = introspect(cli, oidc_provider, logged_in, token, "--json")
        assert gone.exit_code == 4, gone.output
        assert json.loads(gone.stdout) == {"active": False}
    plain = introspect(cli, oidc_provider, logged_in, entry.access_token)
    assert plain.exit_code == 4 and "not active" in plain.stderr
    # the profile's own provider and client are used when the options are left out
    by_profile = cli("introspect", "-", input=entry.refresh_token + "\n")
    assert by_profile.exit_code == 4, by_profile.output


def test_logout_revokes_at_the_provider_before_forgetting(cli, oidc_provider, logged_in):
    entry = cached()
    result = cli("logout")
    assert result.exit_code == 0, result.output
    assert "revoked the tokens at the provider" in result.stderr
    assert cached() is None
    gone = introspect(cli, oidc_provider, logged_in, entry.refresh_token, "--json")
    assert gone.exit_code == 4


def test_introspection_with_a_wrong_client_secret_is_exit_3(
    cli, oidc_provider, logged_in, tmp_path
):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    result = introspect(cli, oidc_provider, secret_file(wrong, "not-the-secret"), "x")
    assert result.exit_code == 3, result.output
    assert "not-the-secret" not in result.output
    # the client's authentication was refused, not a grant: the reason says so
    as_json = introspect(cli, oidc_provider, secret_file(wrong, "not-the-secret"), "x", "--json")
    assert as_json.exit_code == 3, as_json.output
    assert json.loads(as_json.stdout)["error"] == "invalid_client"


def test_userinfo_shows_the_users_claims(cli, logged_in):
    result = cli("userinfo", "--json")
    assert result.exit_code == 0, result.output
    claims = json.loads(result.stdout)
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.com"
    human = cli("userinfo")
    assert "email: alice@example.com" in human.stdout


def test_header_and_call_send_the_id_token_when_asked(cli, logged_in):
    seen: list[str] = []

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        entry = cached()
        header = cli("header", "--id-token")
        assert header.stdout == f"Authorization: Bearer {entry.id_token}\n"
        url = f"http://127.0.0.1:{server.server_address[1]}/run"
        result = cli("call", url, "--id-token", "--allow-origin", url)
        assert result.exit_code == 0, result.output
        assert seen == [f"Bearer {entry.id_token}"]
    finally:
        server.shutdown()
        server.server_close()


def test_every_token_output_is_masked_under_github_actions(cli, logged_in, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    entry = cached()
    for args, token in (
        (["header", "--id-token"], entry.id_token),
        (["header"], entry.access_token),
        (["token", "--id-token"], entry.id_token),
        (["token"], entry.access_token),
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert token in result.stdout
        assert f"::add-mask::{token}\n" in result.stderr, args


def test_logout_says_when_it_cannot_revoke_and_still_forgets(cli, oidc_provider, logged_in):
    logged_in.write_text("not-the-secret-any-more\n")  # the client secret changed meanwhile
    result = cli("logout")
    assert result.exit_code == 0, result.output
    assert "could not revoke the tokens" in result.stderr
    assert "not-the-secret-any-more" not in result.output
    assert cached() is None


def test_a_missing_endpoint_is_worded_by_whose_lack_it_is(cli, store_path):
    from oauthcli.client.cache import CacheEntry

    cache = TokenCache(settings.cache_dir())
    cache.save(
        "idp",
        CacheEntry(
            access_token="a",
            source="remote",
            token_url="https://idp.example/token",
            issuer="https://idp.example",
            endpoints={"token": "https://idp.example/token"},
        ),
    )
    result = cli("revoke", "--profile", "idp")
    assert result.exit_code == 6
    assert "the provider https://idp.example publishes no revocation endpoint" in result.stderr
    assert "log in with --issuer-url" not in result.stderr
    assert cli("login", "alice", "--password-stdin", input="secret\n").exit_code == 0
    result = cli("userinfo")
    assert result.exit_code == 2
    assert "profile 'default' was not logged in at an OpenID provider" in result.stderr
    assert "--issuer-url" in result.stderr
