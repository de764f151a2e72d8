import time

import jwt
import pytest

from oauthcli import keys
from oauthcli.claims import scopes_of
from oauthcli.errors import AuthenticationError, ConfigError, TokenError, TokenTimeError
from oauthcli.issuer import IssuerSettings
from oauthcli.sessions import SessionStore
from oauthcli.store import User
from oauthcli.tokens import (
    ACCESS_TYP,
    REFRESH_TYP,
    TokenService,
)

ALGORITHMS = list(keys.SUPPORTED_ALGORITHMS)


class Clock:
    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_service(tmp_path, alg="HS256", clock=None, **settings_kw):
    key_path = tmp_path / f"{alg}.key"
    if not key_path.exists():
        keys.write_new_key(key_path, alg)
    settings = IssuerSettings(algorithm=alg, key_file=key_path, **settings_kw)
    service = TokenService(
        settings,
        settings.signing_key(),
        SessionStore(tmp_path / "sessions.json"),
        clock=clock or time.time,
    )
    return service, key_path


def verification_key(key_path, alg):
    """What a resource server would hold: the secret, or the public JWK."""
    if alg.startswith("HS"):
        return key_path.read_bytes().strip()
    (jwk,) = keys.jwks_from_files([key_path], alg)["keys"]
    return jwt.PyJWK(jwk).key


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_login_tokens_verify_with_plain_pyjwt(tmp_path, alg):
    service, key_path = make_service(
        tmp_path, alg, issuer="https://auth.test", audience="my-api", access_ttl=600
    )
    pair = service.login("alice", ["me", "items"])
    header = jwt.get_unverified_header(pair.access_token)
    assert header["typ"] == "at+jwt" and header["alg"] == alg
    assert header["kid"] == service.key.kid
    claims = jwt.decode(
        pair.access_token,
        verification_key(key_path, alg),
        algorithms=[alg],
        audience="my-api",
        issuer="https://auth.test",
        options={"require": ["sub", "iat", "nbf", "exp", "jti", "iss", "aud"]},
    )
    assert claims["sub"] == "alice" and claims["scope"] == "me items"
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert pair.expires_in == 600 and pair.scope == "me items"
    if not alg.startswith("HS"):
        (jwk,) = keys.jwks_from_files([key_path], alg)["keys"]
        assert header["kid"] == jwk["kid"]


def test_scopes_claim_setting_emits_the_tutorial_list(tmp_path):
    service, key_path = make_service(tmp_path, scope_claim="scopes")
    token, _ = service.access_token("alice", ["me", "items"])
    decoded = jwt.decode(token, key_path.read_bytes().strip(), algorithms=["HS256"])
    assert decoded["scopes"] == ["me", "items"] and "scope" not in decoded
    assert scopes_of(decoded) == ["me", "items"]


def test_each_token_has_its_own_jti(tmp_path):
    service, _ = make_service(tmp_path)
    ids = {service.access_token("a", [])[1]["jti"] for _ in range(20)}
    assert len(ids) == 20


def test_access_and_refresh_tokens_cannot_stand_in_for_each_other(tmp_path):
    service, _ = make_service(tmp_path, audience="api")
    pair = service.login("alice", ["me"])
    with pytest.raises(TokenError, match="not an access token") as info:
        service.decode(pair.refresh_token, ACCESS_TYP)
    assert info.value.reason == "type"
    with pytest.raises(TokenError, match="not a refresh token"):
        service.decode(pair.access_token, REFRESH_TYP)
    with pytest.raises(TokenError, match="not a refresh token"):
        service.refresh(pair.access_token, {"alice": User("alice", "h", scopes=["me"])}.get)
    # Even an API that ignores typ refuses the refresh token: no scope and no audience.
    raw = jwt.decode(pair.refresh_token, options={"verify_signature": False})
    assert "scope" not in raw and "aud" not in raw


def test_refresh_rotates_and_reuse_revokes_the_family(tmp_path):
    clock = Clock()
    service, _ = make_service(tmp_path, clock=clock)
    users = {"alice": User("alice", "h", scopes=["me", "items"])}
    first = service.login("alice", ["me", "items"])
    clock.now += 60
    second = service.refresh(first.refresh_token, users.get)
    assert second.refresh_token != first.refresh_token and second.scope == "me items"
    with pytest.raises(TokenError, match="already used") as info:
        service.refresh(first.refresh_token, users.get)
    assert info.value.reason == "reused"
    # The thief's replay also kills the legitimate newer token.
    with pytest.raises(TokenError, match="revoked"):
        service.refresh(second.refresh_token, users.get)


def test_refresh_narrows_scopes_and_follows_the_users_current_scopes(tmp_path):
    service, _ = make_service(tmp_path)
    users = {"alice": User("alice", "h", scopes=["me", "items"])}
    pair = service.login("alice", ["me", "items"])
    narrowed = service.refresh(pair.refresh_token, users.get, ["me"])
    assert narrowed.scope == "me"
    # The session keeps its scope: a later refresh may ask for all of it again.
    again = service.refresh(narrowed.refresh_token, users.get)
    assert again.scope == "me items"
    with pytest.raises(AuthenticationError, match="scope not granted: admin"):
        service.refresh(again.refresh_token, users.get, ["admin"])
    # A scope withdrawn from the user since login is no longer granted.
    users["alice"].scopes = ["me"]
    pair = service.login("alice", ["me", "items"])
    assert service.refresh(pair.refresh_token, users.get).scope == "me"


def test_refused_scope_on_refresh_does_not_use_up_the_refresh_token(tmp_path):
    service, _ = make_service(tmp_path)
    users = {"alice": User("alice", "h", scopes=["me", "items"])}
    pair = service.login("alice", ["me", "items"])
    with pytest.raises(AuthenticationError, match="scope not granted: admin"):
        service.refresh(pair.refresh_token, users.get, ["admin"])
    # The same token still redeems once, and the session is not revoked.
    again = service.refresh(pair.refresh_token, users.get, ["me"])
    assert again.scope == "me"
    assert service.refresh(again.refresh_token, users.get).scope == "me items"


def test_refresh_for_a_disabled_or_removed_user_fails_and_ends_the_session(tmp_path):
    service, _ = make_service(tmp_path)
    users = {"alice": User("alice", "h", scopes=["me"], disabled=True)}
    pair = service.login("alice", ["me"])
    with pytest.raises(AuthenticationError, match="inactive user"):
        service.refresh(pair.refresh_token, users.get)
    users["alice"].disabled = False
    with pytest.raises(TokenError, match="revoked"):
        service.refresh(pair.refresh_token, users.get)
    pair = service.login("alice", ["me"])
    with pytest.raises(AuthenticationError, match="no longer exists"):
        service.refresh(pair.refresh_token, {}.get)


def test_expired_tokens(tmp_path):
    clock = Clock()
    service, _ = make_service(tmp_path, clock=clock, access_ttl=60, refresh_ttl=120)
    pair = service.login("alice", ["me"])
    clock.now += 61
    with pytest.raises(TokenTimeError):
        service.decode(pair.access_token)
    # PyJWT checks exp against the real clock, so a real expiry needs a past token.
    service.clock = lambda: time.time() - 3600
    old = service.login("alice", ["me"])
    service.clock = time.time
    with pytest.raises(TokenTimeError, match="expired"):
        service.decode(old.refresh_token, REFRESH_TYP)


def test_tokens_from_another_key_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = make_service(tmp_path / "a")
    b, _ = make_service(tmp_path / "b")
    token, _ = a.access_token("alice", [])
    with pytest.raises(TokenError, match="signature"):
        b.decode(token)


def test_issuer_settings_durations_and_key_errors(tmp_path, monkeypatch):
    settings = IssuerSettings.from_table(
        {"access_token_ttl": "30s", "refresh_token_ttl": "2h", "algorithm": "HS384"}, tmp_path
    )
    assert (settings.access_ttl, settings.refresh_ttl, settings.algorithm) == (30, 7200, "HS384")
    assert IssuerSettings.from_table({"access_token_ttl": "7d"}, tmp_path).access_ttl == 604800
    with pytest.raises(ConfigError, match="access_token_ttl"):
        IssuerSettings.from_table({"access_token_ttl": "soon"}, tmp_path)
    for bad in (True, 0, "0s", -5):
        with pytest.raises(ConfigError, match=r"^\[issuer\]: [^[]*refresh_token_ttl"):
            IssuerSettings.from_table({"refresh_token_ttl": bad}, tmp_path)
    with pytest.raises(ConfigError, match="unsupported algorithm 'none'"):
        IssuerSettings.from_table({"algorithm": "none"}, tmp_path)
    with pytest.raises(ConfigError, match="unknown setting 'secret'"):
        IssuerSettings.from_table({"secret": "inline-secret"}, tmp_path)
    with pytest.raises(ConfigError, match="oauthcli keys generate --alg HS256"):
        IssuerSettings().signing_key()
    with pytest.raises(ConfigError, match="oauthcli keys generate --alg ES256"):
        IssuerSettings(algorithm="ES256").signing_key()
    monkeypatch.setenv("OAUTHCLI_SECRET", "too-short")
    with pytest.raises(ConfigError, match="refusing to sign") as info:
        IssuerSettings().signing_key()
    assert "too-short" not in str(info.value)
    monkeypatch.setenv("OAUTHCLI_SECRET", "s" * 32)
    assert IssuerSettings().signing_key().key == b"s" * 32
