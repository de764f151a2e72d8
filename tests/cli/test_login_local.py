"""login / issue / refresh / logout against a local user store."""

import base64
import json
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import jwt
import pytest

from oauthcli.keys import SUPPORTED_ALGORITHMS
from oauthcli.store import UserStore
from tests.conftest import TEST_SECRET, assert_one_line_error, write_store

ROOT = Path(__file__).resolve().parents[2]
ALL = list(SUPPORTED_ALGORITHMS)  # every algorithm oauthcli signs with
TOKEN_RESPONSE_KEYS = ["access_token", "token_type", "expires_in", "refresh_token", "scope"]


def login(cli, user="alice", password="secret", *extra):
    return cli("login", user, "--password-stdin", *extra, input=password + "\n")


def cache_file(isolated_env: Path, profile: str = "default") -> Path:
    return isolated_env.parent / "cache" / f"{profile}.json"


def cached(isolated_env: Path, profile: str = "default") -> dict:
    return json.loads(cache_file(isolated_env, profile).read_text())


def verify(token: str, **kw) -> dict:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"], **kw)


# ---------------------------------------------------------------- login


def test_login_json_is_the_rfc6749_token_response_and_is_cached(cli, store_path, isolated_env):
    import time

    before = int(time.time())
    result = login(cli, "alice", "secret", "--json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert list(body) == TOKEN_RESPONSE_KEYS
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["scope"] == "me items"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "HS256" and header["kid"]
    claims = verify(
        body["access_token"], options={"require": ["sub", "iat", "nbf", "exp", "jti", "scope"]}
    )
    assert claims["sub"] == "alice" and claims["scope"] == "me items"
    assert claims["exp"] - claims["iat"] == 900
    assert jwt.get_unverified_header(body["refresh_token"])["typ"] == "rt+jwt"

    path = cache_file(isolated_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = cached(isolated_env)
    assert entry["access_token"] == body["access_token"]
    assert entry["refresh_token"] == body["refresh_token"]
    assert entry["source"] == "local" and entry["username"] == "alice"
    assert entry["store"] == str(store_path.resolve())
    # expires_in counted from a moment between the start and the minting (a loaded machine
    # may cross a second in between): never later than the token's own exp.
    assert before + 900 <= entry["expires_at"] <= claims["exp"]
    assert (isolated_env / "users.state.db").exists()
    assert stat.S_IMODE((isolated_env / "users.state.db").stat().st_mode) == 0o600


def test_login_print_prints_only_the_access_token(cli, store_path, isolated_env):
    result = login(cli, "alice", "secret", "--print")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    token = result.stdout.strip()
    assert token == cached(isolated_env)["access_token"] and token.count(".") == 2
    assert result.stderr == ""


def test_login_summary_for_people(cli, store_path, isolated_env):
    result = login(cli)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Logged in as alice" in out and "me items" in out
    assert "expires in 15 min" in out and "profile:  default" in out
    assert cached(isolated_env)["access_token"] not in out
    assert cached(isolated_env)["refresh_token"] not in out


@pytest.mark.parametrize("alg", ALL)
def test_login_and_issue_verify_with_pyjwt_for_every_algorithm(cli, isolated_env, alg):
    hmac = alg.startswith("HS")
    key_name = "key.secret" if hmac else "key.pem"
    issuer = {
        "algorithm": alg,
        "issuer": "https://auth.test",
        "audience": "my-api",
        "secret_file" if hmac else "key_file": key_name,
    }
    write_store(isolated_env / "users.toml", issuer=issuer)
    generated = cli("keys", "generate", "--alg", alg, "--out", key_name)
    assert generated.exit_code == 0, generated.stderr
    kid = generated.stderr.split("kid ")[1].rstrip(")\n")
    if hmac:
        key = (isolated_env / key_name).read_bytes().strip()
    else:
        jwks = json.loads(cli("keys", "jwks", key_name, "--alg", alg).stdout)
        assert jwks["keys"][0]["kid"] == kid
        key = jwt.PyJWK(jwks["keys"][0]).key

    body = json.loads(login(cli, "alice", "secret", "--json").stdout)
    issued = json.loads(cli("issue", "--sub", "svc", "-s", "items", "--json").stdout)
    for token, sub, scope in (
        (body["access_token"], "alice", "me items"),
        (issued["access_token"], "svc", "items"),
    ):
        header = jwt.get_unverified_header(token)
        assert header == {"alg": alg, "kid": kid, "typ": "at+jwt"}
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience="my-api",
            issuer="https://auth.test",
            options={"require": ["sub", "iat", "nbf", "exp", "jti", "iss", "aud"]},
        )
        assert claims["sub"] == sub and claims["scope"] == scope


def test_scopes_claim_setting(cli, isolated_env):
    (isolated_env / "s").write_text(TEST_SECRET)
    write_store(
        isolated_env / "users.toml",
        issuer={"algorithm": "HS256", "secret_file": "s", "scope_claim": "scopes"},
    )
    body = json.loads(login(cli, "alice", "secret", "--json").stdout)
    claims = verify(body["access_token"])
    assert claims["scopes"] == ["me", "items"] and "scope" not in claims
    assert body["scope"] == "me items"  # the token response itself stays RFC 6749


def test_wrong_password_and_unknown_user_are_indistinguishable(cli, store_path, isolated_env):
    wrong = login(cli, "alice", "not-her-password")
    unknown = login(cli, "mallory", "secret")
    invalid_name = login(cli, "bad name!", "secret")
    for result in (wrong, unknown, invalid_name):
        assert_one_line_error(result, 3, "incorrect username or password")
        assert result.stdout == ""
    assert wrong.stderr == unknown.stderr == invalid_name.stderr
    assert "not-her-password" not in wrong.output
    assert not cache_file(isolated_env).exists()


def test_disabled_user_is_refused(cli, store_path, isolated_env):
    assert_one_line_error(login(cli, "carol", "wonderland"), 3, "inactive user")
    # without the right password, carol is just a wrong password
    assert_one_line_error(login(cli, "carol", "nope"), 3, "incorrect username or password")
    assert not cache_file(isolated_env).exists()


def test_scopes_can_narrow_but_never_widen(cli, store_path, isolated_env):
    result = login(cli, "johndoe", "secret", "--scope", "me", "--scope", "items", "--json")
    assert_one_line_error(result, 3, "scope not granted", "items")
    assert "me" not in result.stderr.split("granted:")[1].split()
    narrowed = json.loads(login(cli, "alice", "secret", "-s", "items", "--json").stdout)
    assert narrowed["scope"] == "items" and verify(narrowed["access_token"])["scope"] == "items"
    both = json.loads(login(cli, "alice", "secret", "--scope", "items me", "--json").stdout)
    assert both["scope"] == "items me"
    assert_one_line_error(login(cli, "alice", "secret", "--scope", 'a"b'), 2, "invalid scope")


def test_login_usage_errors(cli, store_path):
    assert_one_line_error(login(cli, "alice", "secret", "--print", "--json"), 2, "--print")
    assert_one_line_error(cli("login", "--password-stdin", input="x\n"), 2, "USERNAME")
    for option in (["--client-id", "x"], ["--grant", "client-credentials"], ["--insecure-http"]):
        assert_one_line_error(login(cli, "alice", "secret", *option), 2, "only applies with --url")
    # no terminal to prompt on: exit 3 (a person is needed), naming both ways out
    assert_one_line_error(
        cli("login", "alice", input=""),
        3,
        "--password-stdin",
        "at a terminal, run: oauthcli login alice",
    )
    assert_one_line_error(cli("login", "alice", "--password-stdin", input=""), 2, "empty")
    assert_one_line_error(login(cli, "alice", "secret", "--profile", "../x"), 2, "profile name")


def test_missing_store_and_key_material(cli, isolated_env):
    assert_one_line_error(login(cli), 7, "users.toml not found")
    write_store(isolated_env / "users.toml", issuer={"algorithm": "HS256", "secret_file": "gone"})
    assert_one_line_error(login(cli), 7, "secret file", "oauthcli keys generate --alg HS256")
    (isolated_env / "gone").write_text("short-but-secret")
    result = login(cli)
    assert_one_line_error(result, 7, "at least 32", "refusing to sign")
    assert "short-but-secret" not in result.output
    write_store(isolated_env / "users.toml", issuer={"algorithm": "ES256"})
    assert_one_line_error(login(cli), 7, "no signing key", "oauthcli keys generate --alg ES256")
    write_store(isolated_env / "users.toml", issuer={"algorithm": "ES256", "key_file": "k.pem"})
    cli("keys", "generate", "--alg", "RS256", "--out", "k.pem")
    assert_one_line_error(login(cli), 7, "ES256 needs an EC key")


def test_secret_from_the_environment(cli, isolated_env):
    write_store(isolated_env / "users.toml", issuer={"algorithm": "HS512"})
    env_secret = "e" * 64
    result = cli(
        "login", "alice", "--password-stdin", "--print", input="secret\n",
        env={"OAUTHCLI_SECRET": env_secret},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), env_secret, algorithms=["HS512"])["sub"] == "alice"


def test_outdated_hash_is_upgraded_on_login(cli, store_path):
    from passlib.hash import pbkdf2_sha256

    store = UserStore(store_path)
    with store.edit() as data:
        data.users["alice"].hashed_password = pbkdf2_sha256.hash("secret")
    result = login(cli, "alice", "secret", "--print")
    assert result.exit_code == 0, result.stderr
    assert "upgraded the password hash" in result.stderr
    assert store.load().users["alice"].hashed_password.startswith("$2b$04$")
    assert login(cli, "alice", "secret", "--print").stderr == ""  # nothing left to upgrade


def test_profiles(cli, store_path, isolated_env):
    assert login(cli, "alice", "secret", "--profile", "ci").exit_code == 0
    assert cached(isolated_env, "ci")["username"] == "alice"
    result = cli("--profile", "admin", "login", "johndoe", "--password-stdin", input="secret\n")
    assert result.exit_code == 0, result.stderr
    assert cached(isolated_env, "admin")["username"] == "johndoe"
    env = {"OAUTHCLI_PROFILE": "from-env"}
    assert cli("login", "alice", "--password-stdin", input="secret\n", env=env).exit_code == 0
    assert cache_file(isolated_env, "from-env").exists()
    assert not cache_file(isolated_env).exists()
    assert cli("logout", "--profile", "ci").exit_code == 0
    assert not cache_file(isolated_env, "ci").exists()
    assert cache_file(isolated_env, "admin").exists()


def test_a_cache_others_can_read_is_refused(cli, store_path, isolated_env):
    assert login(cli).exit_code == 0
    directory = cache_file(isolated_env).parent
    directory.chmod(0o755)
    result = login(cli)
    assert_one_line_error(result, 7, "accessible to other users", "chmod 700")
    directory.chmod(0o700)
    cache_file(isolated_env).chmod(0o644)
    assert_one_line_error(cli("refresh"), 7, "accessible to other users", "chmod 600")
    assert_one_line_error(login(cli), 7, "accessible to other users")
    # logout is the way out, and forgets the exposed tokens
    assert cli("logout").exit_code == 0
    assert not cache_file(isolated_env).exists()
    assert login(cli).exit_code == 0


# ---------------------------------------------------------------- refresh


def test_refresh_rotates_and_reuse_revokes_the_session(cli, store_path, isolated_env):
    first = json.loads(login(cli, "alice", "secret", "--json").stdout)
    stolen = cache_file(isolated_env).read_text()
    result = cli("refresh", "--json")
    assert result.exit_code == 0, result.stderr
    second = json.loads(result.stdout)
    assert list(second) == TOKEN_RESPONSE_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert verify(second["access_token"])["scope"] == "me items"
    assert cached(isolated_env)["refresh_token"] == second["refresh_token"]
    current = cache_file(isolated_env).read_text()

    cache_file(isolated_env).write_text(stolen)  # replay the used refresh token
    replay = cli("refresh")
    assert_one_line_error(replay, 3, "already used", "log in again")
    cache_file(isolated_env).write_text(current)  # ... and the newest one died with it
    assert_one_line_error(cli("refresh"), 3, "log in again")
    # a fresh login starts a new session
    assert login(cli).exit_code == 0
    assert cli("refresh", "--print").exit_code == 0


def test_refresh_output_and_scope_narrowing(cli, store_path, isolated_env):
    login(cli)
    printed = cli("refresh", "--print", "--scope", "me")
    assert printed.exit_code == 0, printed.stderr
    assert verify(printed.stdout.strip())["scope"] == "me"
    assert cached(isolated_env)["scope"] == "me"
    human = cli("refresh")
    assert "Refreshed the tokens of alice" in human.stdout and "me items" in human.stdout
    assert_one_line_error(cli("refresh", "-s", "admin"), 3, "scope not granted: admin")
    # The refused request did not use up the cached refresh token.
    assert cli("refresh", "--print").exit_code == 0


def test_refresh_needs_a_cached_refresh_token(cli, store_path, isolated_env):
    assert_one_line_error(cli("refresh"), 3, "no tokens cached", "oauthcli login")
    assert_one_line_error(cli("refresh", "--profile", "x"), 3, "'x'")


@pytest.mark.parametrize(
    "change",
    [
        ["user", "disable", "alice"],
        ["user", "passwd", "alice", "--password-stdin"],
        ["user", "remove", "alice"],
    ],
)
def test_credential_changes_revoke_refresh_tokens(cli, store_path, change):
    assert login(cli).exit_code == 0
    assert cli("refresh", "--print").exit_code == 0
    done = cli(*change, input="another-pw\n")
    assert done.exit_code == 0, done.stderr
    assert_one_line_error(cli("refresh"), 3, "log in again")


def test_an_access_token_is_not_a_refresh_token(cli, store_path, isolated_env):
    login(cli)
    entry = cached(isolated_env)
    entry["refresh_token"] = entry["access_token"]
    cache_file(isolated_env).write_text(json.dumps(entry))
    result = cli("refresh")
    assert_one_line_error(result, 3, "not a refresh token", "log in again")


def test_a_refresh_token_from_another_key_is_refused(cli, store_path, isolated_env):
    login(cli)
    (isolated_env / "hs256.secret").write_text("another-" + TEST_SECRET)
    assert_one_line_error(cli("refresh"), 3, "current key", "log in again")


# ---------------------------------------------------------------- logout


def test_logout_forgets_and_revokes(cli, store_path, isolated_env):
    login(cli)
    copy = cache_file(isolated_env).read_text()
    result = cli("logout")
    assert result.exit_code == 0 and result.stdout == ""
    assert "forgot the tokens of profile 'default'" in result.stderr
    assert not cache_file(isolated_env).exists()
    again = cli("logout")
    assert again.exit_code == 0 and "nothing to forget" in again.stderr
    # a copy of the refresh token taken before logout is dead too
    cache_file(isolated_env).write_text(copy)
    cache_file(isolated_env).chmod(0o600)
    assert_one_line_error(cli("refresh"), 3, "log in again")


def test_logout_says_when_the_local_session_cannot_be_revoked(
    cli, store_path, isolated_env, own_redis, monkeypatch
):
    """As for a provider's revocation endpoint: a warning naming why, and still forgotten.
    Nothing of the server's wording (its log lines) reaches the CLI user."""
    monkeypatch.setenv("OAUTHCLI_STATE", own_redis.url)
    assert login(cli).exit_code == 0
    own_redis.stop()
    result = cli("logout")
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(
        "oauthcli: warning: could not revoke the tokens of profile 'default' in the state: "
    ), lines
    assert "cannot reach the state store" in lines[0]
    assert lines[1:] == ["logged out: forgot the tokens of profile 'default'"], lines
    # the server's status, as a word: the state's random port (e.g. 50347) may contain "503"
    assert not re.search(r"\b503\b", result.output), result.output
    assert "temporarily_unavailable" not in result.output
    assert result.stdout == "" and not cache_file(isolated_env).exists()


# ---------------------------------------------------------------- issue


def test_issue_mints_a_fixture_token(cli, store_path):
    result = cli(
        "issue", "--sub", "svc-bot", "-s", "items", "--scope", "me", "--ttl", "2h",
        "--claim", "tenant=42", "--claim", "admin=true", "--claim", 'groups=["a","b"]',
        "--claim", 'meta={"x":1}', "--claim", "name=Bot 1", "--claim", "code=007x",
        "--claim", "empty=", "--claim", "eq=a=b", "--claim", "nan=NaN",
        "--aud", "api-1", "--aud", "api-2", "--iss", "https://fixtures",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout.count("\n") == 1 and result.stderr == ""
    claims = verify(token, audience="api-2", issuer="https://fixtures")
    assert claims["sub"] == "svc-bot" and claims["scope"] == "items me"
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["tenant"] == 42 and claims["admin"] is True
    assert claims["groups"] == ["a", "b"] and claims["meta"] == {"x": 1}
    assert claims["name"] == "Bot 1" and claims["code"] == "007x" and claims["empty"] == ""
    assert claims["eq"] == "a=b" and claims["nan"] == "NaN"
    assert claims["aud"] == ["api-1", "api-2"] and claims["iss"] == "https://fixtures"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_issue_json(cli, store_path):
    result = cli("issue", "--sub", "svc", "--json")
    body = json.loads(result.stdout)
    assert list(body) == ["access_token", "token_type", "expires_in", "header", "payload"]
    assert body["expires_in"] == 900 and body["token_type"] == "bearer"
    assert body["payload"] == verify(body["access_token"])
    assert body["header"]["typ"] == "at+jwt"


def test_issue_claims_that_would_not_be_json_stay_text(cli, store_path):
    # float("1e999") is infinite and would be encoded as the non-JSON literal Infinity.
    result = cli("issue", "--sub", "s", "-c", "big=1e999", "-c", "l=[1e999]", "-c", "n=NaN")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert b"Infinity" not in base64.urlsafe_b64decode(token.split(".")[1] + "==")
    claims = verify(token)
    assert (claims["big"], claims["l"], claims["n"]) == ("1e999", "[1e999]", "NaN")


def test_issue_can_mint_expired_tokens(cli, store_path):
    token = cli("issue", "--sub", "svc", "--claim", "exp=1000", "--claim", "iat=500").stdout
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token.strip())
    zero = cli("issue", "--sub", "svc", "--ttl", "0").stdout.strip()
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(zero)


@pytest.mark.parametrize(
    ("claim", "fragment"),
    [
        ("novalue", "KEY=VALUE"),
        ("=x", "KEY=VALUE"),
        ("alg=none", "header parameter"),
        ("typ=JWT", "header parameter"),
        ("kid=other", "header parameter"),
        ("sub=root", "--sub"),
        ("scope=admin", "--scope"),
        ("aud=x", "--aud"),
        ("iss=x", "--iss"),
        ("exp=tomorrow", "must be a number"),
        ("nbf=true", "must be a number"),
        ("exp=1e999", "must be a number"),
    ],
)
def test_issue_refuses_bad_claims(cli, store_path, claim, fragment):
    assert_one_line_error(cli("issue", "--sub", "s", "--claim", claim), 2, fragment)


def test_issue_other_usage_errors(cli, store_path):
    assert_one_line_error(cli("issue"), 2, "--sub")
    assert_one_line_error(cli("issue", "--sub", "s", "--ttl", "soon"), 2, "--ttl")
    dup = cli("issue", "--sub", "s", "--claim", "a=1", "--claim", "a=2")
    assert_one_line_error(dup, 2, "twice")


def test_issue_without_a_store_uses_the_environment_secret(cli, isolated_env):
    assert_one_line_error(cli("issue", "--sub", "s"), 7, "not found")
    env = {"OAUTHCLI_SECRET": TEST_SECRET}
    result = cli("issue", "--sub", "ci", env=env)
    assert result.exit_code == 0, result.stderr
    assert verify(result.stdout.strip())["sub"] == "ci"


# ---------------------------------------------------------------- secrets


def test_no_password_or_secret_is_ever_printed(cli, isolated_env):
    password = "Unique-Pa55word-4-tests"
    secret = "S3cret-" + "k" * 40
    (isolated_env / "hs.secret").write_text(secret)
    write_store(
        isolated_env / "users.toml",
        users={"dora": (password, ["me"], False), "eve": (password, ["me"], True)},
        issuer={"algorithm": "HS256", "secret_file": "hs.secret"},
    )
    outputs = [
        login(cli, "dora", password),
        login(cli, "dora", password, "--json"),
        login(cli, "dora", password, "--print"),
        login(cli, "dora", password + "x"),
        login(cli, "eve", password),
        login(cli, "nobody", password),
        login(cli, "dora", password, "-s", "admin"),
        cli("refresh"),
        cli("refresh", "--json"),
        cli("issue", "--sub", "dora", "--json"),
        cli("keys", "jwks", "hs.secret"),
        cli("--debug", "login", "dora", "--password-stdin", input=password + "\n"),
        cli("logout"),
    ]
    for result in outputs:
        assert password not in result.output
        assert secret not in result.output
    (isolated_env / "hs.secret").write_text(secret[:20])  # too short: error mentions no secret
    short = login(cli, "dora", password)
    assert short.exit_code == 7 and secret[:20] not in short.output


def test_no_option_takes_a_password_or_secret_on_argv():
    import typer.main

    from oauthcli.cli.app import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    checked = 0
    for path, command in walk(typer.main.get_command(app), ["oauthcli"]):
        for param in command.params:
            names = [n.lower() for n in (*param.opts, *param.secondary_opts)]
            for name in names:
                if any(word in name for word in ("password", "secret", "passwd")):
                    checked += 1
                    # only flags, or the name of a file to read it from
                    is_flag = bool(getattr(param, "is_flag", False))
                    assert is_flag or name.endswith("-file"), (path, name)
            if type(param).__name__.endswith("Argument"):
                assert not any(w in (param.name or "") for w in ("password", "secret")), path
    assert checked >= 2  # login --password-stdin and --client-secret-file at least


# ---------------------------------------------------------------- end to end (subprocess)


def example_store(tmp: Path) -> Path:
    shutil.copy(ROOT / "users.example.toml", tmp / "users.example.toml")
    (tmp / "users.example.toml").chmod(0o600)  # git checks it out 0644: oauthcli would warn
    return tmp / "users.example.toml"


def test_quickstart_logs_alice_in_from_the_example_store(run_oauthcli, isolated_env):
    example_store(isolated_env)
    gen = run_oauthcli("keys", "generate", "--alg", "ES256", "--out", "demo.pem", "--force")
    assert gen.exit_code == 0, gen.stderr
    result = run_oauthcli(
        "login", "alice", "--store", "users.example.toml", "--password-stdin", "--json",
        input="secret\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key((isolated_env / "demo.pem").read_bytes(), None).public_key()
    claims = jwt.decode(
        body["access_token"], key, algorithms=["ES256"], issuer="http://127.0.0.1:8000"
    )
    assert claims["sub"] == "alice" and body["scope"] == "me items"
    token = run_oauthcli(
        "--store", "users.example.toml", "login", "carol", "--password-stdin", "--print",
        input="wonderland\n",
    )  # fmt: skip
    assert_one_line_error(token, 3, "inactive user")
    assert token.stdout == ""


def test_token_capture_in_a_shell(run_oauthcli, store_path, isolated_env):
    script = (
        f'TOKEN=$(printf "secret\\n" | "{sys.executable}" -m oauthcli login alice '
        '--password-stdin --print) && printf "%s" "$TOKEN"'
    )
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert verify(proc.stdout)["sub"] == "alice"


def test_concurrent_refreshes_of_one_profile_do_not_trip_reuse_detection(
    run_oauthcli, store_path, isolated_env
):
    assert run_oauthcli("login", "alice", "--password-stdin", input="secret\n").exit_code == 0
    results = []

    def refresh():
        results.append(run_oauthcli("refresh", "--print"))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a refresh hung"
    assert [r.exit_code for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 4
    assert run_oauthcli("refresh", "--print").exit_code == 0


def test_store_from_global_option_and_environment(cli, store_path, isolated_env):
    (isolated_env / "sub").mkdir()
    moved = isolated_env / "sub" / "team.toml"
    store_path.rename(moved)
    (isolated_env / "hs256.secret").rename(isolated_env / "sub" / "hs256.secret")
    result = cli("--store", "sub/team.toml", "login", "alice", "--password-stdin", input="secret\n")
    assert result.exit_code == 0, result.stderr
    assert cached(isolated_env)["store"] == str(moved)
    env = {"OAUTHCLI_STORE": str(moved)}
    result = cli("login", "johndoe", "--password-stdin", "--print", input="secret\n", env=env)
    assert result.exit_code == 0, result.stderr
    assert (isolated_env / "sub" / "team.state.db").exists()
    # refresh finds the store through the cache entry, whatever the working directory
    assert cli("refresh", "--print").exit_code == 0


def test_a_cache_that_cannot_be_written_is_exit_7(cli, store_path, isolated_env, monkeypatch):
    # A read-only mount or a full disk under the cache only; forced because CI cannot mount one.
    import errno
    import os

    real_replace = os.replace
    cache_dir = cache_file(isolated_env).parent

    def refuse_in_cache(src, dst, *args, **kwargs):
        if Path(dst).parent == cache_dir:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refuse_in_cache)
    result = login(cli)
    assert_one_line_error(result, 7, f"cannot write token cache {cache_file(isolated_env)}")
    assert "Read-only file system" in result.stderr
    assert not cache_file(isolated_env).exists()


def test_a_readable_store_is_warned_about_once_per_command(cli, store_path):
    store_path.chmod(0o644)
    # user add reads the store three times (the check, the hash's cost, the edit).
    added = cli("user", "add", "bob", "--password-stdin", input="bob-password-1\n")
    assert added.exit_code == 0, added.output
    assert added.stderr.count("readable by other users") == 1, added.stderr
    result = cli("login", "alice", "--password-stdin", input="secret\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("readable by other users") == 1, result.stderr
    again = cli("login", "alice", "--password-stdin", input="secret\n")
    assert again.stderr.count("readable by other users") == 1, again.stderr
