"""The fixtures of this project: its API in front of oauthcli's token provider.

No ``pytest_plugins`` here: the oauthcli_* fixtures come from the installed package.
The API runs in-process over ``httpx.ASGITransport`` (FastAPI's "Async Tests" way);
the token provider is a real ``oauthcli serve`` on 127.0.0.1.
"""

import httpx
import pytest
from tutorial_api import make_app


@pytest.fixture(scope="session")
def oauthcli_issuer_settings():
    # The tutorial reads scopes from a "scopes" list claim (RFC 9068's "scope" is a string).
    return {"algorithm": "HS256", "scope_claim": "scopes"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def users(oauthcli_store):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me", "items"], full_name="Alice")
    oauthcli_store.add_user("johndoe", "secret", scopes=["me"])
    oauthcli_store.add_user("carol", "tea-party", scopes=["me"], disabled=True)
    return oauthcli_store


@pytest.fixture
async def api(users, oauthcli_provider):
    app = make_app(token_url=oauthcli_provider.token_url, secret_key=users.secret)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}
