"""pytest fixtures for testing your own API against a real oauthcli token provider.

Loaded by pytest through the ``pytest11`` entry point ``oauthcli`` as soon as oauthcli
is installed: do not list it in ``pytest_plugins`` as well (pytest refuses to register
a plugin twice); ``-p no:oauthcli`` turns it off. At import time this module needs only
the standard library and pytest, so a test run that uses none of the fixtures pays for
nothing else: oauthcli's core, bcrypt, httpx and FastAPI are imported inside the fixtures.

Fixtures:

- ``oauthcli_store``: a temporary user store with its own issuer key (bcrypt cost 4);
  ``add_user``, ``add_client``, ``disable_user``, ``enable_user``; ``secret`` for HS*.
- ``oauthcli_provider``: ``oauthcli serve`` in a subprocess on a free 127.0.0.1 port
  over that store: ``url``/``issuer_url``, ``token_url``, ``jwks_url``, ``login()``.
  It runs with throttling off and ``--no-consent``: a test that drives the login page
  signs in and gets its code, with no consent page in between. With ``--control``:
  ``fail_next()``, ``clear_faults()``, ``issue_bad_token()``, ``rotate_keys()``,
  ``advance()``, ``requests``/``requests_to()``/``clear_requests()``, ``set_claims()``,
  ``clear_claims()``, ``auto_login()``.
- ``oauthcli_session_store`` / ``oauthcli_session_provider``: the same, once per run.
- ``oauthcli_token(sub=..., scopes=..., ttl=..., claims=...)``: an access token signed
  with the store's key, no HTTP; ``ttl <= 0`` gives an expired token.
- ``oauthcli_asgi``: the provider's FastAPI app in-process (``create_app``), with
  ``async_client()`` (``httpx.AsyncClient`` over ``httpx.ASGITransport``).
- ``oauthcli_issuer_settings`` (session): the ``[issuer]`` table of every store these
  fixtures create, default ``{"algorithm": "HS256"}``. Override it in your conftest, e.g.
  ``{"scope_claim": "scopes"}`` for apps written like the FastAPI tutorial.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from oauthcli.issuer import IssuerSettings
    from oauthcli.keys import SigningKey
    from oauthcli.store import UserStore

BCRYPT_ROUNDS = 4
STARTUP_TIMEOUT = 60.0  # generous: a loaded CI machine starts Python slowly
_ANNOUNCE = re.compile(r"oauthcli: serving .* at (http://\S+) \(")


class OAuthCliStore:
    """A user store in a temporary directory, with helpers to fill it from Python."""

    def __init__(self, directory: Path, issuer: dict[str, Any], rounds: int = BCRYPT_ROUNDS):
        self.directory = directory
        self.path = directory / "users.toml"
        self.rounds = rounds
        # Set by the provider fixtures: tokens from ``oauthcli_token`` then carry its iss.
        self.issuer_url: str | None = None
        self._settings: IssuerSettings | None = None
        self._key: SigningKey | None = None
        self._create(dict(issuer))

    def _create(self, issuer: dict[str, Any]) -> None:
        from oauthcli import keys
        from oauthcli.store import UserStore

        algorithm = str(issuer.get("algorithm", "HS256"))
        if not any(name in issuer for name in ("secret_file", "key_file")):
            hmac = keys.family_of(algorithm) == keys.HMAC
            name = "issuer.secret" if hmac else "issuer.pem"
            keys.write_new_key(self.directory / name, algorithm)
            issuer["secret_file" if hmac else "key_file"] = name
        issuer.setdefault("algorithm", algorithm)
        with UserStore(self.path).edit(create=True) as data:
            data.other["issuer"] = issuer
            data.other["passwords"] = {"bcrypt_rounds": self.rounds}

    @property
    def store(self) -> UserStore:
        from oauthcli.store import UserStore

        return UserStore(self.path)

    @property
    def settings(self) -> IssuerSettings:
        if self._settings is None:
            from oauthcli.issuer import settings_for_store

            self._settings = settings_for_store(self.path, self.store.load().issuer)
        return self._settings

    @property
    def signing_key(self) -> SigningKey:
        """The issuer's key, read from its file (``OAUTHCLI_SECRET`` is not consulted)."""
        if self._key is None:
            from oauthcli import keys

            settings = self.settings
            if keys.family_of(settings.algorithm) == keys.HMAC:
                assert settings.secret_file is not None
                secret = keys.read_secret_file(settings.secret_file)
                self._key = keys.hmac_signing_key(secret, settings.algorithm)
            else:
                assert settings.key_file is not None
                self._key = keys.load_private_key_file(settings.key_file, settings.algorithm)
        return self._key

    @property
    def secret(self) -> str:
        """The HS* secret, for an app that verifies tokens with a shared ``SECRET_KEY``."""
        key = self.signing_key
        if not isinstance(key.key, bytes):
            raise TypeError(f"the issuer signs with {key.algorithm}: there is no shared secret")
        return key.key.decode()

    def add_user(
        self,
        username: str,
        password: str,
        scopes: Iterable[str] = (),
        *,
        disabled: bool = False,
        full_name: str | None = None,
        email: str | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        """A user; ``claims``: chosen claims (README: Claims you choose)."""
        from oauthcli import accounts
        from oauthcli.passwords import hash_password
        from oauthcli.store import User, check_chosen_claims, validate_scopes

        accounts.add_user(
            self.store,
            User(
                username=username,
                hashed_password=hash_password(password, self.rounds),
                full_name=full_name,
                email=email,
                disabled=disabled,
                scopes=validate_scopes(list(scopes)),
                claims=check_chosen_claims(claims or {}),
            ),
        )

    def add_client(
        self,
        client_id: str,
        secret: str | None,
        scopes: Iterable[str] = (),
        *,
        disabled: bool = False,
        redirect_uris: Iterable[str] = (),
        post_logout_redirect_uris: Iterable[str] = (),
        audience: str | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        """A confidential client, or a public one (``secret=None``: PKCE, no secret)."""
        from oauthcli.passwords import hash_password
        from oauthcli.store import (
            Client,
            check_chosen_claims,
            validate_name,
            validate_redirect_uri,
            validate_scopes,
        )

        validate_name(client_id, "client id")
        with self.store.edit() as data:
            data.clients[client_id] = Client(
                client_id,
                "" if secret is None else hash_password(secret, self.rounds),
                validate_scopes(list(scopes)),
                disabled,
                public=secret is None,
                redirect_uris=[validate_redirect_uri(u) for u in redirect_uris],
                post_logout_redirect_uris=[
                    validate_redirect_uri(u) for u in post_logout_redirect_uris
                ],
                audience=audience,
                claims=check_chosen_claims(claims or {}),
            )

    def disable_user(self, username: str) -> None:
        """Disable a user: a running provider refuses its logins and tokens from now on."""
        from oauthcli import accounts

        accounts.set_disabled(self.store, username, True)

    def enable_user(self, username: str) -> None:
        from oauthcli import accounts

        accounts.set_disabled(self.store, username, False)

    def token(
        self,
        sub: str = "alice",
        scopes: Sequence[str] = (),
        ttl: int | None = None,
        claims: dict[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """An access token signed with the issuer's key (``ttl <= 0``: already expired)."""
        from oauthcli.tokens import TokenService

        service = TokenService(self.settings, self.signing_key)
        issuer = options.pop("issuer", None) or self.issuer_url
        token, _ = service.access_token(
            sub, list(scopes), ttl=ttl, issuer=issuer, extra=claims, **options
        )
        return token


class OAuthCliProvider:
    """``oauthcli serve --control`` running in a subprocess over an ``OAuthCliStore``.

    Besides its URLs, the control API (``oauthcli.control``) as methods: ``fail_next``,
    ``clear_faults``, ``issue_bad_token``, ``rotate_keys``, ``advance``, ``requests``,
    ``clear_requests``; ``control(name, **params)`` runs any operation.
    """

    def __init__(
        self,
        store: OAuthCliStore,
        process: subprocess.Popen[bytes],
        url: str,
        log: Path,
        token_file: Path | None = None,
    ):
        self.store = store
        self.process = process
        self.url = url
        self.log = log
        self.token_file = token_file

    # -- the control API

    def control(self, name: str, **params: Any) -> dict[str, Any]:
        """Run the control operation ``name`` (``oauthcli.control.OPERATIONS``); its answer."""
        from oauthcli.client.control import ControlClient, read_token_file

        if self.token_file is None:
            raise RuntimeError("this provider runs without --control")
        with self.client() as http:
            return ControlClient(self.url, read_token_file(self.token_file), http).call(
                name, **params
            )

    def fail_next(
        self,
        endpoint: str,
        error: str | None = None,
        *,
        status: int | None = None,
        times: int = 1,
        delay: float | None = None,
        body: str | None = None,
        drop: bool = False,
        token_kind: str | None = None,
        claim: str | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        client: str | None = None,
        user: str | None = None,
    ) -> dict[str, Any]:
        """Queue a fault for the next ``times`` requests to ``endpoint`` (0: until cleared):
        an OAuth ``error``, an HTTP ``status``, a ``delay``, a non-JSON ``body``, a
        dropped connection, or (``token_kind``) a bad access token from the token endpoint.
        ``client``/``user`` narrow it to one client or user. Returns the queued fault."""
        params = {
            "endpoint": endpoint,
            "error": error,
            "status": status,
            "times": times,
            "delay": delay,
            "body": body,
            "drop": drop or None,
            "token_kind": token_kind,
            "claim": claim,
            "description": description,
            "retry_after": retry_after,
            "client": client,
            "user": user,
        }
        return self.control("fail_next", **params)["fault"]

    def clear_faults(self) -> int:
        """Forget every queued fault; how many there were."""
        return int(self.control("clear_faults")["cleared"])

    def issue_bad_token(
        self,
        kind: str,
        sub: str = "alice",
        *,
        scopes: Iterable[str] = (),
        claim: str | None = None,
    ) -> str:
        """An access token from this provider that is wrong in one way: ``expired``,
        ``not_yet_valid``, ``wrong_iss``, ``wrong_aud``, ``unknown_key``,
        ``bad_signature``, ``missing_claim`` (``claim``, default ``exp``) or ``alg_none``."""
        scope = " ".join(scopes) or None
        return str(
            self.control("issue_bad_token", kind=kind, sub=sub, scope=scope, claim=claim)["token"]
        )

    def rotate_keys(self, keep_old: bool = True) -> dict[str, Any]:
        """Sign with a new key from now on (``{"kid", ...}``); the previous one stays in
        the JWKS, and is still accepted, if ``keep_old``, else it is dropped at once."""
        return self.control("rotate_keys", keep_old=keep_old)

    def advance(self, seconds: float) -> float:
        """Move the provider's clock forward by ``seconds``; the total offset."""
        return float(self.control("advance", seconds=seconds)["offset"])

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request the provider received (oldest first), secrets as short hashes."""
        return list(self.control("requests")["requests"])

    def requests_to(self, endpoint: str, grant_type: str | None = None) -> list[dict[str, Any]]:
        """The logged requests to one endpoint (``token``...), optionally of one grant type."""
        answer = self.control("requests", endpoint=endpoint, grant_type=grant_type)
        return list(answer["requests"])

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.control("clear_requests")

    def set_claims(self, user: str, **claims: Any) -> dict[str, Any]:
        """Give ``user`` chosen claims from now on (over the store's; ``roles=["admin"]``),
        in the access tokens, ID tokens and /userinfo issued after; all its run-time claims."""
        return dict(self.control("set_claims", user=user, claims=claims)["claims"])

    def clear_claims(self, user: str | None = None) -> None:
        """Forget the claims ``set_claims`` gave (``user``'s, or everyone's)."""
        self.control("clear_claims", user=user)

    def auto_login(self, user: str) -> None:
        """Complete the next ``/authorize`` as ``user``, with no login or consent page: a
        web app's end-to-end test follows the redirects and needs no browser."""
        self.control("auto_login", user=user)

    @property
    def issuer_url(self) -> str:
        return self.store.settings.issuer or self.url

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def jwks_url(self) -> str:
        return self.url + "/.well-known/jwks.json"

    @property
    def openapi_url(self) -> str:
        return self.url + "/openapi.json"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for the provider (no proxy: it is on 127.0.0.1)."""
        import httpx

        return httpx.Client(base_url=self.url, timeout=30, trust_env=False, **kwargs)

    def login(self, username: str, password: str, scopes: Iterable[str] = ()) -> httpx.Response:
        """``POST /token`` with the password grant; the response, whatever its status."""
        form = {"grant_type": "password", "username": username, "password": password}
        scope = " ".join(scopes)
        if scope:
            form["scope"] = scope
        with self.client() as http:
            return http.post("/token", data=form)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if self.process.stdin is not None:
            self.process.stdin.close()


def _server_env() -> dict[str, str]:
    # The store decides everything: no OAUTHCLI_SECRET/STORE/... from the test's environment.
    return {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}


@contextlib.contextmanager
def run_provider(
    store: OAuthCliStore, *args: str, control: bool = True
) -> Iterator[OAuthCliProvider]:
    """Start ``oauthcli serve`` on a free port over ``store``; stop it when the block ends.

    ``control``: with ``--control`` (the provider's control methods), the default."""
    import secrets

    import httpx

    log = store.directory / f"serve-{secrets.token_hex(4)}.log"
    token_file = store.directory / f"control-{secrets.token_hex(4)}.token"
    command = [
        sys.executable,
        "-m",
        "oauthcli",
        "serve",
        "--store",
        str(store.path),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--max-failures",
        "0",
        "--no-consent",  # tests drive the login page; no person to allow the client
        # serve's stdin is a pipe only this process holds open (non-inheritable, PEP 446):
        # when pytest ends in any way (a CI timeout's SIGTERM, SIGKILL) the kernel closes
        # it and serve stops, instead of serving on with throttling off.
        "--exit-on-stdin-eof",
        # The control API (faults, clock, request log) for the fixture's methods.
        *(("--control", "--control-token-file", str(token_file)) if control else ()),
        *args,
    ]
    with open(log, "wb") as sink:
        # A file, not a pipe: nobody has to keep reading the server's output.
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            cwd=store.directory,
        )
    provider = None
    try:
        url = _wait_for_announce(process, log)
        provider = OAuthCliProvider(store, process, url, log, token_file if control else None)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with provider.client() as http:
            while True:
                try:
                    if http.get("/.well-known/openid-configuration").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"oauthcli serve did not answer: {_tail(log)}")
                time.sleep(0.02)
        store.issuer_url = provider.issuer_url
        yield provider
    finally:
        store.issuer_url = None
        if provider is not None:
            provider.stop()
        else:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=15)
            if process.stdin is not None:
                process.stdin.close()


def _wait_for_announce(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        match = _ANNOUNCE.search(log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"oauthcli serve did not start: {_tail(log)}")
        time.sleep(0.02)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] or "(no output)"


class OAuthCliASGI:
    """The provider's FastAPI app in-process: no sockets, no subprocess."""

    BASE_URL = "http://oauthcli.test"

    def __init__(self, store: OAuthCliStore) -> None:
        from oauthcli.server import create_app

        self.store = store
        self.app = create_app(store.store, store.settings, issuer_url=self.BASE_URL)
        self.token_url = self.BASE_URL + "/token"

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """``httpx.AsyncClient`` over ``httpx.ASGITransport``: use it inside your event loop."""
        import httpx

        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.BASE_URL, **kwargs
        )


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oauthcli_issuer_settings() -> dict[str, Any]:
    """The ``[issuer]`` table of the stores below; override it (session-scoped) to change it."""
    return {"algorithm": "HS256"}


@pytest.fixture
def oauthcli_store(
    tmp_path_factory: pytest.TempPathFactory, oauthcli_issuer_settings: dict[str, Any]
) -> OAuthCliStore:
    """A fresh temporary store with its own issuer key, for one test."""
    return OAuthCliStore(tmp_path_factory.mktemp("oauthcli"), oauthcli_issuer_settings)


@pytest.fixture(scope="session")
def oauthcli_session_store(
    tmp_path_factory: pytest.TempPathFactory, oauthcli_issuer_settings: dict[str, Any]
) -> OAuthCliStore:
    """A store shared by the whole run (changes made by one test are seen by the next)."""
    return OAuthCliStore(tmp_path_factory.mktemp("oauthcli-session"), oauthcli_issuer_settings)


@pytest.fixture(scope="session")
def oauthcli_serve_args() -> tuple[str, ...]:
    """More ``oauthcli serve`` options for the providers below; override it (session-scoped),
    e.g. ``("--registration", "open")`` for dynamic client registration."""
    return ()


@pytest.fixture
def oauthcli_provider(
    oauthcli_store: OAuthCliStore, oauthcli_serve_args: tuple[str, ...]
) -> Iterator[OAuthCliProvider]:
    """``oauthcli serve`` over ``oauthcli_store`` on a free 127.0.0.1 port, for one test."""
    with run_provider(oauthcli_store, *oauthcli_serve_args) as provider:
        yield provider


@pytest.fixture(scope="session")
def oauthcli_session_provider(
    oauthcli_session_store: OAuthCliStore, oauthcli_serve_args: tuple[str, ...]
) -> Iterator[OAuthCliProvider]:
    """``oauthcli serve`` over ``oauthcli_session_store``, started once per run."""
    with run_provider(oauthcli_session_store, *oauthcli_serve_args) as provider:
        yield provider


@pytest.fixture
def oauthcli_token(oauthcli_store: OAuthCliStore) -> Callable[..., str]:
    """``oauthcli_token(sub="alice", scopes=["me"], ttl=900, claims={...}) -> str``, no HTTP."""
    return oauthcli_store.token


@pytest.fixture
def oauthcli_asgi(oauthcli_store: OAuthCliStore) -> OAuthCliASGI:
    """The token provider as an in-process ASGI app over ``oauthcli_store``."""
    return OAuthCliASGI(oauthcli_store)
