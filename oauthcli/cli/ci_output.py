"""Tokens for pipelines: ``--format env`` lines, and masking on GitHub Actions.

Every command that prints a token or secret calls :func:`mask` first. On a GitHub
Actions runner (``GITHUB_ACTIONS=true``) it writes ``::add-mask::VALUE`` to
**stderr**, flushed before the value is printed. The runner reads workflow commands
from both output streams of a step (actions/runner
``src/Runner.Worker/Handlers/ScriptHandler.cs`` hands stdout and stderr each to an
``OutputManager`` that parses ``::command::`` lines), but never from stdout that a
shell captured: in ``TOKEN=$(oauthcli login ... --print)`` a mask line on stdout
would land in ``$TOKEN`` instead. See "Masking a value in a log" in
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands
(a mask applies to the log lines written after it, one line per value).

``--format env`` prints ``OAUTHCLI_ACCESS_TOKEN=...`` (and ``OAUTHCLI_REFRESH_TOKEN``,
``OAUTHCLI_ID_TOKEN`` when there are such tokens): a dotenv file, or
``>> "$GITHUB_ENV"`` for the next steps of a job.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from oauthcli import settings
from oauthcli.cli import output
from oauthcli.errors import RemoteError, UsageError

FORMATS = ("text", "json", "env")
ENV_NAMES = {
    "access_token": "OAUTHCLI_ACCESS_TOKEN",
    "refresh_token": "OAUTHCLI_REFRESH_TOKEN",
    "id_token": "OAUTHCLI_ID_TOKEN",
}
# One printable line without spaces or quotes: safe unquoted in dotenv and $GITHUB_ENV.
_ENV_SAFE = re.compile(r"[\x21\x23-\x26\x28-\x5b\x5d-\x7e]+")


def mask(values: Iterable[str | None]) -> None:
    """Register each value for masking with the GitHub Actions runner (no-op elsewhere)."""
    if not settings.github_actions():
        return
    sys.stdout.flush()
    for value in values:
        if value:
            # add-mask takes one line; a value with a line break is masked line by line.
            for line in value.splitlines():
                if line.strip():
                    sys.stderr.write(f"::add-mask::{line}\n")
    sys.stderr.flush()


def resolve_format(fmt: str | None, *, json_output: bool = False, print_only: bool = False) -> str:
    """``--format`` combined with ``--json`` / ``--print``; contradictions are usage errors."""
    chosen = (fmt or "text").lower()
    if chosen not in FORMATS:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}, not {output.clean(chosen, 40)!r}"
        )
    if json_output and fmt is not None and chosen != "json":
        raise UsageError(f"--json and --format {chosen} contradict each other: choose one")
    if print_only and fmt is not None:
        raise UsageError(f"--print and --format {chosen} contradict each other: choose one")
    return "json" if json_output else chosen


def env_lines(tokens: dict[str, str | None]) -> list[str]:
    """``NAME=VALUE`` lines for the tokens present, in ``ENV_NAMES`` order."""
    lines = []
    for key, name in ENV_NAMES.items():
        value = tokens.get(key)
        if not value:
            continue
        if not _ENV_SAFE.fullmatch(value):
            raise RemoteError(f"the {key.replace('_', ' ')} has characters an env line cannot hold")
        lines.append(f"{name}={value}")
    return lines


def print_env(tokens: dict[str, str | None]) -> None:
    """Mask, then print the ``--format env`` lines."""
    lines = env_lines(tokens)
    mask(tokens.values())
    for line in lines:
        output.echo(line)
