"""The API's failure paths, provoked through the provider's control methods; nothing sleeps."""

import json

import jwt
import pytest
from conftest import API_CLIENT, bearer

pytestmark = pytest.mark.anyio

BAD_KINDS = [
    "expired", "not_yet_valid", "wrong_iss", "wrong_aud", "unknown_key", "bad_signature",
    "missing_claim", "alg_none",
]  # fmt: skip
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def access_token(provider):
    answer = provider.login("alice", "wonderland", scopes=["me"])
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


async def test_a_good_token_is_accepted(api, oauthcli_provider):
    me = await api.get("/users/me/", headers=bearer(access_token(oauthcli_provider)))
    assert me.status_code == 200 and me.json() == {"username": "alice"}


@pytest.mark.parametrize("kind", BAD_KINDS)
async def test_the_api_refuses_each_bad_token(api, oauthcli_provider, kind):
    token = oauthcli_provider.issue_bad_token(kind, sub="alice", scopes=["me"])
    answer = await api.get("/users/me/", headers=bearer(token))
    assert answer.status_code == 401, (kind, answer.text)
    assert answer.json() == {"detail": "Could not validate credentials"}


async def test_the_api_refuses_a_bad_token_the_token_endpoint_hands_out(api, oauthcli_provider):
    oauthcli_provider.fail_next("token", token_kind="wrong_iss")
    assert (
        await api.get("/users/me/", headers=bearer(access_token(oauthcli_provider)))
    ).status_code == 401
    assert (
        await api.get("/users/me/", headers=bearer(access_token(oauthcli_provider)))
    ).status_code == 200


async def test_the_api_survives_a_jwks_503(api, oauthcli_provider):
    token = access_token(oauthcli_provider)
    oauthcli_provider.fail_next("jwks", status=503, retry_after=5)
    down = await api.get("/users/me/", headers=bearer(token))
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert (await api.get("/users/me/", headers=bearer(token))).status_code == 200
    fetches = oauthcli_provider.requests_to("jwks")
    assert [f["status"] for f in fetches] == [503, 200]  # one retry, no hammering


async def test_the_api_survives_a_key_rotation(api, oauthcli_provider):
    before = access_token(oauthcli_provider)
    assert (await api.get("/users/me/", headers=bearer(before))).status_code == 200
    rotated = oauthcli_provider.rotate_keys(keep_old=True)
    after = access_token(oauthcli_provider)
    assert jwt.get_unverified_header(after)["kid"] == rotated["kid"]
    for token in (before, after):  # the new kid makes the API fetch the JWKS again
        assert (await api.get("/users/me/", headers=bearer(token))).status_code == 200
    oauthcli_provider.rotate_keys(keep_old=False)
    newest = access_token(oauthcli_provider)
    assert (await api.get("/users/me/", headers=bearer(newest))).status_code == 200
    assert len(oauthcli_provider.requests_to("jwks")) == 3


def test_advance_expires_a_refresh_token(users, oauthcli_provider):
    refresh = oauthcli_provider.login("alice", "wonderland", scopes=["me"]).json()["refresh_token"]
    oauthcli_provider.advance(400 * 86400)
    with oauthcli_provider.client() as http:
        answer = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_advance_expires_a_device_code(users, oauthcli_provider):
    with oauthcli_provider.client() as http:
        grant = http.post(
            "/device_authorization", data={"scope": "reports"}, auth=API_CLIENT
        ).json()
        poll = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"]}
        assert (
            http.post("/token", data=poll, auth=API_CLIENT).json()["error"]
            == "authorization_pending"
        )
        oauthcli_provider.advance(grant["expires_in"])
        assert http.post("/token", data=poll, auth=API_CLIENT).json()["error"] == "expired_token"


async def test_the_request_log_shows_what_the_api_sent_and_no_secret(api, oauthcli_provider):
    token = access_token(oauthcli_provider)
    oauthcli_provider.clear_requests()
    assert (await api.get("/reports")).json() == {"upstream_token_type": "bearer"}
    [sent] = oauthcli_provider.requests_to("token", grant_type="client_credentials")
    assert sent["client_id"] == "reports-api" and sent["scope"] == ["reports"]
    assert sent["auth"] == "basic" and sent["outcome"] == "ok"
    oauthcli_provider.login("alice", "wonderland", scopes=["me"])
    everything = json.dumps(oauthcli_provider.requests)
    for secret in ("wonderland", API_CLIENT[1], token):
        assert secret not in everything
    assert oauthcli_provider.requests[-1]["params"]["password"].startswith("sha256:")
