"""Issue 20.8: scopes and revocation reach every token of a grant, over real HTTP.

Revoking a refresh token, a detected refresh reuse and a replayed authorization code
end the access tokens minted from that grant too (RFC 7009 2.1, RFC 6749 4.1.2), as
the one bearer check (``ServerContext.active_access_claims``) sees it at ``/users/me``,
``/userinfo`` and ``/introspect``; the password grant keeps to the client's scopes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from oauthcli.state.memory import MemoryState
from tests.apps_serve.browser import (
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    log_in_for_code,
    provider_server,
    redeem,
)

RIGHT = (CONFIDENTIAL, CONFIDENTIAL_SECRET)


@pytest.fixture
def op(store_path: Path):
    with provider_server(store_path) as provider:
        yield provider


def _me(http: httpx.Client, token: str) -> int:
    return http.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _active(http: httpx.Client, token: str) -> bool:
    answer = http.post("/introspect", data={"token": token}, auth=RIGHT)
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["active"])


def _password(http: httpx.Client, **extra: Any) -> httpx.Response:
    form = {"grant_type": "password", "username": "alice", "password": "secret"}
    return http.post("/token", data={**form, **extra})


def _refresh(http: httpx.Client, token: str, **extra: Any) -> httpx.Response:
    return http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


def test_the_password_grant_keeps_to_the_clients_scopes(op):
    """conf-app may hold ``me``; alice holds ``me`` and ``items``."""
    with op.client() as http:
        granted = http.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "secret"},
            auth=RIGHT,
        )
        assert granted.status_code == 200, granted.text
        assert granted.json()["scope"] == "me"
        asked = http.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "secret",
                  "scope": "me items"},
            auth=RIGHT,
        )  # fmt: skip
        assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"
        # Without a client, the user's own scopes, as the tutorial's /token grants.
        assert _password(http).json()["scope"] == "me items"


def test_revoking_a_refresh_token_ends_the_access_tokens_of_its_session(op):
    with op.client() as http:
        first = _password(http).json()
        second = _refresh(http, first["refresh_token"]).json()
        assert _me(http, first["access_token"]) == _me(http, second["access_token"]) == 200
        other = _password(http).json()  # another session of the same user
        revoked = http.post(
            "/revoke",
            data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
        )
        assert revoked.status_code == 200
        assert _me(http, first["access_token"]) == 401
        assert _me(http, second["access_token"]) == 401
        assert not _active(http, second["access_token"])
        assert _me(http, other["access_token"]) == 200


def test_a_reused_refresh_token_ends_the_access_tokens_of_its_session(op):
    with op.client() as http:
        first = _password(http).json()
        second = _refresh(http, first["refresh_token"]).json()
        assert _me(http, second["access_token"]) == 200
        reused = _refresh(http, first["refresh_token"])
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        assert _me(http, second["access_token"]) == 401
        assert not _active(http, second["access_token"])


def test_a_replayed_code_ends_every_access_token_of_its_grant(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http, scope="me offline_access")
        first = redeem(http, code, verifier, params["redirect_uri"]).json()
        second = _refresh(http, first["refresh_token"], client_id=PUBLIC).json()
        assert _me(http, second["access_token"]) == 200
        again = redeem(http, code, verifier, params["redirect_uri"])
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert _me(http, first["access_token"]) == 401
        assert _me(http, second["access_token"]) == 401  # minted by a refresh since


class ReplayDuringRedemption(MemoryState):
    """Records that, the first time a code is taken, let a replay of it run to its end
    before the first redemption goes on: the race a real server cannot be made to lose."""

    def __init__(self, replay: Any) -> None:
        super().__init__()
        self.replay = replay
        self.replayed: list[httpx.Response] = []

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        found = super().take(kind, key)
        if kind == "authz_code" and found is not None and not self.replayed:
            done = threading.Event()

            def run() -> None:
                self.replayed.append(self.replay())
                done.set()

            threading.Thread(target=run, daemon=True).start()
            assert done.wait(60), "the replay did not finish"
        return found


@pytest.mark.parametrize("scope", ["me", "me offline_access"])
def test_a_code_replayed_while_its_redemption_is_in_flight_yields_no_working_token(
    store_path, scope
):
    box: dict[str, Any] = {}
    records = ReplayDuringRedemption(lambda: box["replay"]())
    with provider_server(store_path) as op:
        # provider_server gives each server its own MemoryState; use ours instead.
        op.server.app.state.ctx.records = records
        with op.client() as http, op.client() as attacker:
            code, verifier, params = log_in_for_code(http, scope=scope)
            box["replay"] = lambda: redeem(attacker, code, verifier, params["redirect_uri"])
            first = redeem(http, code, verifier, params["redirect_uri"])
            assert len(records.replayed) == 1
            replay = records.replayed[0]
            assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
            if first.status_code == 200:  # answered: then what it answered must not work
                tokens = first.json()
                assert _me(http, tokens["access_token"]) == 401
                if "refresh_token" in tokens:
                    again = _refresh(http, tokens["refresh_token"], client_id=PUBLIC)
                    assert again.status_code == 400
            else:
                assert first.status_code == 400 and first.json()["error"] == "invalid_grant"
