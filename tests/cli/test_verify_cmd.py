"""oauthcli verify: key sources, exit codes, --json, batch, JWKS and discovery over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import CacheEntry, TokenCache
from oauthcli.issuer import settings_for_store
from oauthcli.keys import generate, load_pem, public_jwk
from oauthcli.store import UserStore
from oauthcli.tokens import TokenService
from tests._jwks_server import JsonSite, self_signed_cert
from tests.conftest import TEST_SECRET, assert_one_line_error, write_store

VERDICT_KEYS = {"valid", "error", "message", "header", "payload", "expires_in", "warnings"}


def store_service(store_path: Path, **overrides) -> TokenService:
    data = UserStore(store_path).load()
    issuer = settings_for_store(store_path, {**data.issuer, **overrides})
    return TokenService(issuer, issuer.signing_key())


def access(store_path: Path, ttl: int | None = None, **extra) -> str:
    token, _ = store_service(store_path).access_token(
        "alice", ["me", "items"], ttl=ttl, extra=extra
    )
    return token


def test_verify_a_token_of_the_store(cli, store_path):
    result = cli("verify", access(store_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("valid: ")
    assert "sub 'alice'" in result.stdout and "scopes me items" in result.stdout
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_json_verdict_shape(cli, store_path):
    result = cli("verify", "--json", access(store_path))
    data = json.loads(result.stdout)
    assert set(data) == VERDICT_KEYS
    assert data["valid"] is True and data["error"] is None
    assert data["header"]["typ"] == "at+jwt"
    assert data["payload"]["sub"] == "alice"
    assert 890 <= data["expires_in"] <= 900


def test_expired_token_exits_5_with_one_line(cli, store_path):
    token = access(store_path, exp=int(time.time()) - 3600, iat=1, nbf=1)
    result = cli("verify", token)
    assert_one_line_error(result, 5, "expired 1 h ago")
    assert result.stdout == ""
    result = cli("verify", "--json", token)
    assert result.exit_code == 5
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["error"] == "expired"
    assert data["payload"]["sub"] == "alice" and data["expires_in"] < -3500
    assert_one_line_error(result, 5, "expired")
    assert cli("verify", "--leeway", "2h", token).exit_code == 0


def test_a_subject_that_is_not_a_string_exits_4(cli, store_path):
    # RFC 7519 4.1.2: sub is a string; a signed token with "sub": [1, 2] is refused
    token = access(store_path, sub=[1, 2])
    result = cli("verify", token)
    assert_one_line_error(result, 4, "sub claim is not a string")
    result = cli("verify", "--json", token)
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"] == "claim"


def test_invalid_token_exits_4(cli, store_path):
    token = access(store_path)
    head, body, sig = token.split(".")
    result = cli("verify", f"{head}.{body}.{sig[::-1]}")
    assert_one_line_error(result, 4, "signature")
    result = cli("verify", "--json", "garbage")
    data = json.loads(result.stdout)
    assert data["error"] == "opaque" and data["header"] is None and data["payload"] is None
    assert_one_line_error(result, 4, "opaque")
    result = cli("verify", "--json", "x" * 70_000)
    assert json.loads(result.stdout) == {
        "valid": False,
        "error": "too_large",
        "message": json.loads(result.stdout)["message"],
        "header": None,
        "payload": None,
        "expires_in": None,
        "warnings": [],
    }
    assert_one_line_error(result, 4, "64 KiB")


def test_store_issuer_and_audience_are_checked_by_default(cli, isolated_env):
    path = isolated_env / "users.toml"
    (isolated_env / "hs.secret").write_text(TEST_SECRET)
    write_store(
        path,
        issuer={
            "algorithm": "HS256",
            "secret_file": "hs.secret",
            "issuer": "https://auth.example",
            "audience": "my-api",
        },
    )
    assert cli("verify", access(path)).exit_code == 0
    other_aud = access(path, aud="other-api")
    assert_one_line_error(cli("verify", other_aud), 4, "audience")
    assert cli("verify", "--audience", "other-api", other_aud).exit_code == 0
    other_iss = access(path, iss="https://auth.example.evil")
    assert_one_line_error(cli("verify", other_iss), 4, "issuer")


def test_an_unchecked_audience_is_accepted_with_a_warning(cli, store_path):
    # PyJWT rejects a token with aud when no audience is expected; jwt-cli skips it
    # silently. oauthcli accepts it (aud is checked "when asked") but says so.
    token = access(store_path, aud=["https://api.example", "https://idp/userinfo"])
    result = cli("verify", token)
    assert result.exit_code == 0 and result.stdout.startswith("valid: ")
    (line,) = result.stderr.splitlines()
    assert line.startswith("oauthcli: warning: audience not checked")
    assert "https://api.example" in line and "--audience" in line
    result = cli("verify", "--audience", "https://api.example", token)
    assert result.exit_code == 0 and result.stderr == ""
    expired = access(store_path, aud="x", exp=int(time.time()) - 10, iat=1, nbf=1)
    assert_one_line_error(cli("verify", expired), 5)


@pytest.mark.parametrize("option", ["--issuer", "--audience", "--require-scope", "--require-claim"])
def test_empty_expectations_are_usage_errors(cli, store_path, option):
    result = cli("verify", option, "", access(store_path))
    assert_one_line_error(result, 2, f"{option} must not be empty")
    assert result.stdout == ""


def test_asymmetric_store_verifies_with_the_public_half(cli, isolated_env):
    (isolated_env / "signing.pem").write_bytes(generate("ES256"))
    path = isolated_env / "users.toml"
    write_store(path, issuer={"algorithm": "ES256", "key_file": "signing.pem"})
    result = cli("verify", access(path))
    assert result.exit_code == 0, result.stderr
    assert "ES256, EC key" in result.stdout


def test_refresh_tokens_rejected_unless_asked(cli, store_path):
    service = store_service(store_path)
    refresh = service._refresh_token("alice", "fam", "jti", int(time.time()) + 3600, "gen")
    assert_one_line_error(cli("verify", refresh), 4, "refresh token")
    assert json.loads(cli("verify", "--json", refresh).stdout)["error"] == "type"
    assert cli("verify", "--token-type", "refresh", refresh).exit_code == 0
    assert cli("verify", "--token-type", "any", refresh).exit_code == 0
    assert_one_line_error(cli("verify", "--token-type", "refresh", access(store_path)), 4, "type")
    assert_one_line_error(cli("verify", "--token-type", "id", refresh), 2, "token type")


def test_scopes_claims_max_age(cli, store_path):
    token = access(store_path)
    assert cli("verify", "--require-scope", "me", "--require-scope", "items", token).exit_code == 0
    assert_one_line_error(cli("verify", "--require-scope", "admin", token), 4, "admin")
    assert cli("verify", "--require-claim", "jti", token).exit_code == 0
    assert_one_line_error(cli("verify", "--require-claim", "email", token), 4, "email")
    old = access(store_path, iat=int(time.time()) - 7200, nbf=1)
    assert_one_line_error(cli("verify", "--max-age", "1h", old), 5, "maximum age")
    assert cli("verify", "--max-age", "3h", old).exit_code == 0
    assert_one_line_error(cli("verify", "--leeway", "soon", token), 2, "--leeway")


def test_token_sources(cli, store_path):
    token = access(store_path)
    assert cli("verify", "-", input=f"Bearer {token}\n").exit_code == 0
    assert cli("verify", env={"OAUTHCLI_TOKEN": token}).exit_code == 0
    assert_one_line_error(cli("verify"), 2, "no token given")
    TokenCache(settings.cache_dir()).save("default", CacheEntry(access_token=token))
    assert cli("verify").exit_code == 0


def test_secret_sources_and_short_secret_warning(cli, isolated_env):
    token = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, TEST_SECRET, algorithm="HS256")
    (isolated_env / "s.secret").write_text(TEST_SECRET + "\n")
    assert cli("verify", "--secret-file", "s.secret", token).exit_code == 0
    assert cli("verify", token, env={"OAUTHCLI_SECRET": TEST_SECRET}).exit_code == 0
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        short = jwt.encode(
            {"sub": "a", "exp": int(time.time()) + 60}, "changeme", algorithm="HS256"
        )
    result = cli("verify", short, env={"OAUTHCLI_SECRET": "changeme"})
    assert result.exit_code == 0
    assert "oauthcli: warning:" in result.stderr and "8 bytes" in result.stderr
    assert "changeme" not in result.output
    assert_one_line_error(cli("verify", token), 7, "no key to verify with")
    result = cli("verify", "--secret-file", "s.secret", "--key", "k.pem", token)
    assert_one_line_error(result, 2, "one key source")


def test_secret_too_short_for_the_tokens_algorithm_warns(cli, isolated_env):
    secret = "s" * 40  # enough for HS256, not for HS512
    (isolated_env / "s.secret").write_text(secret)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, secret, algorithm="HS512")
    for args in (["--json", token], ["--alg", "HS512", token], ["--batch", "-"]):
        result = cli("verify", "--secret-file", "s.secret", *args, input=token + "\n")
        assert result.exit_code == 0, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("oauthcli: warning: the HS512 secret") and "40 bytes" in line
        assert secret not in result.stderr


def test_pem_key(cli, isolated_env):
    private = load_pem(generate("RS256"), "k")
    (isolated_env / "private.pem").write_bytes(generate("RS256"))
    from cryptography.hazmat.primitives import serialization

    (isolated_env / "public.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, private, algorithm="PS384")
    assert cli("verify", "--key", "public.pem", token).exit_code == 0
    assert_one_line_error(cli("verify", "--key", "public.pem", "--alg", "RS256", token), 4, "PS384")
    assert_one_line_error(cli("verify", "--key", "private.pem", token), 4, "signature")
    assert_one_line_error(cli("verify", "--key", "missing.pem", token), 7, "not found")


def test_jwks_file_and_url_and_discovery(cli, isolated_env):
    private = load_pem(generate("ES256"), "k")
    jwk = public_jwk(private, "ES256")
    jwks = {"keys": [jwk]}
    (isolated_env / "jwks.json").write_text(json.dumps(jwks))
    site = JsonSite({"/jwks": jwks})
    with site.serve() as url:
        site.routes["/.well-known/openid-configuration"] = {
            "issuer": url,
            "jwks_uri": url + "/jwks",
        }
        claims = {"sub": "a", "iss": url, "exp": int(time.time()) + 60}
        token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": jwk["kid"]})
        assert cli("verify", "--jwks", "jwks.json", token).exit_code == 0
        assert cli("verify", "--jwks", url + "/jwks", token).exit_code == 0
        result = cli("verify", "--issuer-url", url, "--json", token)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["valid"] is True
        wrong_iss = jwt.encode(
            {**claims, "iss": url + "/other"},
            private,
            algorithm="ES256",
            headers={"kid": jwk["kid"]},
        )
        assert_one_line_error(cli("verify", "--issuer-url", url, wrong_iss), 4, "issuer")
        assert_one_line_error(
            cli("verify", "--issuer-url", url + "/nothing", token), 6, "discovery"
        )
    # network failures are worded by the one transport-error rule (oauthcli.http), as login's
    assert_one_line_error(cli("verify", "--jwks", url + "/jwks", token), 6, "could not connect to")
    assert_one_line_error(cli("verify", "--jwks", "http://example.com/jwks", token), 2, "https")


def test_a_key_set_over_https_from_a_private_ca_needs_cacert(cli, isolated_env):
    # the JWKS client is built by the same factory as the token endpoint client: same --cacert
    private = load_pem(generate("ES256"), "k")
    jwk = public_jwk(private, "ES256")
    cert, key = self_signed_cert(isolated_env)
    site = JsonSite({"/jwks": {"keys": [jwk]}})
    token = jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60},
        private,
        algorithm="ES256",
        headers={"kid": jwk["kid"]},
    )
    with site.serve(ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://127.0.0.1:")
        refused = cli("verify", "--jwks", url + "/jwks", token)
        assert_one_line_error(refused, 6, "certificate verify failed", "pass --cacert")
        assert site.requests == []
        refused = cli("verify", "--issuer-url", url, token)
        assert_one_line_error(refused, 6, "certificate verify failed", "pass --cacert")
        trusted = cli("verify", "--jwks", url + "/jwks", "--cacert", str(cert), token)
        assert trusted.exit_code == 0, trusted.stderr
        assert site.requests == ["/jwks"]
    result = cli("verify", "--cacert", str(cert), "--jwks", "jwks.json", token)
    assert_one_line_error(result, 2, "--cacert is for a key set fetched over https")


# -- batch -----------------------------------------------------------------------------------


def test_batch_file_and_stdin(cli, store_path):
    good = access(store_path)
    expired = access(store_path, exp=int(time.time()) - 10, iat=1, nbf=1)
    lines = [good, expired, "garbage", f"Bearer {good}"]
    (store_path.parent / "tokens.txt").write_text("\n".join(lines) + "\n")
    result = cli("verify", "--batch", "tokens.txt")
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v["line"] for v in verdicts] == [1, 2, 3, 4]
    assert [v["error"] for v in verdicts] == [None, "expired", "opaque", None]
    assert all(set(v) == VERDICT_KEYS | {"line"} for v in verdicts)
    assert_one_line_error(result, 4, "2 of 4 tokens failed")
    result = cli("verify", "--batch", "-", input=f"{good}\n{expired}\n")
    assert_one_line_error(result, 5, "1 of 2")
    result = cli("verify", "--batch", "-", input=f"{good}\n{good}")
    assert result.exit_code == 0 and result.stderr == ""
    assert len(result.stdout.splitlines()) == 2
    assert_one_line_error(cli("verify", "--batch", "-", good), 2, "not both")
    assert_one_line_error(cli("verify", "--batch", "nope.txt"), 2, "cannot read")
    # blank lines (a trailing empty line, CRLF files) are not tokens
    result = cli("verify", "--batch", "-", input=f"\r\n{good}\r\n\r\n   \n")
    assert result.exit_code == 0 and result.stderr == ""
    assert [json.loads(v)["line"] for v in result.stdout.splitlines()] == [2]
    result = cli("verify", "--batch", "-", input="\n")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "oauthcli: warning: no tokens in the --batch input\n"


@pytest.mark.slow
def test_large_batch_uses_worker_processes_and_keeps_order(run_oauthcli, store_path):
    service = store_service(store_path)
    good, _ = service.access_token("alice", ["me"])
    tokens = []
    for i in range(6000):
        tokens.append(good if i % 3 else f"{good[:-3]}xyz")
    (store_path.parent / "big.txt").write_text("\n".join(tokens) + "\n")
    result = run_oauthcli("verify", "--batch", "big.txt", cwd=store_path.parent)
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v["line"] for v in verdicts] == list(range(1, 6001))
    assert [v["valid"] for v in verdicts] == [bool(i % 3) for i in range(6000)]
    assert_one_line_error(result, 4, "2000 of 6000")


@pytest.mark.parametrize("count", [100, 6000])  # one process, then worker processes
def test_batch_into_a_closed_pipe_stops_quietly(store_path, count):
    # `oauthcli verify --batch big.txt | head -1`: click made that exit 1
    import os
    import subprocess
    import sys

    good = access(store_path)
    (store_path.parent / "big.txt").write_text((good + "\n") * count * 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oauthcli", "verify", "--batch", "big.txt"],
        cwd=store_path.parent,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(200).startswith(b'{"line":1,')
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_batch_progress_goes_to_stderr_on_a_terminal(cli, store_path, monkeypatch):
    from oauthcli.cli import output

    monkeypatch.setattr(output, "stderr_is_terminal", lambda: True)
    good = access(store_path)
    result = cli("verify", "--batch", "-", input=f"{good}\n" * 50)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["valid"] for line in result.stdout.splitlines()] == [True] * 50
