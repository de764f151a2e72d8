"""This project's fixtures: its API in front of a provider it can make misbehave.

Only the plugin's documented fixtures: ``oauthcli_store``, ``oauthcli_provider`` (with its
control methods) and ``oauthcli_issuer_settings``. The API runs in-process over
``httpx.ASGITransport``; the provider is a real ``oauthcli serve --control``.
"""

import httpx
import pytest
from jwks_api import make_app

AUDIENCE = "https://api.example"
API_CLIENT = ("reports-api", "s3cret-of-the-reports-api")


@pytest.fixture(scope="session")
def oauthcli_issuer_settings():
    # ES256: the API verifies through the JWKS; the tutorial's "scopes" list claim.
    return {"algorithm": "ES256", "scope_claim": "scopes", "audience": AUDIENCE}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def users(oauthcli_store):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me"])
    oauthcli_store.add_client(*API_CLIENT, scopes=["reports"])
    return oauthcli_store


@pytest.fixture
async def api(users, oauthcli_provider):
    app = make_app(
        token_url=oauthcli_provider.token_url,
        jwks_url=oauthcli_provider.jwks_url,
        issuer=oauthcli_provider.issuer_url,
        audience=AUDIENCE,
        client=API_CLIENT,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}
