"""Throughput of ``oauthcli verify --batch`` beside a bare PyJWT loop on the same tokens.

    python bench/verify.py [--hs 100000] [--es 20000]

Generates HS256 and ES256 access tokens, then times:
- a bare ``jwt.decode(token, key, algorithms=[alg])`` loop (one core, in-process);
- oauthcli's verifier core in one process (in-process, ``workers=1``);
- ``oauthcli verify --batch FILE`` as a subprocess, stdout to /dev/null (start-up included,
  worker processes on every core).
and prints tokens/s and each one's ratio to the bare PyJWT loop.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from oauthcli.verify.batch import run_batch
from oauthcli.verify.keyset import key_from_object, key_from_secret
from oauthcli.verify.verifier import Verifier

SECRET = b"bench-secret-" + b"x" * 51


def make_tokens(count: int, key, alg: str) -> list[str]:
    now = int(time.time())
    base = {
        "iss": "https://auth.example.com",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scope": "me items",
    }
    headers = {"typ": "at+jwt", "kid": "bench-1"}
    return [
        jwt.encode(
            {**base, "sub": f"user{i}", "jti": f"{i:08d}"}, key, algorithm=alg, headers=headers
        )
        for i in range(count)
    ]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def bare_pyjwt(tokens: list[str], key, alg: str) -> float:
    start = time.perf_counter()
    for token in tokens:
        jwt.decode(token, key, algorithms=[alg])
    return time.perf_counter() - start


def core_single(tokens: list[str], verification_key) -> float:
    verifier = Verifier([verification_key])
    sink: list[str] = []
    start = time.perf_counter()
    summary = run_batch(verifier, tokens, sink.append, workers=1)
    elapsed = time.perf_counter() - start
    assert summary.valid == len(tokens), summary
    return elapsed


def cli_batch(path: Path, key_args: list[str]) -> float:
    exe = [sys.executable, "-m", "oauthcli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    start = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        proc = subprocess.run(
            [*exe, "verify", "--batch", str(path), *key_args],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=path.parent,
        )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"oauthcli verify --batch failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def run(label: str, tokens: list[str], key, alg: str, vkey, key_args: list[str], tmp: Path):
    path = tmp / f"{alg}.txt"
    path.write_text("\n".join(tokens) + "\n")
    n = len(tokens)
    bare = min(bare_pyjwt(tokens, key, alg) for _ in range(2))
    single = min(core_single(tokens, vkey) for _ in range(2))
    batch = min(cli_batch(path, key_args) for _ in range(2))
    print(f"\n{label}: {n:,} tokens")
    base = rate(n, bare)
    for name, seconds in (
        ("bare PyJWT loop (1 core)", bare),
        ("oauthcli core, 1 process", single),
        ("oauthcli verify --batch (CLI)", batch),
    ):
        print(f"  {name:<32} {rate(n, seconds):>10,.0f} tokens/s   x{rate(n, seconds) / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hs", type=int, default=100_000)
    parser.add_argument("--es", type=int, default=20_000)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = (
        ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        if hasattr(os, "getloadavg")
        else ""
    )
    print(f"python {sys.version.split()[0]}, PyJWT {jwt.__version__}, {cores} cores{load}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "hs.secret").write_bytes(SECRET)
        hs_tokens = make_tokens(args.hs, SECRET, "HS256")
        run(
            "HS256",
            hs_tokens,
            SECRET,
            "HS256",
            key_from_secret(SECRET, "HS256"),
            ["--secret-file", str(tmp / "hs.secret")],
            tmp,
        )
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key()
        (tmp / "es.pem").write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        es_tokens = make_tokens(args.es, private, "ES256")
        run(
            "ES256",
            es_tokens,
            public,
            "ES256",
            key_from_object(public),
            ["--key", str(tmp / "es.pem")],
            tmp,
        )


if __name__ == "__main__":
    main()
