"""oauthcli decode: token sources, human and JSON output, JWE/opaque, no cryptography import."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import CacheEntry, TokenCache
from tests.conftest import assert_one_line_error

SECRET = b"s" * 32


def make_token(**claims) -> str:
    now = int(time.time())
    body = {
        "iss": "https://auth.example",
        "sub": "alice",
        "scope": "me items",
        "iat": now - 60,
        "exp": now + 14 * 60 + 30,
        **claims,
    }
    return jwt.encode(body, SECRET, algorithm="HS256", headers={"typ": "at+jwt", "kid": "k1"})


def test_decode_human_output(cli):
    result = cli("decode", make_token())
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Header" in out and "Payload" in out
    assert "alg" in out and "HS256" in out and "at+jwt" in out
    assert "sub" in out and "alice" in out
    assert "expires in 14 min" in out
    assert "issued 1 min ago" in out
    assert "Z (" in out  # ISO-8601 in UTC
    assert "Lifetime  [" in out and "% used of 15 min" in out
    assert "Scopes    me, items" in out
    assert "Signature NOT verified" in out
    assert "\x1b[" not in out  # plain text when piped
    assert result.stderr == ""


def test_decode_expired_token_still_decodes(cli):
    result = cli("decode", make_token(exp=int(time.time()) - 3 * 3600 - 5, iat=1))
    assert result.exit_code == 0
    assert "expired 3 h ago" in result.stdout


def test_decode_json_is_exactly_the_contract(cli):
    token = make_token()
    result = cli("decode", "--json", token)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert data == {
        "valid": None,  # decode never checks: verify's shape, without its verdict
        "error": None,
        "message": "decoded; signature NOT checked (see 'oauthcli verify')",
        "header": jwt.get_unverified_header(token),
        "payload": payload,
        "expires_in": data["expires_in"],
        "warnings": [],
    }
    assert payload["exp"] - 60 <= data["expires_in"] + time.time() <= payload["exp"] + 1
    assert result.stderr == ""


@pytest.mark.parametrize("wrap", ["Bearer {}", "  {}\n", "bearer {}"])
def test_bearer_prefix_and_whitespace(cli, wrap):
    result = cli("decode", "--json", wrap.format(make_token()))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["payload"]["sub"] == "alice"


def test_token_from_stdin_env_and_cache(cli):
    token = make_token()
    assert (
        json.loads(cli("decode", "--json", "-", input=f"Bearer {token}\n").stdout)["valid"] is None
    )
    result = cli("decode", "--json", env={"OAUTHCLI_TOKEN": token})
    assert json.loads(result.stdout)["payload"]["sub"] == "alice"
    result = cli("decode")
    assert_one_line_error(result, 2, "no token given")
    TokenCache(settings.cache_dir()).save("work", CacheEntry(access_token=make_token(sub="bob")))
    result = cli("decode", "--json", "--profile", "work")
    assert json.loads(result.stdout)["payload"]["sub"] == "bob"
    result = cli("--profile", "work", "decode", "--json")
    assert json.loads(result.stdout)["payload"]["sub"] == "bob"


def test_opaque_and_encrypted_tokens(cli):
    result = cli("decode", "2YotnFZFEjr1zCsicMWpAA")
    assert_one_line_error(result, 4, "opaque")
    jwe = (
        "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ."
        "OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe."
        "48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji."
        "XFBoMYUZodetZdvTiFvSkQ"
    )
    result = cli("decode", jwe)
    assert_one_line_error(result, 4, "encrypted", "RSA-OAEP", "A256GCM")
    result = cli("decode", "not.a.jwt")
    assert_one_line_error(result, 4)


def test_hostile_claims_cannot_drive_the_terminal(cli):
    token = make_token(name="\x1b[31mred\x1b]0;title\x07", **{"\x1b[2Jkey": 1})
    result = cli("decode", token)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "red" in result.stdout


def test_odd_claim_values(cli):
    token = make_token(exp="tomorrow", nbf=True, aud=["a", "b"], nested={"x": [1, 2]})
    result = cli("decode", token)
    assert result.exit_code == 0
    assert "not a NumericDate" in result.stdout
    assert '["a", "b"]' in result.stdout
    assert "Lifetime" not in result.stdout


def test_times_far_out_of_range(cli):
    # an integer beyond the float range made decode crash with OverflowError
    result = cli("decode", make_token(exp=10**400, iat=-(2**62)))
    assert result.exit_code == 0, result.stderr
    assert "not a NumericDate" in result.stdout
    assert "issued more than 10,000 years ago" in result.stdout
    assert json.loads(cli("decode", "--json", make_token(exp=10**400)).stdout)["payload"]["exp"]


def test_decode_does_not_import_cryptography(tmp_path):
    probe = (
        "import sys, json\n"
        "from oauthcli.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = [m for m in ('cryptography', 'jwt', 'httpx', 'rich', 'fastapi') if m in sys.modules]\n"
        "sys.stderr.write('LOADED=' + json.dumps(heavy))\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "decode", make_token()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "alice" in proc.stdout
    assert json.loads(proc.stderr.rsplit("LOADED=", 1)[1]) == []


def test_decode_on_a_terminal_uses_rich(cli, monkeypatch):
    from oauthcli.cli import output

    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    result = cli("decode", make_token(name="[bold]not markup[/bold]"))
    assert result.exit_code == 0
    assert "Signature NOT verified" in result.stdout
    assert "[bold]not markup[/bold]" in result.stdout  # claims are never read as markup


def test_a_file_name_as_token_gets_the_way_to_read_it(cli, isolated_env):
    token = cli("issue", "--sub", "alice", env={"OAUTHCLI_SECRET": "s" * 40})
    (isolated_env / "id.jwt").write_text(token.stdout)
    for command in ("decode", "verify", "audit"):
        result = cli(command, "id.jwt")
        assert_one_line_error(result, 2, "'id.jwt' is a file", f"oauthcli {command} - < id.jwt")
    # The hint's own advice works.
    assert cli("decode", "-", input=(isolated_env / "id.jwt").read_text()).exit_code == 0
