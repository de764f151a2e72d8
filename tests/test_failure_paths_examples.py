"""The README's "Testing your app's failure paths" examples for chosen claims, auto_login,
RP-initiated logout and dynamic client registration, run as written with the plugin's
documented fixtures against an app written the FastAPI tutorial's way.

No ``from __future__ import annotations``: FastAPI resolves a route's annotations in the
module's globals, and this app's dependencies are local to ``make_app``.
"""

import base64
import hashlib
import secrets
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer

CALLBACK = "http://127.0.0.1:9/callback"  # the app's redirect URI (nothing needs to answer)
BYE = "http://127.0.0.1:9/signed-out"


def make_app(token_url: str, secret_key: str) -> FastAPI:
    """The tutorial's OAuth2PasswordBearer + PyJWT, and a route for admins only."""
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl=token_url)

    def current_claims(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
        try:
            return jwt.decode(token, secret_key, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            raise HTTPException(401, "Could not validate credentials") from None

    @app.get("/admin/")
    def admin(claims: Annotated[dict[str, Any], Depends(current_claims)]) -> dict[str, str]:
        if "admin" not in claims.get("roles", []):
            raise HTTPException(403, "Admins only")
        return {"user": claims["sub"]}

    return app


@pytest.fixture(scope="session")
def oauthcli_serve_args():
    return ("--registration", "open")  # for the registration example


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def api(oauthcli_store, oauthcli_provider):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me"], claims={"roles": ["viewer"]})
    oauthcli_store.add_client(
        "web", None, scopes=["me"], redirect_uris=[CALLBACK], post_logout_redirect_uris=[BYE]
    )
    app = make_app(oauthcli_provider.token_url, oauthcli_store.secret)
    transport = httpx.ASGITransport(app=app)  # FastAPI's "Async Tests" way
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_only_admins_reach_the_admin_page(api, oauthcli_provider):
    async def admin_page() -> int:
        token = oauthcli_provider.login("alice", "wonderland").json()["access_token"]
        answer = await api.get("/admin/", headers={"Authorization": f"Bearer {token}"})
        return answer.status_code

    assert await admin_page() == 403  # the store says roles = ["viewer"]
    oauthcli_provider.set_claims("alice", roles=["admin"])
    assert await admin_page() == 200
    oauthcli_provider.clear_claims()
    assert await admin_page() == 403


def authorization_request(**extra: str) -> tuple[str, dict[str, str]]:
    """What a web app's /login redirects to: response_type=code with PKCE."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, {
        "response_type": "code", "client_id": "web", "redirect_uri": CALLBACK,
        "scope": "openid me", "state": "xyz",
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
        **extra,
    }  # fmt: skip


async def test_sign_in_and_out_without_a_browser(api, oauthcli_provider):
    oauthcli_provider.auto_login("alice")  # the next /authorize completes as alice
    with oauthcli_provider.client() as browser:  # keeps the provider's cookies
        verifier, params = authorization_request()
        back = browser.get("/authorize", params=params)  # no login page: straight back
        code = httpx.URL(back.headers["location"]).params["code"]
        tokens = browser.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": "web", "code_verifier": verifier,
        }).json()  # fmt: skip
        assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"] == "alice"

        # RP-initiated logout, as the app's /logout would send the browser:
        config = browser.get("/.well-known/openid-configuration").json()
        out = browser.get(config["end_session_endpoint"], params={
            "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "s1",
        })  # fmt: skip
        assert out.headers["location"] == BYE + "?state=s1"
        silent = browser.get("/authorize", params=authorization_request(prompt="none")[1])
        assert httpx.URL(silent.headers["location"]).params["error"] == "login_required"


async def test_a_client_registers_itself(oauthcli_store, oauthcli_provider):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me"])
    with oauthcli_provider.client() as http:
        config = http.get("/.well-known/openid-configuration").json()
        client = http.post(config["registration_endpoint"], json={
            "client_name": "my-app", "grant_types": ["client_credentials"],
        }).json()  # fmt: skip
        token = http.post(
            "/token", data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )  # fmt: skip
    assert token.status_code == 200, token.text
