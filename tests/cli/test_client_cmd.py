"""``oauthcli client ...``: clients for the client_credentials grant, end to end with serve."""

import json
import stat

from oauthcli.passwords import verify_password, verify_secret
from oauthcli.store import UserStore
from tests.apps_serve.live import live_server
from tests.conftest import assert_one_line_error

# What `client list --json` shows of a client added with none of those options.
DEFAULTS = {
    "post_logout_redirect_uris": [],
    "audience": None,
    "claims": {},
    "require_dpop": False,
    "require_pushed_authorization_requests": False,
    "token_exchange": False,
    "exchange_audiences": [],
}


def test_add_with_a_generated_secret_then_log_in_through_serve(cli, store_path, isolated_env):
    result = cli(
        "client", "add", "ci-bot", "--scope", "items", "--new-secret-file", "ci-bot.secret"
    )
    assert result.exit_code == 0, result.stderr
    secret_file = isolated_env / "ci-bot.secret"
    secret = secret_file.read_text().strip()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret not in result.output
    client = UserStore(store_path).load().clients["ci-bot"]
    assert client.scopes == ["items"] and verify_secret(secret, client.hashed_secret, 4)

    listed = cli("client", "list", "--json")
    assert json.loads(listed.stdout) == [
        {
            "client_id": "ci-bot",
            "disabled": False,
            "scopes": ["items"],
            "public": False,
            "redirect_uris": [],
            **DEFAULTS,
        }
    ]
    assert "$2b$" not in listed.stdout

    with live_server(store_path) as server:
        login = cli(
            "login", "--url", f"{server.url}/token", "--grant", "client-credentials",
            "--client-id", "ci-bot", "--client-secret-file", str(secret_file), "--json",
        )  # fmt: skip
        assert login.exit_code == 0, login.stderr
        assert json.loads(login.stdout)["scope"] == "items"
        assert secret not in login.output

        assert cli("client", "remove", "ci-bot").exit_code == 0
        again = cli(
            "login", "--url", f"{server.url}/token", "--grant", "client-credentials",
            "--client-id", "ci-bot", "--client-secret-file", str(secret_file),
        )  # fmt: skip
        assert_one_line_error(again, 3, "client authentication failed")


def test_add_with_a_secret_from_stdin(cli, store_path):
    result = cli("client", "add", "svc", "--secret-stdin", input="a-long-enough-secret\n")
    assert result.exit_code == 0, result.stderr
    hashed = UserStore(store_path).load().clients["svc"].hashed_secret
    # A secret a person chose keeps the slow hash (NIST SP 800-63B 5.1.1.2).
    assert hashed.startswith("$2b$")
    assert verify_password("a-long-enough-secret", hashed, 4)[0]
    assert verify_secret("a-long-enough-secret", hashed, 4)


def test_a_generated_secret_is_256_random_bits_under_a_fast_salted_hash(
    cli, store_path, isolated_env
):
    for name in ("one", "two"):
        result = cli("client", "add", name, "--new-secret-file", f"{name}.secret")
        assert result.exit_code == 0, result.stderr
    secrets_ = {n: (isolated_env / f"{n}.secret").read_text().strip() for n in ("one", "two")}
    hashes = {n: c.hashed_secret for n, c in UserStore(store_path).load().clients.items()}
    for name, secret in secrets_.items():
        assert len(secret) >= 43  # 32 bytes of token_urlsafe: 256 bits
        assert hashes[name].startswith("$hmac-sha256$v=1$")
        assert secret not in hashes[name]
        assert verify_secret(secret, hashes[name], 4)
        assert not verify_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"), hashes[name])
    # Salted: the two hashes share nothing, and neither verifies the other's secret.
    assert hashes["one"].split("$")[3] != hashes["two"].split("$")[3]
    assert not verify_secret(secrets_["one"], hashes["two"])


def test_client_errors(cli, store_path, isolated_env):
    assert_one_line_error(cli("client", "add", "svc"), 2, "exactly one of")
    assert_one_line_error(cli("client", "add", "svc", "--secret-stdin", input="short\n"), 2, "16")
    assert_one_line_error(
        cli("client", "add", "bad id", "--secret-stdin", input="x" * 20 + "\n"),
        2,
        "invalid client id",
    )
    (isolated_env / "taken").write_text("keep me")
    assert_one_line_error(
        cli("client", "add", "svc", "--new-secret-file", "taken"), 2, "already exists"
    )
    assert (isolated_env / "taken").read_text() == "keep me"
    assert cli("client", "add", "svc", "--secret-stdin", input="x" * 20 + "\n").exit_code == 0
    assert_one_line_error(
        cli("client", "add", "svc", "--secret-stdin", input="y" * 20 + "\n"), 2, "already exists"
    )
    assert_one_line_error(cli("client", "remove", "nobody"), 2, "no client 'nobody'")


def test_disable_and_enable_a_client(cli, store_path):
    cli("client", "add", "ci-bot", "--secret-stdin", input="s" * 20 + "\n")
    assert "disabled client 'ci-bot'" in cli("client", "disable", "ci-bot").stderr
    assert UserStore(store_path).load().clients["ci-bot"].disabled is True
    assert "already disabled" in cli("client", "disable", "ci-bot").stderr
    assert "disabled" in cli("client", "list").stdout
    assert "enabled client 'ci-bot'" in cli("client", "enable", "ci-bot").stderr
    assert UserStore(store_path).load().clients["ci-bot"].disabled is False
    missing = cli("client", "disable", "nobody")
    assert missing.exit_code == 2 and "no client 'nobody'" in missing.stderr


def test_add_a_public_client_with_redirect_uris(cli, store_path):
    result = cli(
        "client", "add", "web-app", "--public", "--scope", "me",
        "--redirect-uri", "http://127.0.0.1/callback", "--redirect-uri", "https://app.example/cb",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    client = UserStore(store_path).load().clients["web-app"]
    assert client.public and client.hashed_secret == ""
    assert client.redirect_uris == ["http://127.0.0.1/callback", "https://app.example/cb"]
    assert "hashed_secret" not in store_path.read_text().split("[clients.web-app]")[1]
    listed = cli("client", "list", "--json")
    assert json.loads(listed.stdout) == [
        {
            "client_id": "web-app",
            "disabled": False,
            "scopes": ["me"],
            "public": True,
            "redirect_uris": ["http://127.0.0.1/callback", "https://app.example/cb"],
            **DEFAULTS,
        }
    ]
    table = cli("client", "list").stdout
    assert "public" in table and "https://app.example/cb" in table


def test_public_client_errors(cli, store_path):
    assert_one_line_error(
        cli("client", "add", "web", "--public", "--secret-stdin", input="x" * 20 + "\n"),
        2,
        "no secret",
    )
    for bad, fragment in [
        ("/callback", "absolute"),
        ("https://app.example/cb#frag", "fragment"),
        ("http://127.0.0.1:8400/cb#", "fragment"),  # loopback: RFC 6749 3.1.2 all the same
        ("http:///cb", "no host"),
        ("javascript:alert(1)", "not allowed"),
        ("https://app.example/\x1b[31m", "control"),
    ]:
        result = cli("client", "add", "web", "--public", "--redirect-uri", bad)
        assert_one_line_error(result, 2, fragment)
    assert UserStore(store_path).load().clients == {}


def test_a_client_id_equal_to_a_username_is_refused(cli, store_path, isolated_env):
    """Issue 9 item 9: a client named alice would get tokens with sub: alice."""
    result = cli("client", "add", "alice", "--new-secret-file", "alice.secret")
    assert_one_line_error(result, 2, "must not be a username")
    assert not (isolated_env / "alice.secret").exists()
    assert "alice" not in UserStore(store_path).load().clients
    added = cli("client", "add", "ci-bot", "--new-secret-file", "ci-bot.secret")
    assert added.exit_code == 0, added.stderr
    user = cli("user", "add", "ci-bot", "--password-stdin", input="pw-of-ci-bot\n")
    assert_one_line_error(user, 2, "must not be a username")


def test_add_require_dpop_then_serve_refuses_its_requests_without_a_proof(
    cli, store_path, isolated_env
):
    from oauthcli.dpop import ProofKey

    added = cli("client", "add", "bound-bot", "--scope", "items", "--require-dpop",
                "--new-secret-file", str(isolated_env / "bot.secret"), "--store", str(store_path))  # fmt: skip
    assert added.exit_code == 0, added.output
    assert UserStore(store_path).load().clients["bound-bot"].require_dpop is True
    secret = (isolated_env / "bot.secret").read_text().strip()
    form = {"grant_type": "client_credentials", "scope": "items"}
    with live_server(store_path) as server, server.client() as http:
        refused = http.post("/token", data=form, auth=("bound-bot", secret))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
        proof = ProofKey.generate().proof("POST", server.url + "/token")
        bound = http.post("/token", data=form, auth=("bound-bot", secret), headers={"DPoP": proof})
        assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP"
