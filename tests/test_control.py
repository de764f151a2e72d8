"""serve --control: the control API's guards, its CLI, and faults seen by real clients.

The provider is a real ``oauthcli serve --control`` (the plugin's ``run_provider``),
driven over HTTP (httpx), by ``oauthcli control`` and by the fixture's methods.
"""

from __future__ import annotations

import stat
import time
from urllib.parse import urlencode

import httpx
import pytest

from oauthcli import pytest_plugin
from oauthcli.client.control import ControlClient
from oauthcli.control import OPERATIONS, token_file_for_store
from oauthcli.errors import UsageError
from oauthcli.server.control_ops import HANDLERS
from tests.conftest import assert_one_line_error


@pytest.fixture
def users(oauthcli_store):
    oauthcli_store.add_user("alice", "wonderland", scopes=["me"])
    oauthcli_store.add_client("svc", "svc-secret-value", scopes=["me"])
    return oauthcli_store


def password_login(http: httpx.Client, url: str, password: str = "wonderland") -> httpx.Response:
    form = {"grant_type": "password", "username": "alice", "password": password}
    return http.post(url + "/token", data=form)


def test_every_operation_has_a_server_handler():
    assert set(HANDLERS) == set(OPERATIONS)


def test_the_control_api_is_404_when_off(users):
    with pytest_plugin.run_provider(users, control=False) as provider, provider.client() as http:
        assert http.post("/_oauthcli/fail_next", json={"endpoint": "token"}).status_code == 404
        assert http.get("/_oauthcli/requests").status_code == 404
        assert password_login(http, provider.url).status_code == 200


def test_the_control_api_is_401_without_its_token(users, oauthcli_provider):
    with oauthcli_provider.client() as http:
        for headers in (
            {},
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": "Basic x"},
        ):
            answer = http.post(
                "/_oauthcli/fail_next", json={"endpoint": "token", "error": "x"}, headers=headers
            )
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/_oauthcli/requests").status_code == 401
        # nothing was queued: the next login works
        assert password_login(http, oauthcli_provider.url).status_code == 200
    assert oauthcli_provider.control("faults") == {"faults": []}


def test_the_token_file_is_private_and_new_each_start(users):
    token_file = token_file_for_store(users.path)
    with pytest_plugin.run_provider(users, "--control", control=False) as provider:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        first = token_file.read_text().strip()
        assert (
            "/_oauthcli/" in provider.log.read_text()
            and str(token_file) in provider.log.read_text()
        )
    with pytest_plugin.run_provider(users, "--control", control=False):
        assert token_file.read_text().strip() != first


def test_a_symlink_planted_at_the_token_file_is_not_followed(users, run_oauthcli, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "planted.token"
    link.symlink_to(victim)
    result = run_oauthcli(
        "serve", "--store", str(users.path), "--port", "0", "--control",
        "--control-token-file", str(link),
    )  # fmt: skip
    assert_one_line_error(result, 7, "symbolic link")
    assert victim.read_text() == "precious\n" and link.is_symlink()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_control_is_refused_on_a_non_loopback_host(users, run_oauthcli, host):
    result = run_oauthcli("serve", "--store", str(users.path), "--host", host, "--control")
    assert_one_line_error(result, 2, "--control needs a loopback --host")
    assert not token_file_for_store(users.path).exists()


def test_control_is_refused_behind_a_proxy(users, run_oauthcli):
    result = run_oauthcli(
        "serve", "--store", str(users.path), "--control", "--forwarded-allow-ips", "127.0.0.1"
    )
    assert_one_line_error(result, 2, "--control cannot be used with --forwarded-allow-ips")
    assert not token_file_for_store(users.path).exists()


def test_a_request_from_a_non_loopback_peer_is_refused(users):
    """Serve never binds elsewhere; the per-request check is tested with the one peer
    address a loopback socket cannot give (ASGITransport's ``client``)."""
    import asyncio

    from oauthcli.server import create_app
    from oauthcli.server.control import ControlOptions

    app = create_app(users.store, users.settings, control=ControlOptions("t" * 43))

    async def ask(peer: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            answer = await http.get(
                "/_oauthcli/faults", headers={"Authorization": "Bearer " + "t" * 43}
            )
            return answer.status_code

    assert asyncio.run(ask("203.0.113.5")) == 403
    assert asyncio.run(ask("127.0.0.1")) == 200


def test_the_cli_drives_it_with_the_token_file(users, cli):
    with pytest_plugin.run_provider(users, "--control", control=False) as provider:
        args = ("--url", provider.url, "--store", str(users.path))
        queued = cli(
            "control",
            "fail-next",
            "endpoint=token",
            "error=invalid_grant",
            "times=2",
            *args,
            "--json",
        )
        assert queued.exit_code == 0, queued.stderr
        import json

        fault = json.loads(queued.stdout)["fault"]
        assert fault["endpoint"] == "token" and fault["times"] == 2
        with provider.client() as http:
            for _ in range(2):
                refused = password_login(http, provider.url)
                assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
            assert password_login(http, provider.url).status_code == 200
        assert "fail_next endpoint='token'" in provider.log.read_text()
        listed = cli("control", "requests", "endpoint=token", *args)
        assert listed.exit_code == 0
        assert listed.stdout.count("POST /token password - alice") == 3
        assert "wonderland" not in listed.stdout
        bad = cli("control", "fail-next", "endpoint=nowhere", *args)
        assert_one_line_error(bad, 2, "endpoint must be one of")
    wrong = cli("control", "faults", "--url", provider.url, "--store", str(users.path))
    assert_one_line_error(wrong, 6, "could not connect")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_one_line_not_a_crash(cli, tmp_path, value):
    # float("nan") parses but is no JSON number: refused before anything is sent.
    token = tmp_path / "control.token"
    token.write_text("some-control-token\n")
    token.chmod(0o600)
    args = ("--url", "http://127.0.0.1:9", "--token-file", str(token))
    result = cli("control", "advance", f"seconds={value}", *args)
    assert_one_line_error(result, 2, "advance: seconds must be a finite number")
    delayed = cli("control", "fail-next", "endpoint=token", f"delay={value}", *args)
    assert_one_line_error(delayed, 2, "fail_next: delay must be a finite number")
    client = ControlClient("http://127.0.0.1:9", "some-control-token")
    try:
        with pytest.raises(UsageError, match="finite"):
            client.call("advance", seconds=float(value))
    finally:
        client.close()


@pytest.mark.parametrize("held", ["t\u00f6k\u00e9n-of-serve", "token\x01with-a-control"])
def test_a_token_file_holding_no_header_value_is_one_line(cli, tmp_path, held):
    # the token goes into an Authorization header: anything else was an internal error
    token = tmp_path / "control.token"
    token.write_text(held + "\n", encoding="utf-8")
    token.chmod(0o600)
    result = cli("control", "faults", "--url", "http://127.0.0.1:9", "--token-file", str(token))
    assert_one_line_error(result, 7, "does not hold a token")
    assert held not in result.stderr


def test_the_cli_help_names_every_operation(cli):
    shown = "".join(cli("control", "--help").stdout.split())  # however Rich wraps it
    for name in OPERATIONS:
        assert name.replace("_", "-") in shown


def test_the_cli_with_a_token_of_another_run_is_refused(users, cli, tmp_path):
    stale = tmp_path / "stale.token"
    stale.write_text("not-this-servers-token\n")
    stale.chmod(0o600)
    with pytest_plugin.run_provider(users, "--control", control=False) as provider:
        result = cli("control", "faults", "--url", provider.url, "--token-file", str(stale))
        assert_one_line_error(result, 3, "refused the token")


def test_an_oauth_error_fault_has_the_status_of_rfc_6749(users, oauthcli_provider):
    provider = oauthcli_provider
    provider.fail_next("token", "invalid_client")
    provider.fail_next("token", "temporarily_unavailable", retry_after=7)
    provider.fail_next("token", "invalid_grant", description="the code was used")
    with provider.client() as http:
        answer = password_login(http, provider.url)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
        assert answer.headers["www-authenticate"].startswith("Basic")
        answer = password_login(http, provider.url)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
        answer = password_login(http, provider.url)
        assert answer.status_code == 400
        assert answer.json()["error_description"] == "the code was used"
        assert password_login(http, provider.url).status_code == 200


def test_status_body_delay_and_drop_faults_as_httpx_sees_them(users, oauthcli_provider):
    provider = oauthcli_provider
    provider.fail_next("jwks", status=503, retry_after=2, times=2)
    provider.fail_next("discovery", body="<html>proxy error</html>")
    provider.fail_next("token", drop=True)
    with provider.client() as http:
        for _ in range(2):
            answer = http.get("/.well-known/jwks.json")
            assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
        assert http.get("/.well-known/jwks.json").status_code == 200
        page = http.get("/.well-known/openid-configuration")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        with pytest.raises(ValueError):
            page.json()
        with pytest.raises(httpx.RemoteProtocolError):
            password_login(http, provider.url)
        assert password_login(http, provider.url).status_code == 200
    dropped = provider.requests_to("token")[0]
    assert dropped["outcome"] == "dropped" and dropped["fault"]["drop"] is True
    assert "Traceback" not in provider.log.read_text()  # asked for, not a crash


def test_a_delay_fault_holds_the_answer_until_the_client_gives_up(users, oauthcli_provider):
    oauthcli_provider.fail_next("token", delay=30)
    slow = httpx.Client(base_url=oauthcli_provider.url, timeout=0.5, trust_env=False)
    with slow as http, pytest.raises(httpx.TimeoutException):
        password_login(http, oauthcli_provider.url)
    # The provider took the fault and saw the client leave (bounded, round trips, no sleep).
    with oauthcli_provider.client() as http:
        deadline = time.monotonic() + 60
        while [r["outcome"] for r in oauthcli_provider.requests_to("token")] != ["abandoned"]:
            assert time.monotonic() < deadline
            http.get("/.well-known/jwks.json")
    with oauthcli_provider.client() as http:
        assert password_login(http, oauthcli_provider.url).status_code == 200


def test_a_fault_for_one_client_leaves_the_others_alone(users, oauthcli_provider):
    oauthcli_provider.fail_next("token", "invalid_client", client="svc", times=0)
    with oauthcli_provider.client() as http:
        assert password_login(http, oauthcli_provider.url).status_code == 200
        for _ in range(3):
            denied = http.post(
                "/token",
                data={"grant_type": "client_credentials"},
                auth=("svc", "svc-secret-value"),
            )
            assert denied.status_code == 401
    assert oauthcli_provider.clear_faults() == 1
    with oauthcli_provider.client() as http:
        granted = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=("svc", "svc-secret-value")
        )
        assert granted.status_code == 200


@pytest.mark.parametrize(
    ("fault", "code", "said"),
    [
        ({"error": "temporarily_unavailable", "retry_after": 1}, 6, "503 service unavailable: temporarily_unavailable"),
        ({"error": "invalid_client"}, 3, "client authentication failed: invalid_client"),
        ({"status": 502}, 6, "answered 502 bad gateway with a non-json body"),
        ({"body": "<html>a proxy's page</html>"}, 6, "answered 200 with an html page"),
        ({"drop": True}, 6, "peer closed connection"),
        ({"delay": 120}, 6, "timed out after 10 s"),
    ],
)  # fmt: skip
def test_oauthcli_login_against_each_fault_says_one_line(
    users, oauthcli_provider, run_oauthcli, fault, code, said
):
    oauthcli_provider.fail_next("token", **fault)
    result = run_oauthcli(
        "login", "alice", "--url", oauthcli_provider.token_url, "--password-stdin",
        "--timeout", "10", input="wonderland\n",
    )  # fmt: skip
    assert_one_line_error(result, code, said)
    assert "wonderland" not in result.output
    # logged once answered (a delay: once the client has left; a generous bound, no sleep)
    with oauthcli_provider.client() as http:
        deadline = time.monotonic() + 60
        while not (logged := oauthcli_provider.requests_to("token")):
            assert time.monotonic() < deadline
            http.get("/.well-known/jwks.json")  # a round trip, not a sleep
    assert logged[0]["fault"] is not None
    outcomes = {"drop": "dropped", "delay": "abandoned", "body": "ok"}
    assert logged[0]["outcome"] == outcomes.get(next(iter(fault)), "error")


def test_an_authorize_fault_goes_back_to_the_registered_redirect_uri(users, oauthcli_provider):
    from oauthcli.store import Client

    callback = "http://127.0.0.1:53682/callback"
    with users.store.edit() as data:
        data.clients["web"] = Client("web", scopes=["me"], public=True, redirect_uris=[callback])
    oauthcli_provider.fail_next("authorize", "access_denied", times=2)
    params = {"response_type": "code", "client_id": "web", "redirect_uri": callback, "state": "xyz"}
    with oauthcli_provider.client() as http:
        back = http.get("/authorize", params=params)
        assert back.status_code == 302
        location = httpx.URL(back.headers["location"])
        assert str(location).startswith(callback)
        assert location.params["error"] == "access_denied" and location.params["state"] == "xyz"
        assert location.params["iss"] == oauthcli_provider.issuer_url
        # an unregistered redirect URI never receives it (RFC 6749 4.1.2.1)
        elsewhere = http.get(
            "/authorize", params={**params, "redirect_uri": "https://evil.example/"}
        )
        assert elsewhere.status_code == 400 and "evil" not in elsewhere.headers.get("location", "")


def test_a_userinfo_fault_is_a_bearer_challenge(users, oauthcli_provider):
    oauthcli_provider.fail_next("userinfo", "insufficient_scope")
    oauthcli_provider.fail_next("users_me", "invalid_token", user="alice")
    with oauthcli_provider.client() as http:
        token = password_login(http, oauthcli_provider.url).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        info = http.get("/userinfo", headers=auth)
        assert info.status_code == 403
        assert 'error="insufficient_scope"' in info.headers["www-authenticate"]
        me = http.get("/users/me", headers=auth)
        assert me.status_code == 401 and 'error="invalid_token"' in me.headers["www-authenticate"]
        assert http.get("/users/me", headers=auth).status_code == 200
    logged = oauthcli_provider.requests_to("users_me")
    assert [(r["user"], r["error"], r["auth"]) for r in logged] == [
        ("alice", "invalid_token", "bearer"),
        ("alice", None, "bearer"),
    ]


def test_the_log_records_scopes_resources_and_clients_and_hashes_secrets(users, oauthcli_provider):
    from oauthcli.server.requestlog import short_hash

    with oauthcli_provider.client() as http:
        form = [("grant_type", "client_credentials"), ("scope", "me"),
                ("resource", "https://a.example/"), ("resource", "https://b.example/")]  # fmt: skip
        http.post(
            "/token",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=("svc", "svc-secret-value"),
        )
    [entry] = oauthcli_provider.requests_to("token", grant_type="client_credentials")
    assert entry["client_id"] == "svc" and entry["auth"] == "basic" and entry["scope"] == ["me"]
    assert entry["resource"] == ["https://a.example/", "https://b.example/"]
    assert "svc-secret-value" not in str(oauthcli_provider.requests)
    with oauthcli_provider.client() as http:
        password_login(http, oauthcli_provider.url)
    last = oauthcli_provider.requests[-1]
    assert last["params"]["password"] == short_hash("wonderland") and last["user"] == "alice"


def test_faults_clock_and_log_are_shared_through_redis(users, redis_server):
    with pytest_plugin.run_provider(
        users, "--state", redis_server.url, "--workers", "2"
    ) as provider:
        provider.fail_next("token", "invalid_grant")
        with provider.client() as http:
            assert password_login(http, provider.url).status_code == 400
            token = password_login(http, provider.url).json()["access_token"]
            provider.advance(users.settings.access_ttl + 1)
            assert (
                http.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
                == 401
            )
        assert [r["status"] for r in provider.requests_to("token")] == [400, 200]


def test_rotate_keys_publishes_the_new_key_and_keeps_or_drops_the_old(tmp_path):
    import jwt

    store = pytest_plugin.OAuthCliStore(tmp_path, {"algorithm": "ES256"})
    store.add_user("alice", "wonderland", scopes=["me"])
    with pytest_plugin.run_provider(store, "--workers", "2") as provider, provider.client() as http:

        def kids() -> list[str]:
            return [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]

        def me(token: str) -> int:
            return http.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code

        first = password_login(http, provider.url).json()["access_token"]
        original = jwt.get_unverified_header(first)["kid"]
        assert kids() == [original]
        rotated = provider.rotate_keys(keep_old=True)
        assert kids() == [rotated["kid"], original]
        second = password_login(http, provider.url).json()["access_token"]
        assert jwt.get_unverified_header(second)["kid"] == rotated["kid"]
        jwks = jwt.PyJWKClient(provider.jwks_url)
        for token in (first, second):  # a relying party verifies both through the JWKS
            jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["ES256"],
                       options={"verify_aud": False})  # fmt: skip
            assert me(token) == 200
        dropped = provider.rotate_keys(keep_old=False)
        assert kids() == [dropped["kid"]]
        assert me(first) == 401 and me(second) == 401
        assert me(password_login(http, provider.url).json()["access_token"]) == 200
        assert "PRIVATE" not in provider.log.read_text()


@pytest.mark.parametrize(
    "kind",
    ["expired", "not_yet_valid", "wrong_iss", "wrong_aud", "unknown_key", "bad_signature",
     "missing_claim", "alg_none"],
)  # fmt: skip
def test_each_bad_token_is_refused_by_the_provider_itself(users, oauthcli_provider, kind):
    token = oauthcli_provider.issue_bad_token(kind, "alice", scopes=["me"])
    with oauthcli_provider.client() as http:
        answer = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, (kind, answer.text)


def test_the_token_endpoint_hands_out_a_bad_token_when_told(users, oauthcli_provider):
    import jwt

    oauthcli_provider.fail_next("token", token_kind="wrong_aud")
    with oauthcli_provider.client() as http:
        issued = password_login(http, oauthcli_provider.url).json()
        assert jwt.decode(issued["access_token"], options={"verify_signature": False})["aud"] == (
            "https://wrong-audience.invalid"
        )
        assert (
            http.get(
                "/users/me", headers={"Authorization": f"Bearer {issued['access_token']}"}
            ).status_code
            == 401
        )
        normal = password_login(http, oauthcli_provider.url).json()["access_token"]
        assert "aud" not in jwt.decode(normal, options={"verify_signature": False})


def test_a_new_run_forgets_the_last_runs_faults_clock_and_log(users):
    with pytest_plugin.run_provider(users) as provider:
        provider.fail_next("token", "invalid_grant", times=0)
        provider.advance(3600)
    with pytest_plugin.run_provider(users) as provider, provider.client() as http:
        assert provider.control("faults") == {"faults": []}
        assert password_login(http, provider.url).status_code == 200
        assert [r["path"] for r in provider.requests] == [
            "/.well-known/openid-configuration",
            "/token",
        ]
        assert provider.advance(1) == 1


def test_with_the_state_down_control_mode_answers_as_serve_does(users, own_redis):
    """Redis stops: requests are the app's 503, not a crash of the control layer; back on,
    the faults work again."""
    with pytest_plugin.run_provider(users, "--state", own_redis.url) as provider:
        with provider.client() as http:
            assert password_login(http, provider.url).status_code == 200
            own_redis.stop()
            down = password_login(http, provider.url)
            assert down.status_code == 503 and down.json()["error"] == "temporarily_unavailable"
            assert http.get("/.well-known/jwks.json").status_code == 200  # needs no state
            own_redis.start()
            deadline = time.monotonic() + 60
            while password_login(http, provider.url).status_code != 200:
                assert time.monotonic() < deadline
        provider.fail_next("token", "invalid_grant")
        with provider.client() as http:
            assert password_login(http, provider.url).status_code == 400
        assert "Traceback" not in provider.log.read_text()


def test_control_json_on_success_and_failure(users, cli, tmp_path):
    import json

    missing = cli("control", "faults", "--token-file", str(tmp_path / "none"), "--json")
    assert missing.exit_code == 7
    assert list(json.loads(missing.stdout)) == ["error", "message", "exit_code"]
    assert missing.stderr.startswith("oauthcli: error: ") and "not found" in missing.stderr
    with pytest_plugin.run_provider(users) as provider:
        args = ("--url", provider.url, "--token-file", str(provider.token_file), "--json")
        assert json.loads(cli("control", "advance", "seconds=5", *args).stdout)["offset"] == 5
        bad = cli("control", "issue-bad-token", "kind=missing_claim", "claim=iss", *args)
        import jwt

        token = json.loads(bad.stdout)["token"]
        assert "iss" not in jwt.decode(token, options={"verify_signature": False})
        refused = cli("control", "advance", "seconds=-1", *args)
        assert refused.exit_code == 2 and json.loads(refused.stdout)["error"] == "usage"
