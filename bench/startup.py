"""Start-up time of the CLI: median wall time over interleaved runs.

    python bench/startup.py [--runs 21] [--only help]

Prints the median of `python -c pass`, `oauthcli --version`, `oauthcli user
list` (on the shipped example store), `oauthcli --help` and every command's
`--help` (stdout a pipe, as in CI logs), and each one's ratio to bare Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--only", choices=["help", "basic"], default=None)
    args = parser.parse_args()

    exe = shutil.which("oauthcli", path=str(Path(sys.executable).parent)) or shutil.which(
        "oauthcli"
    )
    base = [exe] if exe else [sys.executable, "-m", "oauthcli"]
    commands: dict[str, list[str]] = {"python -c pass": [sys.executable, "-c", "pass"]}
    if args.only != "help":
        commands["oauthcli --version"] = [*base, "--version"]
        commands["oauthcli user list"] = [
            *base,
            "user",
            "list",
            "--store",
            str(ROOT / "users.example.toml"),
        ]
    if args.only != "basic":
        for path in HELP_PATHS:
            commands[" ".join(["oauthcli", *path, "--help"])] = [*base, *path, "--help"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved, so drift in machine load hits all alike
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
            )
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["python -c pass"])
    width = max(len(name) for name in commands) + 2
    print(f"{'command':<{width}}{'median':>10}{'ratio':>8}   ({args.runs} runs each, interleaved)")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<{width}}{median * 1000:>8.1f}ms{median / baseline:>7.1f}x")


if __name__ == "__main__":
    main()
