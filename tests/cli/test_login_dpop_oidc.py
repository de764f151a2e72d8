"""``login --dpop`` against panva's oidc-provider (its ``features.dPoP``, nonces required):
a provider nobody here wrote binds the tokens of the browser and client-credentials grants
to the profile's key, and ``call`` of its DPoP-protected userinfo answers the nonce
challenge (RFC 9449 9); the same token without its proof is refused there."""

from __future__ import annotations

import json

import jwt

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.oidc.harness import CONFIDENTIAL_SECRET, secret_file


def cached():
    return TokenCache(settings.cache_dir()).load("default")


def key_thumbprint(cli, url: str) -> str:
    """The jkt of the profile's key, read off a proof ``header`` makes."""
    from oauthcli.jose import thumbprint

    shown = cli("header", "--htm", "GET", "--htu", url)
    assert shown.exit_code == 0, shown.output
    proof = shown.stdout.strip().splitlines()[1].removeprefix("DPoP: ")
    return thumbprint(jwt.get_unverified_header(proof)["jwk"])


def test_browser_login_with_dpop_and_a_call_of_userinfo_through_the_nonce_challenge(
    cli, oidc_provider_dpop_nonce, standin_browser
):
    op = oidc_provider_dpop_nonce
    result = cli("login", "--issuer-url", op.issuer, "--client-id", "public", "--dpop",
                 "--scope", "openid email offline_access", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["token_type"] == "dpop"
    entry = cached()
    assert entry.token_type == "dpop"
    # dpop_jkt went to /authorize (RFC 9449 10), naming the profile's key.
    userinfo = entry.endpoints["userinfo"]
    assert f"dpop_jkt={key_thumbprint(cli, userinfo)}" in result.stderr

    called = cli("call", userinfo)
    assert called.exit_code == 0, called.output
    assert json.loads(called.stdout)["sub"] == "alice"
    # The bound token alone, as a bearer token, is refused by the provider.
    bare = cli("call", userinfo, "--token", entry.access_token)
    assert bare.exit_code == 3, bare.output
    # The refresh keeps the binding (a public client's refresh token is bound, RFC 9449 5).
    assert cli("refresh").exit_code == 0, "refresh"
    assert cached().token_type == "dpop"
    assert cli("call", userinfo).exit_code == 0
    info = cli("userinfo", "--json")
    assert info.exit_code == 0, info.output


def test_client_credentials_with_dpop_get_a_bound_token(cli, oidc_provider_dpop_nonce, tmp_path):
    op = oidc_provider_dpop_nonce
    secret = secret_file(tmp_path, CONFIDENTIAL_SECRET)
    api = "https://api.example.test/batch"
    result = cli("login", "--issuer-url", op.issuer, "--grant", "client-credentials",
                 "--client-id", "confidential", "--client-secret-file", str(secret),
                 "--resource", api, "--scope", "api:read", "--dpop", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    token = json.loads(result.stdout)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})  # a JWT for the API
    assert claims["cnf"]["jkt"] == key_thumbprint(cli, api)
    assert cached().token_type == "dpop"
