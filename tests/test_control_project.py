"""Done-when of issue 23 (items 1-4): a user's project tests its API's failure paths.

``tests/control_project/`` is a tutorial-style FastAPI API that verifies tokens through
the provider's JWKS, with its own pytest suite that uses only the plugin's documented
fixtures (``oauthcli_provider``'s control methods): the API refuses each bad-token kind,
survives a JWKS 503 and a key rotation; ``advance()`` expires a refresh token and a
device code without sleeping; the request log shows what the API sent, and no secret.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_pytest_plugin import run_project

PROJECT = Path(__file__).resolve().parent / "control_project"


@pytest.mark.timeout(600)  # a whole pytest session starting a provider per test
def test_the_projects_failure_path_suite_passes():
    for path in PROJECT.iterdir():
        if path.suffix in (".py", ".ini"):
            text = path.read_text()
            assert not re.search(r"^\s*pytest_plugins\s*=|-p\s*oauthcli", text, re.M), path
            assert "time.sleep" not in text and "oauthcli.server" not in text, path
    proc = run_project("-p", "no:randomly", "-rA", project=PROJECT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in (
        "test_the_api_refuses_each_bad_token[alg_none]",
        "test_the_api_refuses_each_bad_token[unknown_key]",
        "test_the_api_survives_a_jwks_503",
        "test_the_api_survives_a_key_rotation",
        "test_advance_expires_a_refresh_token",
        "test_advance_expires_a_device_code",
        "test_the_request_log_shows_what_the_api_sent_and_no_secret",
    ):
        assert f"PASSED test_failure_paths.py::{name}" in proc.stdout, proc.stdout
    assert "15 passed" in proc.stdout


def test_the_readmes_failure_path_examples_are_the_projects_tests():
    """Each example of the README's "Testing your app's failure paths" that uses the
    control API is a test of the project's suite, word for word (so it runs as written)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Testing your app's failure paths", 1)[1].split("\n### ", 1)[0]
    suite = (PROJECT / "test_failure_paths.py").read_text()
    mine = re.compile(
        r"oauthcli_provider\.(fail_next|advance|issue_bad_token|rotate_keys|requests)"
    )
    examples = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if mine.search(b)]
    assert len(examples) >= 4
    for example in examples:
        for function in re.split(r"\n\n\n", example.strip()):
            assert function in suite, function[:80]
