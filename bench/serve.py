"""Requests/s and p50/p99 latency of `oauthcli serve` beside the FastAPI tutorial's app.

    .venv/bin/python bench/serve.py [--workers 1,2] [--requests 20000] [--concurrency 32]
                                    [--token-requests 48] [--rounds 12] [--asyncio]

    # the state backends side by side (issue 13): POST /token (refresh grant) and
    # GET /users/me with 0.1's JSON files (the oauthcli of a git ref), SQLite, Redis
    .venv/bin/python bench/serve.py --state-backends files,sqlite,redis --files-ref a9e4185

Both apps run under the same uvicorn (uvloop + httptools when installed, the
default of uvicorn[standard]) on 127.0.0.1, without access logs, and are driven
by the same bounded keep-alive load from a small raw-socket asyncio client in
this process: GET /users/me (token verification path) and POST /token (bcrypt
at the given cost). ``--asyncio`` adds runs on the plain asyncio loop with h11,
where uvicorn's own pre-bound socket (``--workers N``) loses TCP_NODELAY
(uvicorn issue #3149) and oauthcli's own listener does not.
Not part of the test suite: it takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent

# Runs oauthcli's server with a chosen event loop / HTTP parser (the CLI always uses "auto").
OAUTHCLI_RUNNER = """
import sys
from pathlib import Path
from oauthcli.server import run
store, port, workers, loop, http = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
extra = {"state": sys.argv[6]} if len(sys.argv) > 6 else {}
run.serve(run.ServeOptions(Path(store), port=port, workers=workers, log_level="warning",
                           loop=loop, http=http, **extra))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_store(directory: Path, rounds: int) -> Path:
    from oauthcli.passwords import hash_password
    from oauthcli.store import User, UserStore

    secret = directory / "hs256.secret"
    secret.write_text("bench-secret-" + "x" * 40)
    secret.chmod(0o600)  # serve refuses secret files other users can read
    path = directory / "users.toml"
    with UserStore(path).edit(create=True) as data:
        data.other["issuer"] = {"algorithm": "HS256", "secret_file": "hs256.secret"}
        data.other["passwords"] = {"bcrypt_rounds": rounds}
        data.users["alice"] = User(
            "alice",
            hash_password("secret", rounds),
            "Alice Liddell",
            "alice@example.com",
            scopes=["me", "items"],
        )
    return path


@contextlib.contextmanager
def server(cmd: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server failed: {proc.stderr.read().decode()}") from None
                time.sleep(0.1)
        time.sleep(1.0)  # let every worker start
        yield
    finally:
        proc.terminate()
        proc.wait(30)


async def _load(
    port: int, raw: bytes, total: int, concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while next(counter) < total:
                start = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                lower = head.lower()
                at = lower.index(b"content-length:") + 15
                length = int(lower[at : lower.index(b"\r\n", at)])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, statuses


def load(port: int, raw: bytes, total: int, concurrency: int) -> dict[str, float]:
    elapsed, latencies, statuses = asyncio.run(_load(port, raw, total, concurrency))
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {statuses}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def get_request(path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def token_request() -> bytes:
    body = urlencode(
        {"grant_type": "password", "username": "alice", "password": "secret", "scope": "me items"}
    ).encode()
    return (
        b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def fetch_token(port: int) -> str:
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{port}/token",
        timeout=60,
        data={
            "grant_type": "password",
            "username": "alice",
            "password": "secret",
            "scope": "me items",
        },
    )
    response.raise_for_status()
    return response.json()["access_token"]


def refresh_request(refresh_token: str) -> bytes:
    body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token}).encode()
    return (
        b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def _refresh_chains(port: int, tokens: list[str], total: int) -> tuple[float, list[float]]:
    """One keep-alive connection per refresh token: each answer's token is the next request's."""
    counter = itertools.count()
    latencies: list[float] = []

    async def chain(token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while next(counter) < total:
                start = time.perf_counter()
                writer.write(refresh_request(token))
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                at = lower.index(b"content-length:") + 15
                body = await reader.readexactly(int(lower[at : lower.index(b"\r\n", at)]))
                if head[9:12] != b"200":
                    raise SystemExit(f"refresh failed: {head[:12]!r} {body[:200]!r}")
                token = json.loads(body)["refresh_token"]
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(chain(t) for t in tokens))
    return time.perf_counter() - start, latencies


def refresh_load(port: int, concurrency: int, total: int) -> dict[str, float]:
    import httpx

    form = {"grant_type": "password", "username": "alice", "password": "secret"}
    with httpx.Client(timeout=60) as http:
        tokens = [
            http.post(f"http://127.0.0.1:{port}/token", data=form).json()["refresh_token"]
            for _ in range(concurrency)
        ]
    elapsed, latencies = asyncio.run(_refresh_chains(port, tokens, total))
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(30)


def files_tree(ref: str, directory: Path) -> Path:
    """The ``oauthcli`` package of git ``ref`` (0.1: JSON state files), unpacked in ``directory``."""
    tree = directory / "files-tree"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "oauthcli"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def state_bench(args: argparse.Namespace) -> None:
    """GET /users/me and POST /token (refresh grant) with each state backend."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in [int(w) for w in args.workers.split(",")]:
            for backend in args.state_backends.split(","):
                directory = Path(tmp) / f"{backend}-{workers}"
                directory.mkdir()
                store = make_store(directory, args.rounds)
                env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
                env["PYTHONPATH"] = str(ROOT)
                extra: list[str] = []
                with contextlib.ExitStack() as stack:
                    if backend == "files":
                        if not args.files_ref:
                            raise SystemExit("--state-backends files needs --files-ref REF")
                        env["PYTHONPATH"] = str(files_tree(args.files_ref, directory))
                    elif backend == "redis":
                        extra = [stack.enter_context(redis_server(directory))]
                    elif backend != "sqlite":
                        raise SystemExit(f"unknown state backend {backend!r}")
                    port = free_port()
                    cmd = [sys.executable, "-c", OAUTHCLI_RUNNER, str(store), str(port)]
                    cmd += [str(workers), "auto", "auto", *extra]
                    with server(cmd, port, env):
                        get = get_request("/users/me", fetch_token(port))
                        load(port, get, 1000, args.concurrency)  # warm-up
                        me = load(port, get, args.requests, args.concurrency)
                        ref = refresh_load(port, args.token_concurrency, args.refresh_requests)
                row = {"backend": backend, "workers": workers, "users_me": me, "refresh": ref}
                results.append(row)
                print(
                    f"{backend:7} workers={workers} GET /users/me {me['rps']:8.0f} req/s "
                    f"p50 {me['p50']:6.2f} ms p99 {me['p99']:6.2f} ms | POST /token refresh "
                    f"{ref['rps']:7.0f} req/s p50 {ref['p50']:6.2f} ms p99 {ref['p99']:6.2f} ms",
                    flush=True,
                )
    print(json.dumps({"cpus": os.cpu_count(), "results": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--token-requests", type=int, default=48)
    parser.add_argument("--token-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--asyncio", action="store_true", help="also run asyncio+h11")
    parser.add_argument(
        "--state-backends", help="compare state backends instead: files,sqlite,redis"
    )
    parser.add_argument("--files-ref", help="git ref of an oauthcli with JSON state files")
    parser.add_argument("--refresh-requests", type=int, default=2000)
    args = parser.parse_args()
    if args.state_backends:
        state_bench(args)
        return

    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    env["TUTORIAL_ROUNDS"] = str(args.rounds)
    env["PYTHONPATH"] = str(ROOT)
    stacks = [("auto", "auto")] + ([("asyncio", "h11")] if args.asyncio else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), args.rounds)
        for workers in [int(w) for w in args.workers.split(",")]:
            for loop, http in stacks:
                for name in ("oauthcli", "tutorial"):
                    port = free_port()
                    if name == "oauthcli":
                        cmd = [
                            sys.executable,
                            "-c",
                            OAUTHCLI_RUNNER,
                            str(store),
                            str(port),
                            str(workers),
                            loop,
                            http,
                        ]
                        path = "/users/me"
                    else:
                        cmd = [
                            sys.executable,
                            "-m",
                            "uvicorn",
                            "bench.tutorial_app:app",
                            "--port",
                            str(port),
                            "--workers",
                            str(workers),
                            "--log-level",
                            "warning",
                            "--no-access-log",
                            "--loop",
                            loop,
                            "--http",
                            http,
                        ]
                        path = "/users/me/"
                    with server(cmd, port, env):
                        token = fetch_token(port)
                        get = get_request(path, token)
                        load(port, get, 1000, args.concurrency)  # warm-up
                        me = load(port, get, args.requests, args.concurrency)
                        tok = load(
                            port, token_request(), args.token_requests, args.token_concurrency
                        )
                    row = {
                        "app": name,
                        "workers": workers,
                        "stack": f"{loop}/{http}",
                        "users_me": me,
                        "token": tok,
                    }
                    results.append(row)
                    print(
                        f"{name:9} workers={workers} {loop}/{http:8} "
                        f"GET /users/me {me['rps']:8.0f} req/s p50 {me['p50']:6.2f} ms "
                        f"p99 {me['p99']:6.2f} ms | POST /token (bcrypt {args.rounds}) "
                        f"{tok['rps']:6.1f} req/s p50 {tok['p50']:7.1f} ms "
                        f"p99 {tok['p99']:7.1f} ms",
                        flush=True,
                    )
    print(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "requests": args.requests,
                "concurrency": args.concurrency,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
