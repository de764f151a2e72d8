"""oauthcli.client.bearer.BearerAuth against a real server: attach, refresh once on 401, retry once."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauthcli.client.bearer import BearerAuth
from tests.live_server import LiveServer, start_server

__all__ = ["start_server"]


@pytest.fixture
def guarded(start_server) -> LiveServer:
    """Accepts only ``Bearer good`` and records each Authorization header it saw."""
    seen: list[str | None] = []

    async def me(request: Request) -> Response:
        auth = request.headers.get("authorization")
        seen.append(auth)
        if auth == "Bearer good":
            return JSONResponse({"ok": True, "body": (await request.body()).decode()})
        return JSONResponse({"detail": "no"}, status_code=401)

    app = Starlette(routes=[Route("/me", me, methods=["GET", "POST"])])
    app.state.seen = seen
    return start_server(app)


def test_attaches_the_token(guarded):
    with httpx.Client() as client:
        response = client.get(guarded.url + "/me", auth=BearerAuth("good"))
    assert response.status_code == 200
    assert guarded.app.state.seen == ["Bearer good"]


def test_refreshes_once_on_401_and_resends_the_body(guarded):
    calls: list[int] = []

    def refresher() -> str:
        calls.append(1)
        return "good"

    auth = BearerAuth("stale", refresher)
    with httpx.Client() as client:
        response = client.post(guarded.url + "/me", content=b"payload", auth=auth)
    assert response.status_code == 200
    assert response.json()["body"] == "payload"
    assert calls == [1] and auth.refreshed and auth.token == "good"
    assert guarded.app.state.seen == ["Bearer stale", "Bearer good"]


def test_gives_up_after_one_refresh(guarded):
    calls: list[int] = []

    def refresher() -> str:
        calls.append(1)
        return "still-bad"

    with httpx.Client() as client:
        response = client.get(guarded.url + "/me", auth=BearerAuth("bad", refresher))
    assert response.status_code == 401
    assert calls == [1]
    assert guarded.app.state.seen == ["Bearer bad", "Bearer still-bad"]


def test_without_a_refresher_a_401_is_final(guarded):
    with httpx.Client() as client:
        response = client.get(guarded.url + "/me", auth=BearerAuth("bad"))
    assert response.status_code == 401
    assert guarded.app.state.seen == ["Bearer bad"]
