from importlib import metadata

import pytest

from oauthcli.errors import UsageError
from oauthcli.passwords import (
    bcrypt_cost,
    dummy_cost,
    dummy_verify,
    hash_password,
    verify_password,
)
from tests.bcrypt_work import bcrypt_costs


def test_passlib_distribution_is_not_installed_beside_libpass():
    # passlib 1.7.4 breaks with bcrypt 5 and shadows libpass's `passlib` package.
    assert metadata.version("libpass")
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("passlib")


def test_hash_is_real_bcrypt_with_default_cost_12():
    hashed = hash_password("secret")
    assert hashed.startswith("$2b$12$")
    assert verify_password("secret", hashed, 12) == (True, None)
    assert verify_password("Secret", hashed, 12) == (False, None)


def test_cost_is_configurable():
    assert hash_password("pw", rounds=5).startswith("$2b$05$")


@pytest.mark.parametrize("password", ["x" * 73, "é" * 37, "🔑" * 19])
def test_password_over_72_bytes_is_refused_when_set(password):
    with pytest.raises(UsageError, match="72 bytes"):
        hash_password(password, 4)


def test_72_bytes_exactly_is_accepted():
    hashed = hash_password("é" * 36, 4)
    assert verify_password("é" * 36, hashed, 4)[0]


def test_over_long_password_at_login_is_a_plain_failure_not_valueerror():
    hashed = hash_password("x" * 72, 4)
    assert verify_password("x" * 100, hashed, 4) == (False, None)


def test_garbage_hash_is_a_plain_failure():
    assert verify_password("secret", "not-a-hash", 4) == (False, None)


def test_empty_password_refused():
    with pytest.raises(UsageError):
        hash_password("", 4)


@pytest.mark.parametrize("scheme", ["pbkdf2_sha256", "sha256_crypt", "sha512_crypt"])
def test_other_schemes_verify_and_are_upgraded_to_bcrypt(scheme):
    from passlib import hash as passlib_hash

    legacy = getattr(passlib_hash, scheme).hash("secret")
    ok, replacement = verify_password("secret", legacy, 4)
    assert ok
    assert replacement is not None and replacement.startswith("$2b$04$")
    assert verify_password("wrong", legacy, 4) == (False, None)


def test_lower_cost_bcrypt_is_upgraded():
    ok, replacement = verify_password("pw", hash_password("pw", 4), 5)
    assert ok and replacement.startswith("$2b$05$")


def test_higher_cost_bcrypt_is_kept_not_downgraded():
    # A store hashed at cost 12 must not be rewritten at cost 4 (OAUTHCLI_BCRYPT_ROUNDS=4).
    stronger = hash_password("pw", 6)
    assert verify_password("pw", stronger, 4) == (True, None)
    assert verify_password("pw", stronger, 6) == (True, None)


def test_dummy_verify_does_the_bcrypt_work_of_a_real_one(monkeypatch):
    hashed = hash_password("secret", 6)
    verify_password("warm-up", hashed, 6)
    with bcrypt_costs(monkeypatch) as costs:
        verify_password("wrong", hashed, 6)
        real = list(costs)
        costs.clear()
        dummy_verify(6)
    assert real == costs == [6]


def test_dummy_verify_costs_as_much_as_the_costliest_stored_hash(monkeypatch):
    from passlib.hash import pbkdf2_sha256

    stored = [hash_password("a", 5), hash_password("b", 7), pbkdf2_sha256.hash("c")]
    assert dummy_cost(4, stored) == 7
    assert dummy_cost(9, stored) == 9
    assert bcrypt_cost(stored[1]) == 7 and bcrypt_cost(stored[2]) is None
    with bcrypt_costs(monkeypatch) as costs:
        dummy_verify(4, stored)
    assert costs == [7]


# --- client secrets: the fast form for generated secrets, the cache for bcrypt ones ---------


def test_a_generated_secret_verifies_by_its_fast_hash_without_bcrypt(monkeypatch):
    from oauthcli.passwords import generate_secret, hash_generated_secret, verify_secret

    secret = generate_secret()
    hashed = hash_generated_secret(secret)
    with bcrypt_costs(monkeypatch) as costs:
        assert verify_secret(secret, hashed, 12)
        assert not verify_secret(secret + "x", hashed, 12)
        assert not verify_secret("", hashed, 12)
    assert costs == []


def test_a_chosen_secret_never_gets_the_fast_hash():
    from oauthcli.passwords import hash_generated_secret

    with pytest.raises(ValueError, match="generated"):
        hash_generated_secret("a-long-enough-secret")


@pytest.mark.parametrize(
    "hashed",
    [
        "$hmac-sha256$v=1$",
        "$hmac-sha256$v=1$c2FsdA",
        "$hmac-sha256$v=1$c2FsdA$c2hvcnQ",
        "$hmac-sha256$v=1$$" + "A" * 43,
        "$hmac-sha256$v=1$!!!$" + "A" * 43,
    ],
)
def test_a_broken_fast_hash_is_a_plain_mismatch(hashed):
    from oauthcli.passwords import verify_secret

    assert verify_secret("x" * 43, hashed, 4) is False


def test_verified_secrets_spare_bcrypt_only_for_a_secret_that_succeeded(monkeypatch):
    from oauthcli.passwords import VerifiedSecrets, verify_secret

    hashed = hash_password("a-long-enough-secret", 4)
    cache = VerifiedSecrets()
    with bcrypt_costs(monkeypatch) as costs:
        assert verify_secret("a-long-enough-secret", hashed, 4, cache)
        assert verify_secret("a-long-enough-secret", hashed, 4, cache)
        assert verify_secret("a-long-enough-secret", hashed, 4, cache)
    assert costs == [4]  # one bcrypt, then the cache
    with bcrypt_costs(monkeypatch) as costs:
        assert not verify_secret("wrong-secret-guess", hashed, 4, cache)
        assert not verify_secret("wrong-secret-guess", hashed, 4, cache)
    assert costs == [4, 4]  # a failure is never remembered
    # Another stored hash (the secret was changed) never matches an old entry.
    other = hash_password("a-long-enough-secret", 4)
    with bcrypt_costs(monkeypatch) as costs:
        assert verify_secret("a-long-enough-secret", other, 4, cache)
    assert costs == [4]
    # The cache holds no secret, only keyed tags.
    assert all(b"a-long-enough-secret" not in tag for tag in cache._seen)
    cache.clear()
    with bcrypt_costs(monkeypatch) as costs:
        assert verify_secret("a-long-enough-secret", hashed, 4, cache)
    assert costs == [4]


def test_verified_secrets_are_bounded():
    from oauthcli.passwords import VerifiedSecrets

    cache = VerifiedSecrets(size=3)
    for n in range(10):
        cache.remember(f"secret-{n}", "$2b$04$hash")
    assert len(cache) == 3
    assert cache.seen("secret-9", "$2b$04$hash") and not cache.seen("secret-0", "$2b$04$hash")
