"""panva's oauth4webapi, a DPoP client nobody here wrote, against ``serve`` (RFC 9449).

Its authorization code flow (PKCE, ``dpop_jkt``) gets a DPoP-bound token under
``--dpop-nonce`` (it retries on ``use_dpop_nonce``), calls ``/userinfo`` and refreshes
with proofs. Then the proofs it sent are turned against the server: replayed, sent to
another URL, and its token without a proof: each refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import jwt
import pytest

from oauthcli.keys import write_new_key
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.store import UserStore
from tests.apps_serve.browser import PUBLIC, add_flow_clients, submit_login
from tests.apps_serve.live import live_server
from tests.conftest import write_store
from tests.oidc.harness import node_modules

HERE = Path(__file__).resolve().parent
REDIRECT = "http://127.0.0.1:53682/callback"


@pytest.fixture(scope="module")
def modules() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the oauth4webapi tests need Node.js")
    return node_modules("oauth4webapi", "3")


@pytest.fixture
def es256_store(isolated_env: Path) -> Path:
    # An asymmetric issuer: oauth4webapi checks the ID token against the JWKS.
    path = isolated_env / "users.toml"
    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    add_flow_clients(UserStore(path))
    return path


def run_flow(modules: Path, server_url: str, *mode: str) -> dict:
    """oauth4webapi's flow; the login page is driven here, as a browser would."""
    script = HERE / "apps_serve" / "o4w_dpop_flow.mjs"
    with subprocess.Popen(
        ["node", str(script), str(modules), server_url, PUBLIC, REDIRECT, *mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline()
        if not first:
            proc.wait(60)
            pytest.fail(f"oauth4webapi stopped: {proc.stderr.read() if proc.stderr else ''}")
        url = json.loads(first)["authorization_url"]
        with httpx.Client(base_url=server_url, timeout=30, trust_env=False) as browser:
            page = browser.get(url)
            answer = submit_login(browser, page, "alice", "secret")
            assert answer.status_code == 303, answer.text
            location = answer.headers["location"]
        out, err = proc.communicate(location + "\n", timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_oauth4webapi_completes_a_dpop_bound_code_flow_and_its_proofs_cannot_be_reused(
    es256_store, modules
):
    provider = ProviderSettings(consent=False, dpop_nonce=True)
    with live_server(es256_store, provider=provider) as server:
        result = run_flow(modules, server.url)
        token = result["token"]
        assert token["token_type"].lower() == "dpop"
        claims = jwt.decode(token["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": result["jkt"]}
        assert result["userinfo"]["sub"] == "alice"
        assert result["refreshed_token_type"].lower() == "dpop"
        # It was asked for a nonce at /token and at /userinfo, and retried with it.
        nonces = [jwt.decode(p["proof"], options={"verify_signature": False}).get("nonce")
                  for p in result["proofs"]]  # fmt: skip
        assert nonces[0] is None and all(nonces[1:]), nonces

        userinfo_proof = next(p["proof"] for p in reversed(result["proofs"])
                              if p["url"].endswith("/userinfo"))  # fmt: skip
        access = token["access_token"]
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            # The proof for /userinfo sent to another URL.
            other_url = http.get(
                "/users/me", headers={"Authorization": f"DPoP {access}", "DPoP": userinfo_proof}
            )
            assert other_url.status_code == 401
            assert 'error="invalid_dpop_proof"' in other_url.headers["www-authenticate"]
            # The same proof replayed where it was sent.
            replayed = http.get(
                "/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": userinfo_proof}
            )
            assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
            assert "replayed" in replayed.json()["error_description"]
            # The token without its proof, as DPoP and as Bearer.
            for scheme in ("DPoP", "Bearer"):
                bare = http.get("/userinfo", headers={"Authorization": f"{scheme} {access}"})
                assert bare.status_code == 401, scheme
                assert bare.headers["www-authenticate"].startswith("DPoP ")


def test_oauth4webapi_dpop_code_flow_with_a_pushed_request(es256_store, modules):
    """The issue's Done-when in one flow: PAR (required by serve) with a DPoP proof at /par,
    which binds the code to the key (RFC 9449 10.1), then the DPoP-bound token and /userinfo."""
    from urllib.parse import parse_qs, urlsplit

    provider = ProviderSettings(consent=False, dpop_nonce=True, require_par=True)
    with live_server(es256_store, provider=provider) as server:
        result = run_flow(modules, server.url, "par")
    token = result["token"]
    assert token["token_type"].lower() == "dpop"
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": result["jkt"]}
    assert result["userinfo"]["sub"] == "alice"
    pushed = [p for p in result["proofs"] if urlsplit(p["url"]).path == "/par"]
    assert pushed, result["proofs"]
    assert not any("dpop_jkt" in parse_qs(urlsplit(p["url"]).query) for p in result["proofs"])
