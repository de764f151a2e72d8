"""oauthcli.errors: one vocabulary of reason codes, each documented with the exit codes it comes
with, and one rule from a server's HTTP status (and OAuth error code) to an exit code."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import oauthcli
from oauthcli.errors import (
    AuthenticationError,
    ExitCode,
    OAuthCliError,
    Reason,
    TokenError,
    exit_code_for_status,
    family_reason,
)

ROOT = Path(oauthcli.__file__).parent
README = ROOT.parent / "README.md"


def _documented() -> dict[str, set[int]]:
    """README "Reason codes": each code with the exit codes its row gives."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Reason codes", 1)[1].split("\n#", 1)[0]
    rows: dict[str, set[int]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        codes = re.findall(r"`([a-z_0-9]+)`", cells[0])
        exits = [int(n) for n in re.findall(r"\d+", cells[1])]
        if len(exits) > 1 and len(codes) == len(exits):  # one exit per code, in order
            for code, exit_code in zip(codes, exits, strict=True):
                rows.setdefault(code, set()).add(exit_code)
        else:
            for code in codes:
                rows.setdefault(code, set()).update(exits)
    return rows


def _error_classes() -> dict[str, type[OAuthCliError]]:
    found: dict[str, type[OAuthCliError]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path.name in ("__main__.py", "pytest_plugin.py"):
            continue
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for name, value in vars(importlib.import_module(module)).items():
            if isinstance(value, type) and issubclass(value, OAuthCliError):
                found[name] = value
    return found


def _raised() -> dict[str, set[int]]:
    """Each reason the code raises, with the exit codes of the errors it is raised with."""
    classes = _error_classes()
    used: dict[str, set[int]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in classes:
                continue
            given = [k.value for k in node.keywords if k.arg == "reason"] + node.args[1:2]
            exit_code = int(classes[name].exit_code)
            if not given:  # the class's default reason, else its family's
                defaults = classes[name].__init__.__defaults__ or ()
                default = next((d for d in defaults if isinstance(d, Reason)), None)
                code = (default or family_reason(exit_code)).value
                used.setdefault(code, set()).add(exit_code)
            for expression in given:
                for part in ast.walk(expression):
                    if (
                        isinstance(part, ast.Attribute)
                        and getattr(part.value, "id", "") == "Reason"
                    ):
                        used.setdefault(Reason[part.attr].value, set()).add(exit_code)
    # The families: an error without a code of its own (a subclass of oauthcli's, or a bare one).
    for exit_code in ExitCode:
        if exit_code != ExitCode.OK:
            used.setdefault(family_reason(exit_code).value, set()).add(int(exit_code))
    return used


def test_every_reason_is_documented_with_the_exit_codes_it_comes_with():
    documented = _documented()
    assert set(documented) == {r.value for r in Reason}
    raised = _raised()
    assert set(raised) == {r.value for r in Reason}  # no code nobody raises
    assert {code: documented[code] for code in raised} == raised


def test_a_reason_is_its_string_in_json():
    import json

    error = AuthenticationError("no", Reason.INVALID_SCOPE)
    assert json.dumps({"error": error.reason}) == '{"error": "invalid_scope"}'
    assert TokenError("x", Reason.EXPIRED).reason == "expired"
    assert family_reason(ExitCode.REMOTE) == "remote"


@pytest.mark.parametrize(
    ("status", "oauth_error", "refusals", "expected"),
    [
        (401, None, (401, 403), ExitCode.AUTH),
        (403, None, (401, 403), ExitCode.AUTH),
        (400, None, (401, 403), ExitCode.REMOTE),  # an API's 400 is not a refused token
        (400, None, (400, 401), ExitCode.AUTH),  # a token endpoint's 400 is (RFC 6749 5.2)
        (404, None, (401, 403), ExitCode.REMOTE),
        (500, None, (400, 401), ExitCode.REMOTE),
        (503, None, (401, 403), ExitCode.REMOTE),
        (400, "invalid_grant", (401,), ExitCode.AUTH),
        (400, "invalid_client", (401,), ExitCode.AUTH),
        (400, "access_denied", (401,), ExitCode.AUTH),
        (400, "invalid_request", (400, 401), ExitCode.REMOTE),
        (400, "unsupported_grant_type", (400, 401), ExitCode.REMOTE),
        (401, "temporarily_unavailable", (400, 401), ExitCode.REMOTE),
        (418, "something_else", (400, 401), ExitCode.REMOTE),
    ],
)
def test_one_rule_from_a_status_to_an_exit_code(status, oauth_error, refusals, expected):
    assert exit_code_for_status(status, oauth_error, refusals=refusals) == expected
