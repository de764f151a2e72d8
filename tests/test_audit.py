"""Known-weak secrets and ``oauthcli audit``: each shipped secret is caught, a strong one is not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from oauthcli.audit import audit
from oauthcli.verify.parse import decode
from oauthcli.verify.verdict import FIELDS as VERDICT_FIELDS
from oauthcli.weak_secrets import WEAK_SECRETS, find_weak_secret
from tests.conftest import TEST_SECRET

STRONG = TEST_SECRET  # 44 random-looking bytes: not on the list
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret: str, claims: dict | None = None, alg: str = "HS256", **header) -> str:
    """An HS* JWT signed with hmac directly (PyJWT warns about short keys, and warnings fail tests)."""
    now = int(time.time())
    body = claims if claims is not None else good_claims(now)
    head = b64(json.dumps({"alg": alg, "typ": "JWT", **header}).encode())
    payload = b64(json.dumps(body).encode())
    mac = hmac.new(secret.encode(), f"{head}.{payload}".encode(), DIGESTS[alg]).digest()
    return f"{head}.{payload}.{b64(mac)}"


def good_claims(now: int) -> dict:
    return {
        "iss": "https://auth.example",
        "aud": "api",
        "sub": "alice",
        "iat": now,
        "exp": now + 900,
    }


@pytest.mark.parametrize(("secret", "source"), WEAK_SECRETS, ids=[s for s, _ in WEAK_SECRETS])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_every_shipped_secret_is_found(secret, source, alg):
    found = find_weak_secret(decode(sign(secret, alg=alg)))
    assert found is not None and found.secret == secret and found.algorithm == alg
    assert source in found.warning()
    findings = audit(decode(sign(secret, alg=alg)), time.time())
    assert findings[0].code == "weak_secret"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_a_strong_secret_is_not_flagged(alg):
    parsed = decode(sign(STRONG, alg=alg))
    assert find_weak_secret(parsed) is None
    assert audit(parsed, time.time()) == []


def test_the_warning_never_shows_the_secret():
    for secret, _ in WEAK_SECRETS:
        found = find_weak_secret(decode(sign(secret)))
        # The text depends on the source and algorithm only, never on the secret itself.
        assert found.warning() == found._replace(secret="-").warning()


def test_short_listed_secret_is_also_too_short_for_its_alg():
    codes = [f.code for f in audit(decode(sign("secret")), time.time())]
    assert codes == ["weak_secret", "weak_key"]
    # The FastAPI tutorial's key is long enough; being published is what's wrong with it.
    tutorial = WEAK_SECRETS[0][0]
    assert [f.code for f in audit(decode(sign(tutorial)), time.time())] == ["weak_secret"]


def test_audit_lists_every_risk():
    now = int(time.time())
    token = sign(STRONG, {"sub": "x", "iat": now}, jku="https://evil.example/jwks", jwk={})
    codes = [f.code for f in audit(decode(token), now)]
    assert codes == ["no_exp", "no_aud", "no_iss", "header_jku", "header_jwk"]
    long_lived = sign(STRONG, {**good_claims(now), "exp": now + 2 * 86400})
    assert [f.code for f in audit(decode(long_lived), now)] == ["long_lifetime"]
    # exactly a day is fine
    day = sign(STRONG, {**good_claims(now), "exp": now + 86400})
    assert audit(decode(day), now) == []


def test_audit_alg_none():
    head = b64(json.dumps({"alg": "none"}).encode())
    body = b64(json.dumps(good_claims(int(time.time()))).encode())
    assert [f.code for f in audit(decode(f"{head}.{body}."), time.time())] == ["alg_none"]


def test_audit_secret_file_too_short_for_alg():
    parsed = decode(sign("x" * 40, alg="HS512"))
    assert [f.code for f in audit(parsed, time.time(), secret=b"x" * 40)] == ["weak_key"]
    assert audit(parsed, time.time(), secret=b"x" * 64) == []


# -- the commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("secret", "source"), WEAK_SECRETS, ids=[s for s, _ in WEAK_SECRETS])
def test_decode_and_verify_warn_for_each_weak_secret(cli, tmp_path, secret, source):
    token = sign(secret)
    decoded = cli("decode", token)
    assert decoded.exit_code == 0
    assert decoded.stderr.startswith("oauthcli: warning: ") and source in decoded.stderr
    as_json = json.loads(cli("decode", "--json", token).stdout)
    assert any(source in w for w in as_json["warnings"])

    key = tmp_path / "weak.secret"
    key.write_text(secret)
    verified = cli("verify", "--json", "--secret-file", str(key), token, "--audience", "api")
    assert verified.exit_code == 0, verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["valid"] is True
    assert any(source in w for w in verdict["warnings"])
    assert source in verified.stderr


def test_decode_and_verify_are_quiet_for_a_strong_secret(cli, tmp_path):
    token = sign(STRONG)
    decoded = cli("decode", "--json", token)
    assert decoded.stderr == "" and json.loads(decoded.stdout)["warnings"] == []
    key = tmp_path / "strong.secret"
    key.write_text(STRONG)
    verified = cli("verify", "--json", "--secret-file", str(key), "--audience", "api", token)
    assert verified.exit_code == 0 and verified.stderr == ""
    assert not json.loads(verified.stdout).get("warnings")


def test_verify_warns_even_when_the_token_fails(cli, tmp_path):
    key = tmp_path / "strong.secret"
    key.write_text(STRONG)
    result = cli("verify", "--json", "--secret-file", str(key), sign("changeme"))
    assert result.exit_code == 4
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is False and verdict["error"] == "signature"
    assert any("published secret" in w for w in verdict["warnings"])


def test_audit_command_clean_and_risky(cli):
    clean = cli("audit", sign(STRONG))
    assert clean.exit_code == 0 and clean.stdout.startswith("clean:") and clean.stderr == ""

    risky = cli("audit", sign("your-256-bit-secret", {"sub": "x"}))
    assert risky.exit_code == 4
    codes = [line.split()[0] for line in risky.stdout.splitlines()]
    assert codes == ["weak_secret", "weak_key", "no_exp", "no_aud", "no_iss"]
    assert risky.stderr.strip() == (
        "oauthcli: error: 5 risks found: weak_secret, weak_key, no_exp, no_aud, no_iss"
    )


def test_audit_json_is_the_contract(cli):
    token = sign("secret", {"sub": "x", "aud": "api", "iss": "i"})
    result = cli("audit", "--json", token)
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert list(data) == [*VERDICT_FIELDS, "findings"]  # verify's shape, then the findings
    assert data["valid"] is False and data["error"] == "audit"
    assert [f["code"] for f in data["findings"]] == ["weak_secret", "weak_key", "no_exp"]
    assert all(set(f) == {"code", "message"} for f in data["findings"])
    assert data["warnings"] == [f["message"] for f in data["findings"]]
    assert data["payload"] == {"sub": "x", "aud": "api", "iss": "i"}
    ok = json.loads(cli("audit", "--json", sign(STRONG)).stdout)
    assert ok["valid"] is True and ok["findings"] == [] and ok["warnings"] == []


def test_audit_key_options(cli, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = tmp_path / "small.pem"
    pem.write_bytes(
        small.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # An HS256 token audited against a public key: the algorithm-confusion setup.
    result = cli("audit", "--json", "--key", str(pem), sign(STRONG))
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["alg_confusion"]
    # An RS256 token (signature irrelevant to the audit) against a 1024-bit key.
    head = b64(json.dumps({"alg": "RS256"}).encode())
    body = b64(json.dumps(good_claims(int(time.time()))).encode())
    result = cli("audit", "--json", "--key", str(pem), f"{head}.{body}.c2ln")
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["weak_key"]
    short = tmp_path / "short.secret"
    short.write_text("s" * 20)
    result = cli("audit", "--secret-file", str(short), sign("s" * 20))
    assert result.exit_code == 4 and "weak_key" in result.stdout and "20 bytes" in result.stdout


def test_audit_bad_input_is_one_line(cli):
    from tests.conftest import assert_one_line_error

    assert_one_line_error(cli("audit", "not-a-jwt"), 4, "opaque")
    assert_one_line_error(cli("audit", "--key", "/nonexistent.pem", sign(STRONG)), 7, "cannot read")
