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

Every token reaches stdout through :func:`emit` / :func:`emit_json` / :func:`print_env`,
which mask first: one place, so no command can print a token unmasked. A mask value is
escaped as actions/toolkit's ``escapeData`` does (``%`` -> ``%25``, CR -> ``%0D``,
LF -> ``%0A``; ``packages/core/src/command.ts``), since the runner decodes those.

``--format env`` prints ``OAUTHCLI_ACCESS_TOKEN=...`` (and ``OAUTHCLI_REFRESH_TOKEN``,
``OAUTHCLI_ID_TOKEN`` when there are such tokens): a dotenv file, or
``>> "$GITHUB_ENV"`` for the next steps of a job. The values are server-provided, so
they are refused (exit 6) unless made only of RFC 6750 2.1 ``b64token`` characters
(``A-Z a-z 0-9 - . _ ~ + /``, then ``=`` padding) and not starting with ``~``: such a
line means the same, unquoted, to bash's ``source``/``.``, to ``$GITHUB_ENV`` (which
takes the value literally, so quoting is no way out) and to dotenv loaders (python-dotenv,
Docker Compose): no expansion, no word splitting, no comment, no second line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any

from oauthcli import settings
from oauthcli.cli import output
from oauthcli.errors import Reason, RemoteError, UsageError

FORMATS = ("text", "json", "env")
# ``oauthcli token``: no JSON form, but a Kubernetes ExecCredential (oauthcli.kube).
TOKEN_FORMATS = ("text", "env", "exec-credential")
ENV_NAMES = {
    "access_token": "OAUTHCLI_ACCESS_TOKEN",
    "refresh_token": "OAUTHCLI_REFRESH_TOKEN",
    "id_token": "OAUTHCLI_ID_TOKEN",
}
# RFC 6750 2.1 b64token: safe unquoted in a shell assignment, $GITHUB_ENV and dotenv
# (a leading "~" would be a tilde expansion in bash, so it is refused too).
_ENV_SAFE = re.compile(r"[A-Za-z0-9._+/-][A-Za-z0-9._~+/-]*=*")


def mask(values: Iterable[str | None]) -> None:
    """Register each value for masking with the GitHub Actions runner (no-op elsewhere)."""
    if not settings.github_actions():
        return
    sys.stdout.flush()
    for value in values:
        if value:
            # The log is matched line by line: a value with a line break (a PEM) is masked
            # line by line; each is escaped as the runner decodes it.
            for line in value.split("\n"):
                if line.strip():
                    sys.stderr.write(f"::add-mask::{escape_data(line)}\n")
    sys.stderr.flush()


def escape_data(value: str) -> str:
    """A workflow command's data, as actions/toolkit's ``escapeData`` writes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def emit(text: str, secrets: Iterable[str | None]) -> None:
    """Print ``text`` (a line holding tokens or keys) after masking each of ``secrets``."""
    mask(secrets)
    output.echo(text)


def emit_json(data: Any, secrets: Iterable[str | None]) -> None:
    """Print ``data`` as JSON after masking each of ``secrets``."""
    mask(secrets)
    output.print_json(data)


def resolve_format(
    fmt: str | None,
    *,
    json_output: bool = False,
    print_only: bool = False,
    allowed: tuple[str, ...] = FORMATS,
) -> str:
    """``--format`` combined with ``--json`` / ``--print``; contradictions are usage errors."""
    chosen = (fmt or "text").lower()
    if chosen not in allowed:
        raise UsageError(
            f"--format must be one of {', '.join(allowed)}, not {output.clean(chosen, 40)!r}"
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
            raise RemoteError(
                f"the {key.replace('_', ' ')} has characters that are not safe in an env line "
                "(only RFC 6750 token characters are printed unquoted): use --format json",
                reason=Reason.BAD_ANSWER,
            )
        lines.append(f"{name}={value}")
    return lines


def print_env(tokens: dict[str, str | None]) -> None:
    """Mask, then print the ``--format env`` lines."""
    lines = env_lines(tokens)
    if lines:
        emit("\n".join(lines), tokens.values())
