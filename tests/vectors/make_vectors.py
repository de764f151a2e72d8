"""Regenerate attacks.json: fixed attack tokens against the test keys in this directory.

    .venv/bin/python tests/vectors/make_vectors.py

The keys (rsa_private.pem, ec_private.pem) are test keys, used nowhere else.
Every vector is signed (or forged) once and committed, so the tests check
fixed bytes, not what today's PyJWT happens to produce.
"""

from __future__ import annotations

import base64
import hmac
import json
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization

HERE = Path(__file__).resolve().parent
FAR_FUTURE = 4102444800  # 2100-01-01
IAT = 1700000000
ISSUER = "https://auth.example.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw(header: str, payload: str, sign) -> str:
    signing_input = f"{b64(header.encode())}.{b64(payload.encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def main() -> None:
    rsa_key = serialization.load_pem_private_key((HERE / "rsa_private.pem").read_bytes(), None)
    ec_key = serialization.load_pem_private_key((HERE / "ec_private.pem").read_bytes(), None)
    rsa_pub_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": "rsa-1", "alg": "RS256", "use": "sig"})
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    jwks = {"keys": [rsa_jwk, ec_jwk]}
    (HERE / "jwks.json").write_text(json.dumps(jwks, indent=1) + "\n")
    (HERE / "rsa_public.pem").write_bytes(rsa_pub_pem)

    claims = {"iss": ISSUER, "sub": "alice", "scope": "me", "iat": IAT, "exp": FAR_FUTURE}

    def rs256(payload=None, headers=None):
        return jwt.encode(
            claims if payload is None else payload,
            rsa_key,
            algorithm="RS256",
            headers={"kid": "rsa-1", **(headers or {})},
        )

    def rs256_raw(header: str, payload: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return raw(header, payload, lambda m: rsa_key.sign(m, padding.PKCS1v15(), hashes.SHA256()))

    body = json.dumps(claims, separators=(",", ":"))
    good = rs256()
    head, payload, sig = good.split(".")
    forged_claims = b64(json.dumps({**claims, "sub": "admin"}, separators=(",", ":")).encode())
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    vectors = []

    def add(name, token, reason, note, **options):
        vectors.append(
            {"name": name, "token": token, "reason": reason, "note": note, "options": options}
        )

    add("valid_rs256", good, None, "control: a valid RS256 token")
    for alg in ("none", "None", "NONE", "nOnE"):
        header = json.dumps({"alg": alg, "typ": "JWT"})
        token = f"{b64(header.encode())}.{b64(body.encode())}."
        add(f"alg_{alg}_unsigned", token, "algorithm", "unsigned token, empty signature")
        add(
            f"alg_{alg}_with_sig",
            f"{b64(header.encode())}.{b64(body.encode())}.{sig}",
            "algorithm",
            "alg none with a leftover signature",
        )
    hs_header = json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    add(
        "hs256_signed_with_rsa_public_pem",
        raw(hs_header, body, lambda m: hmac.digest(rsa_pub_pem, m, "sha256")),
        "algorithm",
        "key confusion: HMAC keyed with the RSA public key PEM",
    )
    add(
        "hs256_signed_with_rsa_public_jwk",
        raw(
            hs_header,
            body,
            lambda m: hmac.digest(json.dumps(rsa_jwk).encode(), m, "sha256"),
        ),
        "algorithm",
        "key confusion: HMAC keyed with the RSA public JWK",
    )
    add(
        "hs256_signed_with_rsa_modulus",
        raw(
            hs_header,
            body,
            lambda m: hmac.digest(base64.urlsafe_b64decode(rsa_jwk["n"] + "=="), m, "sha256"),
        ),
        "algorithm",
        "key confusion: HMAC keyed with the raw modulus",
    )
    add("stripped_signature", f"{head}.{payload}.", "signature", "signature removed")
    add("stripped_signature_no_dot", f"{head}.{payload}", "malformed", "signature part removed")
    add("tampered_payload", f"{head}.{forged_claims}.{sig}", "signature", "sub changed to admin")
    add("tampered_signature", f"{head}.{payload}.{flipped}", "signature", "one character flipped")
    es_header = json.dumps({"alg": "ES256", "typ": "JWT", "kid": "ec-1"})
    add(
        "es256_psychic_zero_signature",
        raw(es_header, body, lambda m: b"\0" * 64),
        "signature",
        "CVE-2022-21449: r = s = 0",
    )
    add(
        "es256_psychic_zero_signature_der",
        raw(es_header, body, lambda m: bytes.fromhex("3006020100020100")),
        "signature",
        "r = s = 0 in DER form",
    )
    add(
        "unknown_crit",
        rs256(headers={"crit": ["exp-ext"], "exp-ext": 1}),
        "crit",
        "a critical extension nobody understands",
    )
    add(
        "b64_false_crit",
        rs256(headers={"crit": ["b64"], "b64": False}),
        "malformed",
        "RFC 7797 unencoded payload: not base64url, refused before crit is read",
    )
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    add("exp_missing", rs256(no_exp), "claim", "no exp")
    add("exp_missing_allowed", rs256(no_exp), None, "no exp, --allow-no-exp", allow_no_exp=True)
    add("exp_null", rs256({**claims, "exp": None}), "claim", "exp is null")
    add("exp_string", rs256({**claims, "exp": str(FAR_FUTURE)}), "claim", "exp is a string")
    add("exp_bool", rs256({**claims, "exp": True}), "claim", "exp is a boolean")
    add("nbf_string", rs256({**claims, "nbf": "0"}), "claim", "nbf is a string")
    add(
        "iss_prefix",
        rs256({**claims, "iss": "https://auth.example.com.evil.net"}),
        "issuer",
        "iss starts with the expected issuer",
        issuer=ISSUER,
    )
    add(
        "iss_shorter",
        rs256({**claims, "iss": "https://auth.example"}),
        "issuer",
        "expected issuer starts with iss",
        issuer=ISSUER,
    )
    add(
        "iss_trailing_slash",
        rs256({**claims, "iss": ISSUER + "/"}),
        "issuer",
        "exact match only",
        issuer=ISSUER,
    )
    add(
        "iss_list",
        rs256_raw(
            json.dumps({"alg": "RS256", "kid": "rsa-1"}), json.dumps({**claims, "iss": [ISSUER]})
        ),
        "claim",
        "iss not a string (RFC 7519 4.1.1)",
        issuer=ISSUER,
    )
    for kid in ("../../../../etc/passwd", "/dev/null", "rsa-1' OR '1'='1", "rsa-1\u0000"):
        add(
            f"kid_injection_{len(vectors)}",
            rs256(headers={"kid": kid}),
            "key",
            "kid is only a dictionary key",
        )
    add(
        "kid_not_string",
        rs256_raw(json.dumps({"alg": "RS256", "kid": ["rsa-1"]}), body),
        "malformed",
        "kid is a list",
    )
    add(
        "refresh_token_as_access",
        rs256({**claims, "fam": "x", "jti": "y"}, headers={"typ": "rt+jwt"}),
        "type",
        "type confusion: a refresh token where an access token is due",
    )
    add(
        "refresh_token_asked",
        rs256({**claims, "fam": "x", "jti": "y"}, headers={"typ": "rt+jwt"}),
        None,
        "a refresh token with --token-type refresh",
        token_type="refresh",
    )
    add(
        "access_token_as_refresh",
        rs256(headers={"typ": "at+jwt"}),
        "type",
        "an access token where a refresh token is due",
        token_type="refresh",
    )
    dup_body = body[:-1] + ',"sub":"admin"}'
    add(
        "duplicate_payload_key",
        rs256_raw(json.dumps({"alg": "RS256", "kid": "rsa-1"}), dup_body),
        "duplicate_key",
        "sub twice: parsers disagree on which wins",
    )
    add(
        "duplicate_header_key",
        rs256_raw('{"alg":"RS256","kid":"rsa-1","alg":"none"}', body),
        "duplicate_key",
        "alg twice",
    )
    add(
        "aud_wrong",
        rs256({**claims, "aud": "other-api"}),
        "audience",
        "aud for another API",
        audience="my-api",
    )
    add(
        "aud_missing",
        rs256(claims),
        "audience",
        "no aud at all",
        audience="my-api",
    )
    add(
        "scope_missing",
        rs256(claims),
        "scope",
        "scope me only",
        required_scopes=["me", "items"],
    )
    add("iat_future", rs256({**claims, "iat": FAR_FUTURE - 10}), "not_yet_valid", "iat in 2099")
    add("nbf_future", rs256({**claims, "nbf": FAR_FUTURE - 10}), "not_yet_valid", "nbf in 2099")
    add("expired", rs256({**claims, "exp": IAT + 60}), "expired", "expired in 2023")
    (HERE / "attacks.json").write_text(json.dumps({"vectors": vectors}, indent=1) + "\n")


if __name__ == "__main__":
    main()
