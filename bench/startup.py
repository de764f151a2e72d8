"""Start-up time of the CLI: median wall time over interleaved runs.

    python bench/startup.py [--runs 21] [--only help|basic|tokens] [--oauthcli PATH]
                            [--before OTHER_OAUTHCLI]

Prints the median of `python -c pass`, `oauthcli --version`, `oauthcli user list`
(on the shipped example store), `oauthcli decode` and an HS256 `oauthcli verify`
(the token on stdin), `oauthcli --help` and every command's `--help` (stdout a
pipe, as in CI logs), each with its ratio to bare Python. When node and npm are
present, node `jwt-cli` (npm `jwt-cli@2`, installed once into
``$OAUTHCLI_BENCH_CACHE``, default ``~/.cache/oauthcli-bench``) decodes and
verifies the same token, and decode/verify are also shown as a ratio to it.

Bytecode is compiled first (``compileall``), as ``pip install`` does: with
``PYTHONDONTWRITEBYTECODE`` set, an editable install would otherwise recompile
oauthcli's modules at every start. ``--oauthcli PATH`` times another
installation's ``oauthcli`` instead; ``--before PATH`` times one alongside (say, a
venv made at 0.1's commit), interleaved in the same runs, and prints both.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Run = tuple[list[str], Path | None]  # argv, and the file given on stdin (or none)
SECRET = b"bench-secret-" + b"k" * 32  # 45 bytes: long enough for HS256

HELP_PATHS = [
    [],
    ["user"],
    ["user", "add"],
    ["client", "add"],
    ["keys", "generate"],
    ["login"],
    ["issue"],
    ["decode"],
    ["verify"],
    ["call"],
    ["serve"],
]


def hs256_token() -> str:
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'alice', 'scope': 'me items', 'iat': 1_700_000_000, 'exp': 4_000_000_000})}"
    mac = hmac.digest(SECRET, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def jwt_cli() -> str | None:
    """node jwt-cli's executable, installed into the bench cache when npm is present."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    cache = Path(os.environ.get("OAUTHCLI_BENCH_CACHE", Path.home() / ".cache/oauthcli-bench"))
    exe = cache / "node_modules" / ".bin" / "jwt"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                ["npm", "install", "--prefix", str(cache), "--silent", "--no-audit", "jwt-cli@2"],
                capture_output=True,
                check=False,
                timeout=120,  # a registry out of reach must not stall the bench
            )
            failed = done.returncode != 0
        except subprocess.TimeoutExpired:
            failed = True
        if failed or not exe.exists():
            print("(npm could not install jwt-cli: no node column)", file=sys.stderr)
            return None
    return str(exe)


def compile_bytecode(python: str) -> None:
    """As pip does at install: compile the oauthcli package that ``python`` imports."""
    code = (
        "import compileall, os, oauthcli; "
        "compileall.compile_dir(os.path.dirname(oauthcli.__file__), quiet=1)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([python, "-c", code], check=True, env=env)


def oauthcli_rows(base: list[str], only: str | None, files: dict[str, Path]) -> dict[str, Run]:
    """The oauthcli commands timed, by name: (argv, file given on stdin)."""
    rows: dict[str, Run] = {}
    if only in (None, "basic"):
        rows["oauthcli --version"] = ([*base, "--version"], None)
        store = str(ROOT / "users.example.toml")
        rows["oauthcli user list"] = ([*base, "user", "list", "--store", store], None)
    if only in (None, "tokens"):
        rows["oauthcli decode -"] = ([*base, "decode", "-"], files["token"])
        verify = [*base, "verify", "-", "--secret-file", str(files["secret"])]
        rows["oauthcli verify - (HS256)"] = (verify, files["token"])
    if only in (None, "help"):
        for path in HELP_PATHS:
            rows[" ".join(["oauthcli", *path, "--help"])] = ([*base, *path, "--help"], None)
    return rows


def installation(exe: str | None) -> tuple[list[str], str]:
    """(argv prefix, its Python) for ``exe``, or for this venv's oauthcli.

    The Python is the one named on the script's ``#!`` line (pip and pipx write it), so a
    symlink or a script outside a venv's ``bin/`` is timed with its own interpreter.
    """
    if not exe:
        found = shutil.which("oauthcli", path=str(Path(sys.executable).parent))
        return ([found] if found else [sys.executable, "-m", "oauthcli"]), sys.executable
    path = shutil.which(exe)
    if path is None:
        sys.exit(f"startup.py: no such executable: {exe}")
    with open(path, "rb") as script:
        first = script.readline(4096)
    if not first.startswith(b"#!"):
        sys.exit(f"startup.py: {exe} is not a Python script (no #! line)")
    python = first[2:].decode().split()[0]
    return [path], python


def time_all(commands: dict[str, Run], runs: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median wall time of each command; the exit code of those that failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    times: dict[str, list[float]] = {name: [] for name in commands}
    failed: dict[str, int] = {}  # an older version may lack a command: shown, not fatal
    for _ in range(runs):  # interleaved, so drift in machine load hits all alike
        for name, (argv, stdin) in commands.items():
            with open(stdin or os.devnull, "rb") as given:
                start = time.perf_counter()
                done = subprocess.run(
                    argv,
                    stdin=given,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    check=False,
                )
                times[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                failed[name] = done.returncode
    return {name: statistics.median(samples) for name, samples in times.items()}, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--only", choices=["help", "basic", "tokens"], default=None)
    parser.add_argument("--oauthcli", help="the oauthcli executable to time (default: this venv's)")
    parser.add_argument(
        "--before", metavar="OAUTHCLI", help="another installation's oauthcli, timed alongside"
    )
    args = parser.parse_args()

    base, python = installation(args.oauthcli)
    compile_bytecode(python)
    work = Path(tempfile.mkdtemp(prefix="oauthcli-bench-"))
    files = {"token": work / "token", "secret": work / "hs256.secret"}
    files["token"].write_text(hs256_token())
    files["secret"].write_bytes(SECRET)
    files["secret"].chmod(0o600)

    commands: dict[str, Run] = {"python -c pass": ([python, "-c", "pass"], None)}
    rows = oauthcli_rows(base, args.only, files)
    commands.update(rows)
    if args.before:
        before, before_python = installation(args.before)
        compile_bytecode(before_python)
        old = oauthcli_rows(before, args.only, files)
        commands.update({f"before: {name}": run for name, run in old.items()})
    node = jwt_cli() if args.only in (None, "tokens") else None
    if node:
        commands["node jwt-cli (decode)"] = ([node], files["token"])
        secret = f"--secret={SECRET.decode()}"  # jwt-cli takes it on argv; ours never does
        commands["node jwt-cli --secret (verify)"] = ([node, secret], files["token"])
    medians, failed = time_all(commands, args.runs)
    shutil.rmtree(work)

    baseline = medians["python -c pass"]
    yardstick = {
        "oauthcli decode -": medians.get("node jwt-cli (decode)"),
        "oauthcli verify - (HS256)": medians.get("node jwt-cli --secret (verify)"),
    }
    width = max(len(name) for name in rows) + 2
    head = f"{'command':<{width}}{'median':>10}{'/python':>9}{'/node':>7}"
    if args.before:
        head += f"{'before':>10}{'now/before':>12}"
    print(f"{head}   ({args.runs} runs each, interleaved)")
    for name in ["python -c pass", *rows, *(n for n in medians if n.startswith("node "))]:
        median = medians[name]
        line = f"{name:<{width}}{median * 1000:>8.1f}ms{median / baseline:>8.1f}x"
        node_median = yardstick.get(name)
        line += f"{median / node_median:>7.2f}" if node_median else " " * 7
        old_name = f"before: {name}"
        if old_name in medians:
            then = medians[old_name]
            line += f"{then * 1000:>8.1f}ms{median / then:>12.2f}"
            if old_name in failed:
                line += f"   (before: exit {failed[old_name]})"
        if name in failed:
            line += f"   (exit {failed[name]})"
        print(line)


if __name__ == "__main__":
    main()
