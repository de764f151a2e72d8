"""The CLI is started thousands of times in CI loops: cheap commands must stay cheap."""

import json
import subprocess
import sys

import pytest

HEAVY = ["httpx", "fastapi", "uvicorn", "pydantic", "cryptography", "jwt", "starlette"]

PROBE = """
import json, sys
from oauthcli.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nLOADED=" + json.dumps(sorted(m for m in {heavy} if m in sys.modules)) + "\\n")
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["user", "list"], ["user", "--help"]])
def test_cheap_commands_do_not_import_heavy_modules(args, store_path):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stderr.rsplit("LOADED=", 1)[1])
    assert loaded == []
