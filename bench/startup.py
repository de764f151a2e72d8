"""Start-up time of the CLI: median wall time over interleaved runs.

    python bench/startup.py [--runs 20]

Prints the median of `oauthcli --version`, `oauthcli user list` (on the shipped
example store) and `python -c pass`, and each one's ratio to bare Python.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    exe = shutil.which("oauthcli", path=str(Path(sys.executable).parent)) or shutil.which(
        "oauthcli"
    )
    base = [exe] if exe else [sys.executable, "-m", "oauthcli"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "oauthcli --version": [*base, "--version"],
        "oauthcli user list": [*base, "user", "list", "--store", str(ROOT / "users.example.toml")],
    }
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
    print(f"{'command':<22}{'median':>10}{'ratio':>8}   ({args.runs} runs each, interleaved)")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<22}{median * 1000:>8.1f}ms{median / baseline:>7.1f}x")


if __name__ == "__main__":
    main()
