"""Everything risky about one token, in one list (``oauthcli audit``).

The audit does not decide whether a token is valid (that is ``verify``'s job); it
lists what makes a token, or the way it was minted, dangerous even when it is:

    alg_none        "alg": "none": no signature at all
    weak_secret     HS* signature verifies with a published secret (oauthcli.weak_secrets)
    weak_key        the key is too weak for the algorithm: an HMAC secret shorter than the
                    hash (RFC 7518 section 3.2) or an RSA key under 2048 bits (section 3.3)
    alg_confusion   HS* token audited against a public key: a verifier that lets the token
                    choose the algorithm would use the public key as the HMAC secret
    no_exp          no "exp": valid forever once leaked
    long_lifetime   "exp" more than a day after "iat" (or "nbf", or now)
    no_aud          no "aud": any API that trusts the issuer accepts it (RFC 9068 section 2.2)
    no_iss          no "iss": nothing says who minted it
    header_jku      "jku", "x5u", "jwk" or "x5c" in the header: a verifier that follows
    header_x5u      them lets the token bring its own key (RFC 8725 section 3.10)
    header_jwk
    header_x5c
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oauthcli.claims import is_numeric_date
from oauthcli.durations import humanize_delta as span
from oauthcli.keys import HMAC_MIN_BYTES, RSA_MIN_BITS
from oauthcli.verify.parse import ParsedToken
from oauthcli.weak_secrets import find_weak_secret

MAX_LIFETIME = 86400
KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")


@dataclass(frozen=True)
class Finding:
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def audit(
    parsed: ParsedToken,
    now: float,
    *,
    secret: bytes | None = None,
    public_key: Any = None,
) -> list[Finding]:
    """The findings for ``parsed``, most serious first; ``[]`` when nothing is wrong.

    ``secret`` (the HMAC secret the token is meant to be checked with) and
    ``public_key`` (a cryptography public key) let the key strength be judged too.
    """
    header, payload = parsed.header, parsed.payload
    alg = header.get("alg")
    alg = alg if isinstance(alg, str) else ""
    findings: list[Finding] = []
    if alg.lower() == "none":
        findings.append(
            Finding("alg_none", "alg is 'none': the token is not signed; anyone can write it")
        )
    weak = find_weak_secret(parsed)
    if weak is not None:
        findings.append(Finding("weak_secret", weak.warning()))
        if secret is None:
            secret = weak.secret.encode()
    findings.extend(_key_findings(alg, secret, public_key))
    findings.extend(_time_findings(payload, now))
    if payload.get("aud") in (None, "", []):
        findings.append(
            Finding("no_aud", "no 'aud' claim: any API that trusts this issuer would accept it")
        )
    if payload.get("iss") in (None, ""):
        findings.append(Finding("no_iss", "no 'iss' claim: nothing says who issued the token"))
    for name in KEY_HEADERS:
        if name in header:
            findings.append(
                Finding(
                    f"header_{name}",
                    f"header '{name}' names or carries a key: a verifier that uses it lets "
                    "the token bring its own key (RFC 8725 section 3.10)",
                )
            )
    return findings


def _key_findings(alg: str, secret: bytes | None, public_key: Any) -> list[Finding]:
    findings = []
    needed = HMAC_MIN_BYTES.get(alg)
    if needed is not None and secret is not None and len(secret) < needed:
        findings.append(
            Finding(
                "weak_key",
                f"the {alg} secret is {len(secret)} bytes; RFC 7518 section 3.2 requires "
                f"at least {needed}, or it can be brute-forced",
            )
        )
    if public_key is None:
        return findings
    if needed is not None:
        findings.append(
            Finding(
                "alg_confusion",
                f"an {alg} (HMAC) token checked against a public key: a verifier that lets "
                "the token pick the algorithm would take the public key as the secret",
            )
        )
    from cryptography.hazmat.primitives.asymmetric import rsa

    if (
        alg[:2] in ("RS", "PS")
        and isinstance(public_key, rsa.RSAPublicKey)
        and public_key.key_size < RSA_MIN_BITS
    ):
        findings.append(
            Finding(
                "weak_key",
                f"the RSA key is {public_key.key_size} bits; RFC 7518 section 3.3 requires "
                f"at least {RSA_MIN_BITS}",
            )
        )
    return findings


def _time_findings(payload: dict[str, Any], now: float) -> list[Finding]:
    exp = payload.get("exp")
    if exp is None or not is_numeric_date(exp):
        return [Finding("no_exp", "no usable 'exp' claim: the token never expires")]
    start = next((payload[n] for n in ("iat", "nbf") if is_numeric_date(payload.get(n))), now)
    lifetime = exp - start
    if lifetime > MAX_LIFETIME:
        return [
            Finding(
                "long_lifetime",
                f"the token lives {span(lifetime)} (more than a day): a leaked copy stays "
                "usable that long",
            )
        ]
    return []
