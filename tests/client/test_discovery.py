"""Discovery: the OpenID and RFC 8414 documents of one issuer read together (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json

import httpx
import pytest

from oauthcli.client.discovery import discover_provider
from oauthcli.errors import RemoteError
from tests._jwks_server import JsonSite
from tests.conftest import assert_one_line_error


def dot_documents(url: str, *, rfc8414_issuer: str | None = None) -> dict:
    """What django-oauth-toolkit publishes: its OpenID document lacks revocation and
    introspection, its RFC 8414 document of the same issuer lists them."""
    return {
        "/.well-known/openid-configuration": {
            "issuer": url,
            "authorization_endpoint": url + "/o/authorize/",
            "token_endpoint": url + "/o/token/",
            "userinfo_endpoint": url + "/o/userinfo/",
            "jwks_uri": url + "/o/.well-known/jwks.json",
        },
        "/.well-known/oauth-authorization-server": {
            "issuer": rfc8414_issuer or url,
            "authorization_endpoint": url + "/o/authorize/",
            "token_endpoint": url + "/o/token/",
            "revocation_endpoint": url + "/o/revoke_token/",
            "introspection_endpoint": url + "/o/introspect/",
        },
    }


def test_endpoints_missing_from_the_openid_document_come_from_rfc8414():
    site = JsonSite()
    with site.serve() as url, httpx.Client() as http:
        site.routes.update(dot_documents(url))
        found = discover_provider(url, http)
    assert found.endpoints["revocation"] == url + "/o/revoke_token/"
    assert found.endpoints["introspection"] == url + "/o/introspect/"
    assert found.endpoints["userinfo"] == url + "/o/userinfo/"  # the OpenID document's
    assert found.document_url == url + "/.well-known/openid-configuration"


def test_a_document_naming_another_issuer_adds_nothing():
    site = JsonSite()
    with site.serve() as url, httpx.Client() as http:
        site.routes.update(dot_documents(url, rfc8414_issuer=url + "/other"))
        found = discover_provider(url, http)
    assert "revocation" not in found.endpoints and "introspection" not in found.endpoints
    assert found.endpoints["token"] == url + "/o/token/"


def test_the_first_document_decides_and_a_complete_one_is_read_alone():
    site = JsonSite()
    with site.serve() as url, httpx.Client() as http:
        docs = dot_documents(url)
        # the RFC 8414 document would offer another token endpoint: the first one's stands
        docs["/.well-known/oauth-authorization-server"]["token_endpoint"] = url + "/evil"
        site.routes.update(docs)
        assert discover_provider(url, http).endpoints["token"] == url + "/o/token/"
        site.requests.clear()
        assert discover_provider(url, http, wanted=("jwks",)).endpoints["jwks"]
        assert site.requests == ["/.well-known/openid-configuration"]


def test_an_unreadable_second_document_leaves_the_first_standing():
    site = JsonSite()
    with site.serve() as url, httpx.Client() as http:
        docs = dot_documents(url)
        docs["/.well-known/oauth-authorization-server"] = b"<html>"
        site.routes.update(docs)
        found = discover_provider(url, http)
        assert "revocation" not in found.endpoints
        del site.routes["/.well-known/openid-configuration"]
        site.routes["/.well-known/oauth-authorization-server"] = {"issuer": "https://x.example"}
        with pytest.raises(RemoteError, match="names issuer"):
            discover_provider(url, http)


def test_introspect_finds_the_endpoint_only_the_rfc8414_document_lists(cli, tmp_path):
    # django-oauth-toolkit: exit 2 "profile '<issuer URL>' knows no introspection endpoint" before
    secret = tmp_path / "secret"
    secret.write_text("s3cret-s3cret-s3cret\n")
    secret.chmod(0o600)
    site = JsonSite()
    with site.serve() as url:
        site.routes.update(dot_documents(url))
        site.routes["/o/introspect/"] = {"active": True, "sub": "alice"}
        args = ["introspect", "tok", "--issuer-url", url, "--client-id", "c"]
        result = cli(*args, "--client-secret-file", str(secret), "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == {"active": True, "sub": "alice"}
        assert site.requests[-1] == "/o/introspect/"

        site.routes.update(dot_documents(url, rfc8414_issuer=url + "/other"))
        result = cli(*args, "--client-secret-file", str(secret))
        assert_one_line_error(result, 6, f"the provider {url} publishes no introspection endpoint")
        assert "profile" not in result.stderr and "log in with" not in result.stderr


def test_login_at_an_issuer_stores_the_jwt_expiry_when_the_answer_has_no_expires_in(cli, tmp_path):
    # RFC 6749 5.1: expires_in is only RECOMMENDED; login --url fell back to the JWT's exp,
    # login --issuer-url stored no expiry (so the token was never refreshed before use)
    import time

    import jwt

    from oauthcli import settings
    from oauthcli.client.cache import TokenCache

    exp = int(time.time()) + 600
    token = jwt.encode({"sub": "svc", "exp": exp}, "k" * 32, algorithm="HS256")
    secret = tmp_path / "secret"
    secret.write_text("s3cret-s3cret-s3cret\n")
    secret.chmod(0o600)
    site = JsonSite()
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "token_endpoint": url + "/token",
            "grant_types_supported": ["client_credentials"],
        }
        site.routes["/token"] = {"access_token": token, "token_type": "Bearer"}
        result = cli(
            "login",
            "--issuer-url",
            url,
            "--grant",
            "client-credentials",
            "--client-id",
            "svc",
            "--client-secret-file",
            str(secret),
        )
    assert result.exit_code == 0, result.stderr
    entry = TokenCache(settings.cache_dir()).load("default")
    assert entry is not None and entry.expires_at == exp
