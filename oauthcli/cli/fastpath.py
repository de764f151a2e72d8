"""A Typer-free start for ``decode`` and ``verify``, the commands CI loops run most.

Importing Typer (and the parser it wraps) costs more than everything ``decode``
does. So when the arguments are of the everyday forms -- root ``--store`` /
``--profile`` / ``--debug``, then ``decode`` or ``verify``, at most one TOKEN and
options spelled in full (``--opt value`` or ``--opt=value``) -- they are read
here and the same function the Typer command calls (``oauthcli.cli.inspect_run``)
runs with the same arguments.

Typer stays the definition of the command line: anything else -- ``--help``, an
option this table does not know, a missing, empty or dash-led value (or one with a NUL),
``--``, a second positional, ``--batch``, a shell-completion request -- returns
``None`` and Typer handles it, with its messages and exit codes. ``tests/cli/test_fastpath.py`` runs every
option in these tables, and awkward forms, through both and checks the command
receives exactly the same arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

_COMPLETION_VARIABLE = "_OAUTHCLI_COMPLETE"  # set by the completion scripts Typer installs


class Option(NamedTuple):  # NamedTuples: importing dataclasses costs 8 ms
    """One long option: the parameter it sets, and how it reads its value."""

    dest: str
    flag: bool = False  # True: takes no value, sets True
    multiple: bool = False  # repeatable: values collect in a list
    path: bool = False  # the value is a Path


ROOT: dict[str, Option] = {
    "--store": Option("store", path=True),
    "--profile": Option("profile"),
    "--debug": Option("debug", flag=True),
}

DECODE: dict[str, Option] = {
    "--json": Option("json_output", flag=True),
    "--profile": Option("profile"),
}

# --batch is left out on purpose: a batch run is long, and its broken-pipe handling is
# Typer's (see inspect_run._run_batch).
VERIFY: dict[str, Option] = {
    "--secret-file": Option("secret_file", path=True),
    "--key": Option("key", path=True),
    "--jwks": Option("jwks"),
    "--issuer-url": Option("issuer_url"),
    "--alg": Option("alg", multiple=True),
    "--issuer": Option("issuer"),
    "--audience": Option("audience", multiple=True),
    "--require-scope": Option("require_scope", multiple=True),
    "--require-claim": Option("require_claim", multiple=True),
    "--leeway": Option("leeway"),
    "--max-age": Option("max_age"),
    "--allow-no-exp": Option("allow_no_exp", flag=True),
    "--token-type": Option("token_type"),
    "--allow-oct": Option("allow_oct", flag=True),
    "--cacert": Option("cacert", path=True),
    "--dpop-proof": Option("dpop_proof"),
    "--htm": Option("htm"),
    "--htu": Option("htu"),
    "--json": Option("json_output", flag=True),
    "--store": Option("store", path=True),
    "--profile": Option("profile"),
}


def defaults(spec: dict[str, Option], **others: Any) -> dict[str, Any]:
    """What each parameter is when its option is not given: False for a flag, else None."""
    return {**{option.dest: False if option.flag else None for option in spec.values()}, **others}


ROOT_DEFAULTS = defaults(ROOT)
DECODE_DEFAULTS = defaults(DECODE, token=None)
VERIFY_DEFAULTS = defaults(VERIFY, token=None, leeway="0", token_type="access", batch=None)

COMMANDS: dict[str, tuple[dict[str, Option], dict[str, Any]]] = {
    "decode": (DECODE, DECODE_DEFAULTS),
    "verify": (VERIFY, VERIFY_DEFAULTS),
}


class Parsed(NamedTuple):
    """What Typer would have passed: the root callback's and the command's arguments."""

    root: dict[str, Any]
    command: str
    params: dict[str, Any]


def parse(args: Sequence[str]) -> Parsed | None:
    """``args`` read as Typer would, or ``None`` when they are not of the everyday forms."""
    root = dict(ROOT_DEFAULTS)
    index = 0
    while index < len(args) and args[index].startswith("-"):
        used = _take(args, index, ROOT, root)
        if used == 0:
            return None
        index += used
    if index >= len(args) or args[index] not in COMMANDS:
        return None
    name = args[index]
    spec, defaults = COMMANDS[name]
    params = dict(defaults)  # a repeated option builds a new list: nothing shared
    positionals: list[str] = []
    index += 1
    while index < len(args):
        arg = args[index]
        if arg == "-" or not arg.startswith("-"):
            positionals.append(arg)
            index += 1
            continue
        used = _take(args, index, spec, params)
        if used == 0:
            return None
        index += used
    if len(positionals) > 1:
        return None
    if positionals:
        params["token"] = positionals[0]
    return Parsed(root, name, params)


def _take(args: Sequence[str], index: int, spec: dict[str, Option], into: dict[str, Any]) -> int:
    """Read the option at ``args[index]`` into ``into``; how many words it used (0: give up)."""
    name, equals, inline = args[index].partition("=")
    option = spec.get(name)
    if option is None:
        return 0
    if option.flag:
        if equals:
            return 0  # "--json=1": Typer's error to give
        into[option.dest] = True
        return 1
    if equals:
        value, used = inline, 1
    elif index + 1 < len(args):
        value, used = args[index + 1], 2
    else:
        return 0  # a missing value: Typer says which
    if value == "" or value.startswith("-") or "\x00" in value:
        return 0  # an empty value may be an empty path (Typer refuses those): Typer decides
    converted: Any = value
    if option.path:
        from pathlib import Path  # not at the top: decode needs no path

        converted = Path(value)
    if option.multiple:
        into[option.dest] = [*(into[option.dest] or []), converted]
    else:
        into[option.dest] = converted
    return used


def match(args: Sequence[str]) -> Callable[[], None] | None:
    """The run of ``args`` without Typer, or ``None`` to let Typer handle them."""
    if _COMPLETION_VARIABLE in os.environ:
        return None  # shell completion is Typer's
    parsed = parse(args)
    if parsed is None:
        return None

    def run() -> None:
        from oauthcli.cli import common, inspect_run

        common.set_global_options(**parsed.root)
        params = dict(parsed.params)
        if parsed.command == "decode":
            inspect_run.decode(**params)
        else:
            inspect_run.verify(params.pop("token"), **params)

    return run
