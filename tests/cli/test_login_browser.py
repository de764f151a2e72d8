"""``login --issuer-url --grant authorization-code`` against a real OpenID provider.

The provider is panva's oidc-provider on 127.0.0.1 (tests/oidc); the person at the
browser is tests/oidc/browser.py, set as $BROWSER, filling the provider's own pages.
"""

from __future__ import annotations

import json

import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.oidc.browser import FORGED_CODE
from tests.oidc.harness import CONFIDENTIAL_POST_SECRET, CONFIDENTIAL_SECRET, secret_file


@pytest.fixture(autouse=True)
def a_person_is_here(monkeypatch):
    """These logins have a person at hand (the stand-in browser, or the test itself),
    though the in-process runner's stdin is no terminal."""
    monkeypatch.setenv("OAUTHCLI_INTERACTIVE", "1")


def cached(profile: str = "default"):
    return TokenCache(settings.cache_dir()).load(profile)


def last_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("oauthcli: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


def test_public_client_logs_in_with_pkce_and_gets_a_verified_id_token(
    cli, oidc_provider, standin_browser
):
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--scope",
        "openid email",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    # the authorization URL is always shown on stderr, with PKCE S256, state and nonce
    assert "code_challenge_method=S256" in result.stderr
    assert "state=" in result.stderr and "nonce=" in result.stderr
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == "public"
    entry = cached()
    assert entry.id_token == answer["id_token"]
    assert entry.access_token == answer["access_token"]
    assert entry.grant == "authorization_code" and entry.client_auth == "none"
    assert entry.endpoints["userinfo"].startswith(oidc_provider.issuer)
    assert entry.issuer == oidc_provider.issuer and entry.username == "alice"
    requests = [
        r for r in oidc_provider.token_requests() if r.get("grant_type") == "authorization_code"
    ]
    assert requests[-1]["client_id"] == "public" and not requests[-1]["basic"]


def test_confidential_client_with_basic_auth_gets_a_refresh_token_with_offline_access(
    cli, oidc_provider, standin_browser, tmp_path
):
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
        "openid offline_access",
    )
    assert result.exit_code == 0, result.output
    assert CONFIDENTIAL_SECRET not in result.output
    entry = cached()
    assert entry.refresh_token and entry.client_auth == "basic"
    assert "prompt=consent" in result.stderr  # OIDC Core 11: offline_access needs consent
    requests = oidc_provider.token_requests()
    assert requests[-1]["basic"] is True
    # the refresh token works, and the refreshed profile keeps a verified ID token
    refreshed = cli("refresh", "--json")
    assert refreshed.exit_code == 0, refreshed.output
    assert cached().access_token != entry.access_token
    assert cached().id_token


def test_confidential_client_with_post_auth(cli, oidc_provider, standin_browser, tmp_path):
    secret = secret_file(tmp_path, CONFIDENTIAL_POST_SECRET)
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "confidential-post",
        "--client-secret-file",
        str(secret),
        "--client-auth",
        "post",
    )
    assert result.exit_code == 0, result.output
    assert cached().client_auth == "post"


def test_wrong_password_is_exit_3_and_nothing_is_cached(
    cli, oidc_provider, standin_browser, monkeypatch
):
    monkeypatch.setenv("OIDC_STANDIN_PASSWORD", "not-the-password")
    before = len(oidc_provider.token_requests())
    result = cli("login", "--issuer-url", oidc_provider.issuer, "--client-id", "public")
    assert result.exit_code == 3, result.output
    assert "access_denied" in last_error_line(result)
    assert cached() is None
    assert len(oidc_provider.token_requests()) == before  # no code, nothing redeemed


def test_denied_consent_is_exit_3_with_the_providers_words(
    cli, oidc_provider, standin_browser, monkeypatch
):
    monkeypatch.setenv("OIDC_STANDIN_ACTION", "deny")
    result = cli("login", "--issuer-url", oidc_provider.issuer, "--client-id", "public")
    assert result.exit_code == 3, result.output
    line = last_error_line(result)
    assert "access_denied" in line and "aborted" in line
    assert cached() is None


def test_a_forged_callback_with_the_wrong_state_is_refused_and_never_redeemed(
    cli, oidc_provider, standin_browser, monkeypatch
):
    monkeypatch.setenv("OIDC_STANDIN_FORGE", "1")
    result = cli("login", "--issuer-url", oidc_provider.issuer, "--client-id", "public")
    assert result.exit_code == 0, result.output
    report = json.loads(standin_browser.read_text().splitlines()[-1])
    assert report["forged_status"] == 400
    assert report["final_status"] == 200
    assert "ignored 1 answer" in result.stderr
    codes = [r.get("code") for r in oidc_provider.token_requests()]
    assert FORGED_CODE not in codes
    assert cached() is not None


def test_no_browser_only_prints_the_url_and_gives_up_after_the_timeout(
    cli, oidc_provider, standin_browser
):
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--no-browser",
        "--timeout",
        "0.5",
    )
    assert result.exit_code == 3, result.output
    assert f"{oidc_provider.issuer}/auth?" in result.stderr
    assert "no answer from the browser" in last_error_line(result)
    assert not standin_browser.exists()  # nothing was opened
    assert cached() is None


def test_resource_yields_a_jwt_access_token_for_that_api(cli, oidc_provider, standin_browser):
    api = "https://api.example.test/orders"
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--scope",
        "openid api:read",
        "--resource",
        api,
        "--json",
    )
    assert result.exit_code == 0, result.output
    access = json.loads(result.stdout)["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["aud"] == api and "api:read" in claims["scope"]
    assert cached().resources == [api]
    # the token verifies against the provider's keys, as the API would check it
    verified = cli("verify", access, "--issuer-url", oidc_provider.issuer, "--audience", api)
    assert verified.exit_code == 0, verified.output


def test_private_key_jwt_client_authenticates_with_a_signed_assertion(
    cli, oidc_provider, standin_browser
):
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "pkjwt",
        "--client-auth",
        "private-key-jwt",
        "--client-key",
        str(oidc_provider.client_key),
    )
    assert result.exit_code == 0, result.output
    last = oidc_provider.token_requests()[-1]
    assert last["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    # the issuer as aud (draft-ietf-oauth-rfc7523bis), which oidc-provider accepts
    assert last["client_assertion_aud"] == oidc_provider.issuer
    assert cached().client_auth == "private-key-jwt"


def test_registered_redirect_uri_is_used_as_given(cli, oidc_provider, standin_browser):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}/callback"
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--redirect-uri",
        uri,
    )
    assert result.exit_code == 0, result.output
    assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcallback" in result.stderr


@pytest.mark.parametrize(
    "uri", ["https://app.example/cb", "http://127.0.0.1/cb", "http://10.0.0.1:80/cb"]
)
def test_redirect_uri_must_be_loopback_with_a_port(cli, oidc_provider, uri):
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--redirect-uri",
        uri,
    )
    assert result.exit_code == 2
    assert "--redirect-uri must be" in last_error_line(result)


def test_param_audience_and_resource_reach_the_authorization_url(
    cli, oidc_provider, standin_browser
):
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--param",
        "login_hint=alice",
        "--param",
        "acr_values=urn:mace:silver",
        "--audience",
        "https://api.example.test/aud",
        "--no-browser",
        "--timeout",
        "0.2",
    )
    assert result.exit_code == 3
    assert "login_hint=alice" in result.stderr and "acr_values=urn%3Amace%3Asilver" in result.stderr
    assert "audience=https%3A%2F%2Fapi.example.test%2Faud" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "state=mine"], "set by oauthcli itself"),
        (["--param", "novalue"], "NAME=VALUE"),
        (["--resource", "not-absolute"], "absolute URI"),
        (["--url", "http://127.0.0.1:1/token"], "contradict"),
        (["--client-key", "k.pem", "--client-auth", "basic"], "--client-key"),
    ],
)
def test_bad_provider_options_are_usage_errors_before_any_login(cli, oidc_provider, args, message):
    result = cli("login", "--issuer-url", oidc_provider.issuer, "--client-id", "public", *args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert message in last_error_line(result)
    assert cached() is None


@pytest.mark.parametrize(
    "args",
    [["--resource", "https://api.example.test/x"], ["--grant", "device-code"], ["--no-browser"]],
)
def test_provider_options_need_issuer_url(cli, args):
    result = cli("login", "--url", "http://127.0.0.1:1/token", *args)
    assert result.exit_code == 2
    assert "needs --issuer-url" in last_error_line(result)


def test_discovery_must_name_the_issuer_given(cli, oidc_provider):
    other = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    result = cli("login", "--issuer-url", other, "--client-id", "public")
    assert result.exit_code == 6
    assert "names issuer" in last_error_line(result)


def test_public_and_private_key_jwt_clients_refresh_with_their_own_authentication(
    cli, oidc_provider, standin_browser
):
    for args in (
        ["--client-id", "public"],
        ["--client-id", "pkjwt", "--client-key", str(oidc_provider.client_key)],
    ):
        result = cli(
            "login",
            "--issuer-url",
            oidc_provider.issuer,
            *args,
            "--scope",
            "openid offline_access",
        )
        assert result.exit_code == 0, result.output
        before = cached()
        refreshed = cli("refresh")
        assert refreshed.exit_code == 0, refreshed.output
        assert cached().access_token != before.access_token
        last = oidc_provider.token_requests()[-1]
        assert last["grant_type"] == "refresh_token" and not last["basic"]
        revoked = cli("revoke")
        assert revoked.exit_code == 0, revoked.output


def test_client_credentials_at_the_provider_with_private_key_jwt_and_a_resource(cli, oidc_provider):
    api = "https://api.example.test/batch"
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--grant",
        "client-credentials",
        "--client-id",
        "pkjwt",
        "--client-key",
        str(oidc_provider.client_key),
        "--resource",
        api,
        "--scope",
        "api:read",
        "--json",
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        json.loads(result.stdout)["access_token"], options={"verify_signature": False}
    )
    assert claims["aud"] == api and claims["client_id"] == "pkjwt"
    entry = cached()
    assert entry.grant == "client_credentials" and entry.username is None
    # the token may go to the API it was asked for, and still nowhere else
    assert entry.allowed_origins == ["https://api.example.test"]
    refused = cli("call", "https://elsewhere.example.test/x")
    assert refused.exit_code == 2 and "refusing to send" in refused.stderr


def test_a_grant_the_provider_does_not_offer_is_exit_6(cli, oidc_provider, tmp_path):
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)
    result = cli(
        "login",
        "alice",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "confidential",
        "--client-secret-file",
        str(secret),
        "--password-stdin",
        input="wonderland\n",
    )
    assert result.exit_code == 6, result.output
    assert "does not support the password grant" in last_error_line(result)
    assert cached() is None


def test_refresh_with_resource_asks_for_a_token_for_another_api(
    cli, oidc_provider, standin_browser
):
    first, second = "https://api.example.test/one", "https://api.example.test/two"
    result = cli(
        "login",
        "--issuer-url",
        oidc_provider.issuer,
        "--client-id",
        "public",
        "--scope",
        "openid offline_access api:read",
        "--resource",
        first,
        "--resource",
        second,
    )
    assert result.exit_code == 0, result.output
    refreshed = cli("refresh", "--resource", second, "--json")
    assert refreshed.exit_code == 0, refreshed.output
    access = json.loads(refreshed.stdout)["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["aud"] == second
    assert oidc_provider.token_requests()[-1]["resource"] == second
    assert cached().resources == [second, first]
