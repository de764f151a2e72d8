"""The authorization-code flow of ``oauthcli serve`` over real HTTP: /authorize, the login page, /token."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from oauthcli.server import LoginThrottle
from oauthcli.store import UserStore
from tests.apps_serve.browser import (
    APP_CB,
    CONF_CB,
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    PUBLIC,
    Clock,
    alert,
    authorize,
    decide,
    hidden_fields,
    is_consent_page,
    log_in_for_code,
    pkce,
    provider_server,
    public_params,
    query,
    redeem,
    submit_login,
)


@pytest.fixture
def op(store_path: Path):
    with provider_server(store_path) as provider:
        yield provider


def me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def assert_error_page(response: httpx.Response, fragment: str) -> None:
    """An error page for the person, never a redirect to an untrusted URI."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert fragment in (alert(response.text) or ""), response.text


def redirect_error(response: httpx.Response, redirect_uri: str, state: str) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?")
    got = query(location)
    assert got["state"] == state
    return got


# --- the happy paths -------------------------------------------------------------------------


def test_public_client_with_pkce_on_any_loopback_port(op):
    with op.client() as http:
        verifier, params = public_params("http://127.0.0.1:49152/callback")
        page = authorize(http, **params)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'name="password"' in page.text and "<script" not in page.text
        answer = submit_login(http, page, "alice", "secret")
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith("http://127.0.0.1:49152/callback?")
        got = query(location)
        assert got["state"] == params["state"]
        assert got["iss"] == op.url  # RFC 9207
        token = redeem(http, got["code"], verifier, params["redirect_uri"])
        assert token.status_code == 200, token.text
        assert token.headers["cache-control"] == "no-store"
        body = token.json()
        assert body["token_type"] == "bearer" and body["scope"] == "me items"
        assert "refresh_token" not in body and "id_token" not in body  # no offline_access, openid
        assert me(http, body["access_token"]).json()["username"] == "alice"


def test_ipv6_loopback_matches_on_any_port_too(op, store_path):
    with UserStore(store_path).edit() as data:
        data.clients[PUBLIC].redirect_uris.append("http://[::1]/cb")
    with op.client() as http:
        verifier, params = public_params("http://[::1]:8765/cb")
        answer = submit_login(http, authorize(http, **params), "alice", "secret")
        assert answer.headers["location"].startswith("http://[::1]:8765/cb?code=")
        code = query(answer.headers["location"])["code"]
        assert redeem(http, code, verifier, params["redirect_uri"]).status_code == 200


def test_confidential_client_authenticates_and_may_skip_pkce(op):
    with op.client() as http:
        page = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB,
                    "state": "s1", "scope": "me"},
        )  # fmt: skip
        answer = submit_login(http, page, "alice", "secret")
        code = query(answer.headers["location"])["code"]
        anonymous = redeem(http, code, None, CONF_CB, client_id=CONFIDENTIAL)
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"

        # With PKCE (accepted from confidential clients), and HTTP Basic authentication.
        verifier, challenge = pkce()
        again = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB,
                    "code_challenge": challenge, "code_challenge_method": "S256"},
        )  # fmt: skip
        code = query(again.headers["location"])["code"]  # the login session: no form
        basic = (CONFIDENTIAL, CONFIDENTIAL_SECRET)
        wrong = redeem(http, code, None, CONF_CB, auth=basic, client_id="")
        assert wrong.json()["error"] == "invalid_grant"  # the verifier was required ...
        assert "code_verifier" in wrong.json()["error_description"]
        page = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB,
                    "code_challenge": challenge, "code_challenge_method": "S256"},
        )  # fmt: skip
        code = query(page.headers["location"])["code"]
        ok = redeem(
            http, code, verifier, CONF_CB, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET), client_id=""
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["scope"] == "me"


def test_post_to_the_authorization_endpoint(op):
    with op.client() as http:
        verifier, params = public_params()
        page = http.post("/authorize", data={"response_type": "code", **params})
        answer = submit_login(http, page, "alice", "secret")
        code = query(answer.headers["location"])["code"]
        again = http.post("/authorize", data={"response_type": "code", **params})
        assert again.status_code == 303  # after a POST, the browser follows with a GET
        assert redeem(http, code, verifier, params["redirect_uri"]).status_code == 200


# --- requests that get an error page, never a redirect ----------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"client_id": "nobody", "redirect_uri": APP_CB}, "Unknown or disabled client"),
        ({"client_id": "", "redirect_uri": APP_CB}, "no client_id"),
        ({"redirect_uri": APP_CB + "/extra"}, "not registered"),
        ({"redirect_uri": "https://app.example:8443/cb"}, "not registered"),
        ({"redirect_uri": "https://evil.example/cb"}, "not registered"),
        ({"redirect_uri": "http://localhost:53682/callback"}, "not registered"),  # exact only
        ({"redirect_uri": "http://127.0.0.1:53682/other"}, "not registered"),  # path must match
        ({"redirect_uri": "http://user@127.0.0.1:5/callback"}, "not registered"),
        ({}, "no redirect_uri"),  # two URIs registered: it must be given
    ],
)
def test_bad_client_or_redirect_uri_gets_an_error_page(op, params, fragment):
    with op.client() as http:
        response = authorize(http, state="s", **{"client_id": PUBLIC, **params})
    assert_error_page(response, fragment)
    assert response.headers["x-frame-options"] == "DENY"


def test_repeated_redirect_uri_and_disabled_client_get_an_error_page(op, store_path):
    with op.client() as http:
        url = f"/authorize?response_type=code&client_id={PUBLIC}"
        twice = http.get(f"{url}&redirect_uri={APP_CB}&redirect_uri=https://evil.example/cb")
        assert_error_page(twice, "more than once")
        with UserStore(store_path).edit() as data:
            data.clients[PUBLIC].disabled = True
        assert_error_page(authorize(http, redirect_uri=APP_CB), "Unknown or disabled client")


# --- errors returned to the client (RFC 6749 4.1.2.1) -------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),  # public clients need PKCE
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),  # the default is plain
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),  # not a scope of this client
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
    ],
)
def test_bad_requests_go_back_to_the_client_with_state_and_iss(op, change, error):
    with op.client() as http:
        _, params = public_params(APP_CB)
        response = authorize(http, **{**params, **change})
    got = redirect_error(response, APP_CB, params["state"])
    assert got["error"] == error and got["error_description"]
    assert got["iss"] == op.url
    assert "code" not in got


def test_the_query_of_a_registered_redirect_uri_is_kept(op, store_path):
    with UserStore(store_path).edit() as data:
        data.clients[PUBLIC].redirect_uris = ["https://app.example/cb?tenant=7"]
    with op.client() as http:
        response = authorize(http, redirect_uri="https://app.example/cb?tenant=7", state="x")
    got = redirect_error(response, "https://app.example/cb", "x")
    assert got["tenant"] == "7" and got["error"] == "invalid_request"


# --- codes at /token ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verifier", "description"),
    [
        (None, "code_verifier is required"),
        ("x" * 43, "does not match"),
        ("short", "does not match"),
    ],
)
def test_wrong_or_missing_pkce_verifier_is_invalid_grant(op, verifier, description):
    with op.client() as http:
        code, real, params = log_in_for_code(http)
        response = redeem(http, code, verifier, params["redirect_uri"])
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        assert description in response.json()["error_description"]
        # A failed attempt uses the code up: the right verifier comes too late.
        late = redeem(http, code, real, params["redirect_uri"])
        assert late.json()["error"] == "invalid_grant"


def test_a_verifier_without_a_challenge_is_refused(op):
    with op.client() as http:
        page = http.get(
            "/authorize",
            params={"response_type": "code", "client_id": CONFIDENTIAL, "redirect_uri": CONF_CB},
        )
        code = query(submit_login(http, page, "alice", "secret").headers["location"])["code"]
        verifier, _ = pkce()
        response = redeem(
            http, code, verifier, CONF_CB, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET), client_id=""
        )
    assert response.json()["error"] == "invalid_grant"


def test_code_is_bound_to_redirect_uri_and_client(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http)
        other_port = redeem(http, code, verifier, "http://127.0.0.1:1/callback")
        assert other_port.json()["error"] == "invalid_grant"
        assert "redirect_uri" in other_port.json()["error_description"]

        code, verifier, params = log_in_for_code(http)
        missing = redeem(http, code, verifier, "")  # it was in the authorization request
        assert missing.json()["error"] == "invalid_grant"

        code, verifier, params = log_in_for_code(http)
        stolen = redeem(
            http, code, verifier, params["redirect_uri"], client_id=CONFIDENTIAL,
            auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
        )  # fmt: skip
        assert stolen.json()["error"] == "invalid_grant"
        assert "another client" in stolen.json()["error_description"]


def test_reused_code_revokes_the_tokens_it_issued(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http, scope="me offline_access")
        first = redeem(http, code, verifier, params["redirect_uri"])
        assert first.status_code == 200
        tokens = first.json()
        assert me(http, tokens["access_token"]).status_code == 200
        again = redeem(http, code, verifier, params["redirect_uri"])
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert me(http, tokens["access_token"]).status_code == 401
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                  "client_id": PUBLIC},
        )  # fmt: skip
        assert refreshed.json()["error"] == "invalid_grant"


def test_codes_expire(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http)
        op.clock.advance(op.provider.code_ttl)
        response = redeem(http, code, verifier, params["redirect_uri"])
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_a_code_for_a_since_disabled_user_is_refused(op, store_path):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http)
        with UserStore(store_path).edit() as data:
            data.users["alice"].disabled = True
        response = redeem(http, code, verifier, params["redirect_uri"])
    assert response.json()["error"] == "invalid_grant"


def test_scopes_the_user_lacks_are_left_out(op):
    with op.client() as http:
        code, verifier, params = log_in_for_code(http, "johndoe", "secret", scope="me items")
        body = redeem(http, code, verifier, params["redirect_uri"]).json()
    assert body["scope"] == "me"


# --- the login session and prompt ----------------------------------------------------------------


def test_login_session_skips_the_form_until_session_ttl(op):
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        answer = submit_login(http, page, "alice", "secret", allow=False)
        cookies = [
            v for k, v in answer.headers.multi_items()
            if k == "set-cookie" and v.startswith("oauthcli_session_")
        ]  # fmt: skip
        paths = set()
        for cookie in cookies:
            attributes = [a.strip().lower() for a in cookie.split(";")]
            assert "httponly" in attributes and "samesite=lax" in attributes
            assert f"max-age={op.provider.session_ttl}" in attributes
            paths |= {a for a in attributes if a.startswith("path=")}
        assert paths == {"path=/authorize", "path=/device", "path=/logout"}
        assert decide(http, answer).status_code == 303
        verifier, params = public_params()
        second = authorize(http, **params)
        assert second.status_code == 302  # no form
        code = query(second.headers["location"])["code"]
        assert redeem(http, code, verifier, params["redirect_uri"]).status_code == 200
        op.clock.advance(op.provider.session_ttl)
        assert authorize(http, **public_params()[1]).status_code == 200  # the form again


def test_a_session_ends_when_its_user_is_disabled(op, store_path):
    with op.client() as http:
        log_in_for_code(http)
        with UserStore(store_path).edit() as data:
            data.users["alice"].disabled = True
        assert authorize(http, **public_params()[1]).status_code == 200


def test_prompt_none_and_prompt_login(op):
    with op.client() as http:
        _, params = public_params(prompt="none")
        got = redirect_error(authorize(http, **params), params["redirect_uri"], params["state"])
        assert got["error"] == "login_required" and got["iss"] == op.url

        log_in_for_code(http)
        silent = authorize(http, **params)
        assert silent.status_code == 302 and "code" in query(silent.headers["location"])

        _, params = public_params(prompt="login")
        forced = authorize(http, **params)
        assert forced.status_code == 200 and 'name="password"' in forced.text
        answer = submit_login(http, forced, "johndoe", "secret")
        assert "code" in query(answer.headers["location"])


def test_max_age_asks_for_the_password_again(op):
    with op.client() as http:
        log_in_for_code(http)
        op.clock.advance(300)
        recent = authorize(http, **public_params(max_age="600")[1])
        assert recent.status_code == 302  # logged in 300 s ago: fine
        stale = authorize(http, **public_params(max_age="120")[1])
        assert stale.status_code == 200 and 'name="password"' in stale.text
        _, params = public_params(max_age="120", prompt="none")
        got = redirect_error(authorize(http, **params), params["redirect_uri"], params["state"])
        assert got["error"] == "login_required"


# --- the login page --------------------------------------------------------------------------------


def test_login_page_headers_protect_against_framing_and_caching(op):
    with op.client() as http:
        page = authorize(http, **public_params()[1])
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert f"continue to <strong>{PUBLIC}</strong>" in page.text


def test_wrong_password_and_unknown_user_look_the_same(op, caplog):
    caplog.set_level(logging.DEBUG)
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        wrong = submit_login(http, page, "alice", "not-the-password-123")
        unknown = submit_login(http, wrong, "mallory", "not-the-password-123")
        assert wrong.status_code == unknown.status_code == 400
        assert alert(wrong.text) == alert(unknown.text) == "Incorrect username or password."
        for response in (wrong, unknown):
            assert "not-the-password-123" not in response.text
            assert 'name="password" autocomplete="current-password" required>' in response.text
        assert 'value="mallory"' in unknown.text  # the username is kept, the password never
        # The same form still works after a mistake.
        ok = submit_login(http, unknown, "alice", "secret")
        assert ok.status_code == 303
        assert "not-the-password-123" not in ok.headers["location"]
    assert "not-the-password-123" not in caplog.text


def test_disabled_user_is_told_so_only_with_the_right_password(op):
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        wrong = submit_login(http, page, "carol", "guess-guess")
        assert alert(wrong.text) == "Incorrect username or password."
        right = submit_login(http, wrong, "carol", "wonderland")
        assert right.status_code == 403
        assert alert(right.text) == "This account is disabled."
        assert "location" not in right.headers


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:8400/callback#x", "http://[::1]:8400/callback#", APP_CB + "#frag"],
)
def test_a_redirect_uri_with_a_fragment_is_refused(op, redirect_uri):
    """RFC 6749 3.1.2: the redirect URI MUST NOT include a fragment, loopback ones included."""
    with op.client() as http:
        answer = authorize(http, **public_params(redirect_uri)[1])
    assert_error_page(answer, "redirect_uri is not registered")
    assert "location" not in answer.headers


def test_consent_is_remembered_per_user_client_and_scopes(op):
    with op.client() as http:
        page = authorize(http, **public_params(scope="openid me")[1])
        consent = submit_login(http, page, "alice", "secret", allow=False)
        assert is_consent_page(consent) and "offline_access" not in consent.text
        assert decide(http, consent).status_code == 303
        fewer = authorize(http, **public_params(scope="me")[1])
        assert fewer.status_code == 302 and "code" in query(fewer.headers["location"])
        # offline_access, or prompt=consent: the password and the page, every time.
        for extra in ({"scope": "me offline_access"}, {"scope": "me", "prompt": "consent"}):
            again = authorize(http, **public_params(**extra)[1])
            assert again.status_code == 200 and 'id="password"' in again.text
            consent = submit_login(http, again, "alice", "secret", allow=False)
            assert is_consent_page(consent)
        # johndoe in the same browser: his own consent, not alice's.
        page = authorize(http, **public_params(scope="me", prompt="login")[1])
        assert is_consent_page(submit_login(http, page, "johndoe", "secret", allow=False))


def test_no_consent_skips_the_page_for_ci(store_path):
    with provider_server(store_path, consent=False) as op, op.client() as http:
        page = authorize(http, **public_params(scope="openid me offline_access")[1])
        answer = submit_login(http, page, "alice", "secret", allow=False)
        assert answer.status_code == 303 and "code" in query(answer.headers["location"])
        silent = authorize(http, **public_params(scope="me items", prompt="none")[1])
        assert "code" in query(silent.headers["location"])


def test_login_form_needs_its_token_and_our_own_page(op):
    """A synchronizer token kept with the pending request, and the browser's word that the
    form was posted from this server's page: no cookie another port could toss decides."""
    login = {"username": "alice", "password": "secret"}
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        fields = hidden_fields(page.text)
        forged = http.post("/login", data={**fields, "csrf": "x" * 43, **login})
        assert_error_page(forged, "expired or could not be verified")
        other_port = f"http://127.0.0.1:{urlsplit(op.url).port + 1}"
        for headers in (
            {"origin": other_port},
            {"origin": "null"},
            {"sec-fetch-site": "same-site", "origin": op.url},  # Sec-Fetch-Site decides
        ):
            tossed = http.post("/login", data={**fields, **login}, headers=headers)
            assert_error_page(tossed, "expired or could not be verified")
            assert "oauthcli_session" not in tossed.headers.get("set-cookie", "")
        ok = http.post(
            "/login",
            data={**fields, **login},
            headers={"origin": op.url, "sec-fetch-site": "same-origin"},
        )
        assert ok.status_code == 200 and "oauthcli_session_" in ok.headers["set-cookie"]
        assert "oauthcli_csrf" not in str(page.headers) + str(ok.headers)
        replay = http.post("/login", data={**fields, **login})
        assert_error_page(replay, "expired")  # a form logs in once


def test_login_page_is_throttled_with_token(store_path):
    throttle = LoginThrottle(max_failures=2, lockout=60, clock=Clock())
    with provider_server(store_path, throttle=throttle) as op, op.client() as http:
        page = authorize(http, **public_params()[1])
        for _ in range(2):
            page = submit_login(http, page, "alice", "wrong-password")
            assert page.status_code == 400
        blocked = submit_login(http, page, "alice", "secret")  # even the right password
        assert blocked.status_code == 429
        assert "Too many failed attempts" in (alert(blocked.text) or "")
        assert int(blocked.headers["retry-after"]) > 0
        token = http.post(
            "/token", data={"grant_type": "password", "username": "alice", "password": "secret"}
        )
        assert token.status_code == 429  # one throttle for the form and /token
        assert submit_login(http, blocked, "johndoe", "secret").status_code == 303


def test_empty_fields_and_oversized_password(op):
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        empty = submit_login(http, page, "alice", "")
        assert empty.status_code == 400
        assert "Enter your username and password" in (alert(empty.text) or "")
        huge = submit_login(http, empty, "alice", "x" * 5000)
        assert alert(huge.text) == "Incorrect username or password."
        assert "x" * 100 not in huge.text


def test_a_new_password_ends_the_login_session(op, store_path, cli):
    with op.client() as http:
        log_in_for_code(http)
        assert authorize(http, **public_params()[1]).status_code == 302
        result = cli("user", "passwd", "alice", "--password-stdin", "--store", str(store_path),
                     input="a-new-password\n")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert authorize(http, **public_params()[1]).status_code == 200  # the form again


def test_confidential_client_secrets_are_throttled_at_token(store_path):
    throttle = LoginThrottle(max_failures=2, lockout=60, clock=Clock())
    with provider_server(store_path, throttle=throttle) as op, op.client() as http:
        wrong = (CONFIDENTIAL, "not-the-secret-0123456789")
        for _ in range(2):
            response = redeem(http, "some-code", None, CONF_CB, auth=wrong, client_id="")
            assert response.status_code == 401
        right = (CONFIDENTIAL, CONFIDENTIAL_SECRET)
        blocked = redeem(http, "some-code", None, CONF_CB, auth=right, client_id="")
        assert blocked.status_code == 429 and blocked.headers["retry-after"]


def test_what_a_person_typed_is_cleaned_and_escaped_on_the_page(op):
    with op.client() as http:
        page = authorize(http, **public_params()[1])
        answer = submit_login(http, page, 'eve\u202e\x1b[31m"><b>x', "wrong-password")
    assert 'value="eve&quot;&gt;&lt;b&gt;x"' in answer.text
    assert "\u202e" not in answer.text and "\x1b" not in answer.text


def test_the_flow_on_the_default_server_state(store_path):
    """Without injected records, codes and sessions live in the server state beside the store."""
    from tests.apps_serve.browser import add_flow_clients
    from tests.apps_serve.live import live_server

    add_flow_clients(UserStore(store_path))
    with live_server(store_path) as live, httpx.Client(base_url=live.url, trust_env=False) as http:
        code, verifier, params = log_in_for_code(http, scope="me offline_access")
        first = redeem(http, code, verifier, params["redirect_uri"])
        assert first.status_code == 200, first.text
        assert redeem(http, code, verifier, params["redirect_uri"]).status_code == 400
        assert me(http, first.json()["access_token"]).status_code == 401  # revoked by the reuse
        # the session, for the scopes alice allowed (offline_access is asked for every time)
        assert authorize(http, **public_params(scope="me")[1]).status_code == 302
