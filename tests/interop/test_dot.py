"""Against django-oauth-toolkit: login --issuer-url, revoke, introspect and refresh."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.interop.dot_provider import DOT_PASSWORD, DOT_SECRET, dot_provider

__all__ = ["dot_provider"]  # fixture, imported for pytest to find


# DOT warns (in the server) that the password grant is discouraged by RFC 9700; the test
# uses it because it gives a user's refresh token without a browser.
@pytest.mark.filterwarnings("ignore:The OAuth 2.0 resource owner password:DeprecationWarning")
def test_revoke_and_introspect_find_the_endpoints_only_rfc8414_lists(cli, dot_provider, tmp_path):
    import httpx

    with httpx.Client(trust_env=False) as http:
        openid = http.get(dot_provider.issuer + "/.well-known/openid-configuration").json()
        rfc8414 = http.get(dot_provider.issuer + "/.well-known/oauth-authorization-server").json()
    # what the review saw: the OpenID document lacks them, the RFC 8414 one has them
    assert "revocation_endpoint" not in openid and "introspection_endpoint" not in openid
    assert rfc8414["issuer"] == openid["issuer"] == dot_provider.issuer
    assert "revocation_endpoint" in rfc8414 and "introspection_endpoint" in rfc8414

    secret = tmp_path / "secret"
    secret.write_text(DOT_SECRET + "\n")
    secret.chmod(0o600)
    client = ["--client-id", dot_provider.client_id, "--client-secret-file", str(secret)]
    login = cli(
        "login",
        "alice",
        "--issuer-url",
        dot_provider.issuer,
        *client,
        "--scope",
        "read",
        "--password-stdin",
        "--json",
        input=DOT_PASSWORD + "\n",
    )
    assert login.exit_code == 0, login.stderr
    access = json.loads(login.stdout)["access_token"]
    lookup = ["introspect", "-", "--issuer-url", dot_provider.issuer, *client, "--json"]
    active = cli(*lookup, input=access + "\n")
    assert active.exit_code == 0, active.stderr
    assert json.loads(active.stdout)["active"] is True

    revoked = cli("revoke")  # exit 2 "knows no revocation endpoint" before
    assert revoked.exit_code == 0, revoked.stderr
    inactive = cli(*lookup, input=access + "\n")
    assert inactive.exit_code == 4 and json.loads(inactive.stdout)["active"] is False
    # the refresh token was revoked too: refreshing is a refusal, exit 3
    assert_one_line_error(cli("refresh"), 3, "refresh token rejected")
