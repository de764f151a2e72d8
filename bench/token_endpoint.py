"""`oauthcli serve` side by side with panva's oidc-provider and the FastAPI tutorial, under wrk.

    .venv/bin/python bench/token_endpoint.py [--duration 10] [--connections 32] [--repeat 3]
                                             [--server-core 1] [--load-core 0]
                                             [--token-format opaque|jwt]

Each server runs alone, pinned to one core (`taskset -c SERVER_CORE`, one worker / one
node process); wrk runs pinned to another core (`apt-get install wrk`). Rows:

- POST /token, client_credentials with client_secret_basic, for a client made by
  `oauthcli client add --new-secret-file` (serve) and a client_secret_basic client
  (oidc-provider; its default opaque client_credentials tokens, or `--token-format jwt`
  for ES256 JWT access tokens through a resource indicator, as serve mints them);
- GET of the JWKS and of the discovery document (both servers);
- GET /users/me with a valid bearer token: serve beside tests/apps/tutorial_app.py under
  the same uvicorn (serve also checks revocation and the account's state per request).

Every measurement is repeated (`--repeat`, servers interleaved so that load from other
processes hits both alike) and the best run of each is shown; any non-2xx answer aborts.
oidc-provider is found under $OAUTHCLI_TEST_CACHE (default ~/.cache/oauthcli-test)
/oidc-provider/node_modules, where `.ci/run` installs it.
Not part of the test suite: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("OAUTHCLI_TEST_CACHE", Path.home() / ".cache" / "oauthcli-test"))
NODE_MODULES = CACHE / "oidc-provider" / "node_modules"
OP_CLIENT, OP_SECRET = "bench", "bench-client-secret-0123456789abcdefghijklmnop"
TARGETS = {"token": 1.0, "jwks": 0.5, "discovery": 0.5, "users_me": 1.67}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def oauthcli(*args: str, cwd: Path, stdin: str | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    subprocess.run(
        [sys.executable, "-m", "oauthcli", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


def make_store(directory: Path) -> tuple[Path, str]:
    """An ES256 store with alice (password "secret") and a client made by `client add`."""
    oauthcli("keys", "generate", "--alg", "ES256", "--out", "signing.pem", cwd=directory)
    store = directory / "users.toml"
    store.write_text('[issuer]\nalgorithm = "ES256"\nkey_file = "signing.pem"\n')
    store.chmod(0o600)
    oauthcli(
        "user", "add", "alice", "-s", "me", "--password-stdin", cwd=directory, stdin="secret\n"
    )
    oauthcli("client", "add", "bench", "-s", "items", "--new-secret-file", "bench.secret",
             cwd=directory)  # fmt: skip
    return store, (directory / "bench.secret").read_text().strip()


@contextlib.contextmanager
def running(cmd: list[str], port: int, core: int, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """Start a server pinned to ``core``; yield its base URL once it answers."""
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), *cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,  # serve --exit-on-stdin-eof: gone with this script
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise SystemExit(f"{cmd[:4]} failed to start: {err}") from None
                time.sleep(0.1)
        time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def wrk(url: str, args: argparse.Namespace, headers: dict[str, str], body: str | None) -> float:
    """Requests/s of wrk against ``url``; any non-2xx answer or socket error aborts."""
    # A generous timeout: on a loaded machine a slow answer is a slow answer, not an error.
    cmd = ["taskset", "-c", str(args.load_core), "wrk", "-t1", f"-c{args.connections}",
           f"-d{args.duration}s", "--timeout", "30s", "--latency"]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if body is not None:
            lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
            headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        else:
            lines = []
        lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
        script.write("\n".join(lines) + "\n")
        script.flush()
        out = subprocess.run(
            [*cmd, "-s", script.name, url], capture_output=True, text=True, check=True
        ).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if "Non-2xx" in out or (errors and any(int(n) for n in errors.groups())):
        raise SystemExit(f"wrk saw errors at {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"no figure from wrk:\n{out}")
    return float(match[1])


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def run_serve(store: Path, secret: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    cmd = [sys.executable, "-m", "oauthcli", "serve", "--store", str(store), "--port", str(port),
           "--log-level", "warning", "--exit-on-stdin-eof"]  # fmt: skip
    with running(cmd, port, args.server_core, store.parent, env) as url:
        form = {"grant_type": "password", "username": "alice", "password": "secret"}
        token = httpx.post(url + "/token", data=form, trust_env=False).json()["access_token"]
        cc = "grant_type=client_credentials"
        return {
            "token": wrk(url + "/token", args, basic("bench", secret), cc),
            "jwks": wrk(url + "/.well-known/jwks.json", args, {}, None),
            "discovery": wrk(url + "/.well-known/openid-configuration", args, {}, None),
            "users_me": wrk(url + "/users/me", args, {"Authorization": f"Bearer {token}"}, None),
        }


def run_oidc_provider(directory: Path, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    script = Path(__file__).with_name("oidc_provider.mjs")
    cmd = ["node", str(script), str(NODE_MODULES), str(port), OP_CLIENT, OP_SECRET,
           args.token_format]  # fmt: skip
    env = dict(os.environ, NODE_ENV="production")
    with running(cmd, port, args.server_core, directory, env) as url:
        config = httpx.get(url + "/.well-known/openid-configuration", trust_env=False).json()
        cc = "grant_type=client_credentials"
        answer = httpx.post(
            config["token_endpoint"], content=cc, trust_env=False,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     **basic(OP_CLIENT, OP_SECRET)},
        )  # fmt: skip
        if answer.status_code != 200:
            raise SystemExit(f"oidc-provider refused the client: {answer.text}")
        return {
            "token": wrk(config["token_endpoint"], args, basic(OP_CLIENT, OP_SECRET), cc),
            "jwks": wrk(config["jwks_uri"], args, {}, None),
            "discovery": wrk(url + "/.well-known/openid-configuration", args, {}, None),
        }


def run_tutorial(directory: Path, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "tests.apps.tutorial_app:create_tutorial_app",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    with running(cmd, port, args.server_core, ROOT, env) as url:
        form = {"username": "alice", "password": "secret", "scope": "me"}
        token = httpx.post(url + "/token", data=form, trust_env=False).json()["access_token"]
        return {
            "users_me": wrk(url + "/users/me", args, {"Authorization": f"Bearer {token}"}, None)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per figure")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--load-core", type=int, default=0)
    parser.add_argument("--token-format", choices=["opaque", "jwt"], default="opaque")
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "node"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install wrk util-linux nodejs)")
    if not (NODE_MODULES / "oidc-provider" / "package.json").is_file():
        raise SystemExit(f"oidc-provider is not installed under {NODE_MODULES} (run .ci/run)")

    best: dict[str, dict[str, float]] = {"serve": {}, "oidc-provider": {}, "tutorial": {}}
    with tempfile.TemporaryDirectory() as tmp:
        store, secret = make_store(Path(tmp))
        for round_ in range(args.repeat):
            runs = {
                "serve": lambda: run_serve(store, secret, args),
                "oidc-provider": lambda: run_oidc_provider(Path(tmp), args),
                "tutorial": lambda: run_tutorial(Path(tmp), args),
            }
            for name, run in runs.items():
                for what, rps in run().items():
                    best[name][what] = max(best[name].get(what, 0.0), rps)
            print(f"round {round_ + 1}/{args.repeat}: {json.dumps(best)}", file=sys.stderr)

    serve, op, tutorial = best["serve"], best["oidc-provider"], best["tutorial"]
    rows = [
        ("POST /token client_credentials (basic)", "token", op, "oidc-provider"),
        ("GET JWKS", "jwks", op, "oidc-provider"),
        ("GET discovery", "discovery", op, "oidc-provider"),
        ("GET /users/me", "users_me", tutorial, "tutorial app"),
    ]
    print(f"one core each (taskset), wrk -t1 -c{args.connections} -d{args.duration}s, best of "
          f"{args.repeat}; oidc-provider tokens: {args.token_format}")  # fmt: skip
    print(f"{'request':40} {'serve req/s':>12} {'peer':>14} {'peer req/s':>11} {'ratio':>6} target")
    results = []
    for label, key, peer, peer_name in rows:
        ratio = serve[key] / peer[key]
        target = TARGETS[key]
        mark = "ok" if ratio >= target else "BELOW"
        print(f"{label:40} {serve[key]:12.0f} {peer_name:>14} {peer[key]:11.0f} {ratio:6.2f} "
              f">= {target} {mark}")  # fmt: skip
        results.append({"request": key, "serve": serve[key], "peer": peer_name,
                        "peer_rps": peer[key], "ratio": ratio, "target": target})  # fmt: skip
    print(json.dumps({"cpus": os.cpu_count(), "args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
