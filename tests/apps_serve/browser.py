"""Drive ``oauthcli serve``'s browser and device flows over HTTP, as a browser without JavaScript would."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from oauthcli.passwords import hash_password
from oauthcli.server.provider_settings import ProviderSettings
from oauthcli.state.memory import MemoryState
from oauthcli.store import Client, UserStore
from tests.apps_serve.live import ROUNDS, LiveServer, live_server

PUBLIC = "web-app"
CONFIDENTIAL = "conf-app"
CONFIDENTIAL_SECRET = "conf-app-secret-0123456789"
LOOPBACK = "http://127.0.0.1/callback"
SWAGGER = "http://127.0.0.1:8000/docs/oauth2-redirect"  # any port: loopback
APP_CB = "https://app.example/cb"
CONF_CB = "https://conf.example/cb"


class Clock:
    """A hand-moved clock (seconds since the epoch), from now: the provider's one clock
    (tokens, codes, device polling), so a client checking tokens by real time agrees."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def add_flow_clients(store: UserStore) -> None:
    with store.edit() as data:
        data.clients[PUBLIC] = Client(
            PUBLIC, scopes=["me", "items"], public=True, redirect_uris=[LOOPBACK, APP_CB, SWAGGER]
        )
        data.clients[CONFIDENTIAL] = Client(
            CONFIDENTIAL,
            hash_password(CONFIDENTIAL_SECRET, ROUNDS),
            scopes=["me"],
            redirect_uris=[CONF_CB],
        )


@dataclass
class Provider:
    server: LiveServer
    clock: Clock
    records: MemoryState
    provider: ProviderSettings

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> httpx.Client:
        """A browser-like client: keeps cookies, never follows redirects, never uses a proxy."""
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False, **kwargs)


@contextmanager
def provider_server(
    store_path: Path,
    consent: bool = True,
    provider_options: dict[str, Any] | None = None,
    **create_kwargs: Any,
) -> Iterator[Provider]:
    add_flow_clients(UserStore(store_path))
    clock = Clock()
    records = MemoryState(clock)
    settings = ProviderSettings(
        session_ttl=3600, code_ttl=60, device_ttl=600, clock=clock, consent=consent,
        **(provider_options or {}),
    )  # fmt: skip
    with live_server(store_path, records=records, provider=settings, **create_kwargs) as live:
        yield Provider(live, clock, records, settings)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def hidden_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in found}


def alert(page: str) -> str | None:
    match = re.search(r'<div class="alert" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(match.group(1)) if match else None


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(http: httpx.Client, **params: str) -> httpx.Response:
    base = {"response_type": "code", "client_id": PUBLIC}
    return http.get("/authorize", params={**base, **params})


def public_params(redirect_uri: str = "http://127.0.0.1:53682/callback", **extra: str):
    verifier, challenge = pkce()
    params = {
        "client_id": PUBLIC,
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return verifier, params


def submit_login(
    http: httpx.Client, form_page: httpx.Response, username: str, password: str, allow: bool = True
) -> httpx.Response:
    """Post the login form; on the consent page that may follow, press Allow (``allow``)."""
    assert form_page.status_code in (200, 400, 403, 429), form_page.text
    answer = http.post(
        "/login", data={**hidden_fields(form_page.text), "username": username, "password": password}
    )
    if allow and is_consent_page(answer):
        answer = decide(http, answer)
    return answer


def is_consent_page(page: httpx.Response) -> bool:
    return page.status_code == 200 and "<h1>Allow access?</h1>" in page.text


def decide(http: httpx.Client, page: httpx.Response, decision: str = "approve") -> httpx.Response:
    """Press Allow (``approve``) or Deny on the consent page."""
    assert is_consent_page(page), page.text
    return http.post("/authorize/consent", data={**hidden_fields(page.text), "decision": decision})


def log_in_for_code(
    http: httpx.Client, username: str = "alice", password: str = "secret", **extra: str
) -> tuple[str, str, dict[str, str]]:
    """Authorize the public client (through the login form and the consent page unless the
    session and a remembered consent skip them); ``(code, verifier, params)``."""
    verifier, params = public_params(**extra)
    answer = authorize(http, **params)
    if answer.status_code != 302:
        answer = submit_login(http, answer, username, password)
        assert answer.status_code == 303, answer.text
    got = query(answer.headers["location"])
    assert got["state"] == params["state"]
    return got["code"], verifier, params


def redeem(http: httpx.Client, code: str, verifier: str | None, redirect_uri: str, **extra: Any):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = extra.pop("auth", None)
    data.setdefault("client_id", PUBLIC)
    data.update(extra)
    return http.post("/token", data=data, auth=auth)
