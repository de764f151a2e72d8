"""``oauthcli.login``: the one password login shared by ``oauthcli login`` and ``serve``."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from oauthcli import accounts
from oauthcli.errors import AuthenticationError, StoreError, UsageError
from oauthcli.issuer import IssuerSettings
from oauthcli.keys import hmac_signing_key
from oauthcli.login import authenticate, grant_scopes, password_login
from oauthcli.passwords import hash_password
from oauthcli.sessions import SessionStore
from oauthcli.store import Client, User, UserStore
from oauthcli.tokens import GENERATION_CLAIM, REFRESH_TYP, TokenService
from tests.bcrypt_work import bcrypt_costs, work
from tests.conftest import TEST_SECRET


def test_authenticate_refuses_unknown_wrong_and_inactive_alike():
    users = {
        "alice": User("alice", hash_password("right-pw", 4), scopes=["me"]),
        "carol": User("carol", hash_password("carol-pw", 4), disabled=True),
    }
    user, replacement = authenticate(users, "alice", "right-pw", 4)
    assert user.username == "alice" and replacement is None
    reasons = set()
    for name, password in [("alice", "wrong"), ("nobody", "right-pw"), ("alice", "")]:
        with pytest.raises(AuthenticationError) as info:
            authenticate(users, name, password, 4)
        reasons.add((str(info.value), info.value.reason))
    assert reasons == {("incorrect username or password", "invalid_grant")}
    with pytest.raises(AuthenticationError, match="inactive user") as inactive:
        authenticate(users, "carol", "carol-pw", 4)
    assert inactive.value.reason == "inactive"
    # A disabled user with the wrong password learns nothing about being disabled.
    with pytest.raises(AuthenticationError, match="incorrect username or password"):
        authenticate(users, "carol", "nope", 4)


@pytest.mark.parametrize("stored_costs", [[4], [4, 6], [6, 4, 5]])
def test_unknown_user_costs_the_bcrypt_work_of_the_costliest_wrong_password(
    monkeypatch, stored_costs
):
    """Issue 9 item 10: counted in bcrypt work, never timed."""
    users = {
        f"u{i}": User(f"u{i}", hash_password("right-pw", cost))
        for i, cost in enumerate(stored_costs)
    }
    wrong_work = []
    for name in users:
        with bcrypt_costs(monkeypatch) as costs, pytest.raises(AuthenticationError):
            authenticate(users, name, "wrong-pw", 4)
        wrong_work.append(work(costs))
    with bcrypt_costs(monkeypatch) as costs, pytest.raises(AuthenticationError):
        authenticate(users, "nobody", "wrong-pw", 4)
    assert work(costs) == max(wrong_work)


def test_grant_scopes():
    assert grant_scopes(["me", "items"], None) == ["me", "items"]
    assert grant_scopes(["me", "items"], ["items", "items"]) == ["items"]
    with pytest.raises(AuthenticationError, match="scope not granted: admin") as info:
        grant_scopes(["me"], ["me", "admin"])
    assert info.value.reason == "invalid_scope"


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    store = UserStore(tmp_path / "users.toml")
    accounts.add_user(store, User("alice", hash_password("secret", 4), scopes=["me", "items"]))
    return store


def service_for(store: UserStore) -> TokenService:
    return TokenService(
        IssuerSettings(),
        hmac_signing_key(TEST_SECRET.encode(), "HS256"),
        SessionStore.for_store(store.path),
    )


def login(store: UserStore, password: str = "secret", scopes: list[str] | None = None):
    return password_login(store, store.load(), service_for(store), "alice", password, scopes, 4)


def test_password_login_grants_scopes_and_binds_tokens_to_the_generation(store):
    result = login(store, scopes=["me"])
    assert result.pair.scope == "me" and result.user.username == "alice"
    generation = store.load().users["alice"].generation
    assert generation
    for token in (result.pair.access_token, result.pair.refresh_token):
        assert jwt.decode(token, options={"verify_signature": False})[GENERATION_CLAIM] == (
            generation
        )
    with pytest.raises(AuthenticationError) as info:
        login(store, scopes=["admin"])
    assert info.value.reason == "invalid_scope"


def test_password_login_upgrades_an_outdated_hash(store):
    from passlib.hash import pbkdf2_sha256

    with store.edit() as data:
        data.users["alice"].hashed_password = pbkdf2_sha256.hash("secret")
    result = login(store)
    assert result.hash_upgraded and result.upgrade_error is None
    assert store.load().users["alice"].hashed_password.startswith("$2b$04$")


def test_password_login_refuses_a_disabled_user(store):
    accounts.set_disabled(store, "alice", True)
    with pytest.raises(AuthenticationError) as info:
        login(store)
    assert info.value.reason == "inactive"


@pytest.mark.parametrize(
    "change",
    [
        lambda s: accounts.set_password(s, "alice", hash_password("secret", 4)),
        lambda s: accounts.set_disabled(s, "alice", True),
        lambda s: accounts.remove_user(s, "alice"),
    ],
    ids=["passwd", "disable", "remove"],
)
def test_account_changes_end_sessions_and_change_the_generation(store, change):
    """The rule lives in the core: whoever calls accounts.*, sessions end."""
    before = store.load().users["alice"].generation
    pair = login(store).pair
    family = jwt.decode(pair.refresh_token, options={"verify_signature": False})["fam"]
    change(store)
    assert SessionStore.for_store(store.path).family(family)["revoked"] is True
    after = store.load().users.get("alice")
    assert after is None or after.generation != before


def test_removed_and_readded_user_gets_a_new_generation(store):
    before = store.load().users["alice"].generation
    accounts.remove_user(store, "alice")
    accounts.add_user(store, User("alice", hash_password("secret", 4)))
    assert store.load().users["alice"].generation not in (None, before)


def test_refresh_refuses_a_token_of_an_older_generation(store):
    pair = login(store).pair
    # A hand edit (no session ended) still cannot bring old tokens back.
    with store.edit() as data:
        data.users["alice"].generation = accounts.new_generation()
    service = service_for(store)
    with pytest.raises(AuthenticationError, match="account changed"):
        service.refresh(pair.refresh_token, store.load().users.get)
    assert service.decode(pair.refresh_token, REFRESH_TYP)["sub"] == "alice"


def test_a_client_id_may_not_be_a_username(store):
    with pytest.raises(UsageError, match="must not be a username"), store.edit() as data:
        data.clients["alice"] = Client("alice", hash_password("x-secret", 4))
    store.path.write_text(
        store.path.read_text() + '\n[clients.alice]\nhashed_secret = "$2b$04$x"\n'
    )
    with pytest.raises(StoreError, match="must not be a username"):
        store.load()
