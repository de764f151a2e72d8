"""This project's own tests: real logins at oauthcli's provider, tokens checked by the API."""

import httpx
import jwt
import pytest
from conftest import bearer

pytestmark = pytest.mark.anyio


async def login(api, username, password, scope=""):
    """Log in the way Swagger UI does: at the tokenUrl the API's OpenAPI document names."""
    schemes = (await api.get("/openapi.json")).json()["components"]["securitySchemes"]
    token_url = schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"]
    form = {"username": username, "password": password, "scope": scope}
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        return await http.post(token_url, data=form)


async def test_good_login(api):
    answer = await login(api, "alice", "wonderland", "me items")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "me items"
    token = answer.json()["access_token"]
    me = await api.get("/users/me/", headers=bearer(token))
    assert me.status_code == 200 and me.json() == {"username": "alice"}
    items = await api.get("/users/me/items/", headers=bearer(token))
    assert items.json() == [{"item_id": "Foo", "owner": "alice"}]


async def test_wrong_password(api):
    answer = await login(api, "alice", "not-her-password")
    assert answer.status_code == 400
    assert answer.json()["detail"] == "Incorrect username or password"
    assert (await api.get("/users/me/")).status_code == 401  # and no token, no entry


async def test_disabled_user(api, users):
    answer = await login(api, "carol", "tea-party")
    assert answer.status_code == 400 and answer.json()["detail"] == "Inactive user"
    # Disabling a user takes effect at once on the running provider.
    assert (await login(api, "johndoe", "secret")).status_code == 200
    users.disable_user("johndoe")
    assert (await login(api, "johndoe", "secret")).json()["detail"] == "Inactive user"


async def test_missing_scope(api):
    token = (await login(api, "alice", "wonderland", "me")).json()["access_token"]
    items = await api.get("/users/me/items/", headers=bearer(token))
    assert items.status_code == 401
    assert items.json() == {"detail": "Not enough permissions"}
    assert items.headers["www-authenticate"] == 'Bearer scope="items"'
    # johndoe may not even ask for it
    refused = await login(api, "johndoe", "secret", "items")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


async def test_expired_token(api, oauthcli_token):
    fresh = oauthcli_token(sub="alice", scopes=["me"])
    assert (await api.get("/users/me/", headers=bearer(fresh))).status_code == 200
    expired = oauthcli_token(sub="alice", scopes=["me"], ttl=-60)
    answer = await api.get("/users/me/", headers=bearer(expired))
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Could not validate credentials"}


async def test_a_token_signed_with_another_key_is_refused(api):
    forged = jwt.encode({"sub": "alice", "scopes": ["me"]}, "x" * 32, algorithm="HS256")
    assert (await api.get("/users/me/", headers=bearer(forged))).status_code == 401
