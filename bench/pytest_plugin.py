"""What the oauthcli pytest plugin adds to the start of a pytest run that uses none of its fixtures.

    python bench/pytest_plugin.py [--runs 20]

Runs ``pytest -q`` on a one-test project, with the plugin (loaded through its
``pytest11`` entry point, as in any project once oauthcli is installed) and without it
(``-p no:oauthcli``), interleaved so that drift in machine load hits both alike, and
prints the medians and their difference (the target: under 20 ms). On a loaded machine
that difference drowns in noise, so it also prints the median import time of
``oauthcli.pytest_plugin`` once pytest is imported (``python -X importtime``), which is
all the plugin adds besides pytest's own entry-point scan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = "def test_nothing():\n    assert True\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OAUTHCLI_", "PYTEST_"))}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_one.py").write_text(TEST)
        (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]
        commands = {
            "without (-p no:oauthcli)": [*base, "-p", "no:oauthcli"],
            "with the plugin": base,
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                start = time.perf_counter()
                subprocess.run(argv, cwd=project, env=env, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
        imports = []
        for _ in range(args.runs):
            # pytest itself is imported first: only what the plugin adds is counted.
            probe = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", "import pytest, oauthcli.pytest_plugin"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            line = next(
                line
                for line in probe.stderr.splitlines()
                if line.rstrip().endswith("| oauthcli.pytest_plugin")
            )
            imports.append(int(line.split("|")[1]) / 1e6)
    print(f"pytest start-up, one empty test ({args.runs} runs each, interleaved)")
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    for name, median in medians.items():
        print(f"  {name:<26}{median * 1000:>8.1f} ms")
    added = medians["with the plugin"] - medians["without (-p no:oauthcli)"]
    print(f"  {'added by the plugin':<26}{added * 1000:>8.1f} ms   (target < 20 ms)")
    print(
        f"  {'import oauthcli.pytest_plugin':<26}{statistics.median(imports) * 1000:>8.1f} ms"
        "   (after pytest; cumulative, python -X importtime)"
    )


if __name__ == "__main__":
    main()
