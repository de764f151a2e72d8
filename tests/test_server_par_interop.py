"""panva's oauth4webapi completes a code flow with a pushed authorization request at ``serve``.

An implementation nobody here wrote: its ``pushedAuthorizationRequest`` (RFC 9126 2, the
endpoint found by discovery), then the authorization URL with only ``client_id`` and
``request_uri``, the person at serve's login page (driven over HTTP), ``validateAuthResponse``
(state, ``iss``) and the code redeemed with PKCE.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from oauthcli.passwords import hash_password
from oauthcli.store import UserStore
from tests.apps_serve.browser import PUBLIC, provider_server, submit_login
from tests.apps_serve.live import ROUNDS
from tests.oidc.harness import node_modules

HERE = Path(__file__).resolve().parent
REDIRECT = "http://127.0.0.1:53682/callback"
SECRET = "o4w-par-secret-0123456789"


@pytest.fixture(scope="module")
def modules() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the oauth4webapi tests need Node.js")
    return node_modules("oauth4webapi", "3")


@pytest.mark.parametrize("confidential", [False, True], ids=["public", "client_secret_basic"])
def test_oauth4webapi_code_flow_with_par(store_path, modules, confidential):
    from oauthcli.store import Client

    client_id, secret = PUBLIC, []
    with provider_server(store_path, provider_options={"require_par": True}) as op:
        if confidential:
            client_id, secret = "o4w-conf", [SECRET]
            with UserStore(store_path).edit() as data:
                data.clients[client_id] = Client(
                    client_id, hash_password(SECRET, ROUNDS), ["me"], redirect_uris=[REDIRECT]
                )
        proc = subprocess.Popen(
            ["node", str(HERE / "apps_serve" / "o4w_par_flow.mjs"), str(modules), op.url,
             client_id, REDIRECT, *secret],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            first = json.loads(proc.stdout.readline() or "null")
            assert first is not None, proc.stderr.read()
            query = parse_qs(urlsplit(first["authorize"]).query)
            assert set(query) == {"client_id", "request_uri"}
            assert first["par"]["expires_in"] == 60
            with op.client() as browser:
                page = browser.get(first["authorize"])
                answer = submit_login(browser, page, "alice", "secret")
            assert answer.status_code == 303, answer.text
            out, err = proc.communicate(answer.headers["location"] + "\n", timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["token"]["scope"] == "me"
    assert result["me"]["username"] == "alice"
