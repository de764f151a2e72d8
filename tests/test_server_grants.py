"""The grant registry (``oauthcli.server.grants.GRANTS``) is the one list of the token endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauthcli.server.grants import GRANTS
from tests.apps_serve.live import live_server

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def server(store_path: Path):
    with live_server(store_path) as live:
        yield live


def test_discovery_dispatch_and_the_openapi_form_list_the_same_grants(server):
    with server.client() as http:
        discovered = http.get("/.well-known/openid-configuration").json()
        openapi = http.get("/openapi.json").json()
        form = openapi["paths"]["/token"]["post"]["requestBody"]["content"]
        schema = form["application/x-www-form-urlencoded"]["schema"]
        enum = schema["properties"]["grant_type"]["enum"]
        assert discovered["grant_types_supported"] == enum == list(GRANTS)
        # Each is dispatched to its own grant, which asks for what it lacks.
        expected = {
            "password": (400, "invalid_request"),
            "refresh_token": (400, "invalid_request"),
            "client_credentials": (401, "invalid_client"),
            "authorization_code": (401, "invalid_client"),
            DEVICE_GRANT: (401, "invalid_client"),
            "urn:ietf:params:oauth:grant-type:token-exchange": (401, "invalid_client"),
        }
        assert set(enum) == set(expected)
        for grant_type in enum:
            answer = http.post("/token", data={"grant_type": grant_type})
            assert (answer.status_code, answer.json()["error"]) == expected[grant_type]
        unknown = http.post("/token", data={"grant_type": "urn:example:not-a-grant"})
        assert unknown.status_code == 400
        assert unknown.json()["error"] == "unsupported_grant_type"
        assert all(g in unknown.json()["error_description"] for g in enum)
