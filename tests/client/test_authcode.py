"""The browser login's mix-up defence (RFC 9207, RFC 9700 4.4) against a real provider site."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oauthcli.client import oidc_login as login
from oauthcli.errors import AuthenticationError
from oauthcli.http import make_client
from tests._jwks_server import JsonSite


def answering_browser(**extra: str):
    """A browser at a provider that approves at once and redirects back without ``iss``."""

    def opener(url: str) -> bool:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        params = {"code": "the-code", "state": query["state"], **extra}
        with httpx.Client(trust_env=False, timeout=10) as browser:
            browser.get(query["redirect_uri"], params=params)
        return True

    return opener


def provider(site: JsonSite, url: str, authorize: str) -> None:
    site.routes["/.well-known/openid-configuration"] = {
        "issuer": url,
        "authorization_endpoint": authorize,
        "token_endpoint": url + "/token",
        "code_challenge_methods_supported": ["S256"],
    }
    site.routes["/token"] = {"access_token": "at", "token_type": "Bearer", "expires_in": 60}


def run(url: str, opener) -> object:
    request = login.ProviderLogin(
        issuer=url, grant="authorization-code", client_id="c", client_auth="none", scopes=["api"]
    )
    io = login.Interaction(notify=lambda m: None, opener=opener)
    with make_client(10) as http:
        return login.login(http, request, io)


def test_an_authorization_endpoint_on_another_origin_needs_iss_in_the_answer():
    site, elsewhere = JsonSite(), JsonSite()
    with site.serve() as url, elsewhere.serve() as other:
        provider(site, url, other + "/authorize")
        with pytest.raises(AuthenticationError, match=r"issuer \(iss\) is missing"):
            run(url, answering_browser())
        assert "/token" not in site.requests  # the code was never redeemed
        # with the issuer named in the answer (RFC 9207 2), the login goes through
        entry = run(url, answering_browser(iss=url))
        assert entry.access_token == "at"


def test_an_authorization_endpoint_on_the_issuers_origin_needs_no_iss():
    site = JsonSite()
    with site.serve() as url:
        provider(site, url, url + "/authorize")
        assert run(url, answering_browser()).access_token == "at"
