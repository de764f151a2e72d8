"""The Typer-free start of ``decode`` and ``verify`` reads arguments exactly as Typer does.

Each argument list runs through ``oauthcli.cli.main`` twice, once as users get it (the
fast path where it applies) and once with the fast path switched off (Typer alone);
the command's implementation is replaced by a recorder, and both runs must hand it
the same arguments and the root callback the same global options. The lists come from
the fast path's own tables, so an option renamed or retyped on the Typer side and not
in the table fails here.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from oauthcli.cli import common, fastpath, inspect_run, main

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
REAL = {"decode": inspect_run.decode, "verify": inspect_run.verify}


def _sample(option: fastpath.Option, n: int = 1) -> str:
    return f"dir/file{n}.pem" if option.path else f"value{n}"


def _table_cases() -> list[list[str]]:
    """Every option of both tables, in each spelling, alone and repeated."""
    cases: list[list[str]] = []
    for command, (spec, _) in fastpath.COMMANDS.items():
        cases += [[command, TOKEN], [command, "-"], [command]]
        for name, option in spec.items():
            if option.flag:
                cases += [[command, TOKEN, name], [command, name, TOKEN]]
                continue
            one, two = _sample(option, 1), _sample(option, 2)
            cases += [
                [command, TOKEN, name, one],
                [command, f"{name}={one}", TOKEN],
                [command, name, one, name, two],  # repeatable: both; otherwise the last
            ]
    for name, option in fastpath.ROOT.items():
        given = [name] if option.flag else [name, _sample(option)]
        cases += [[*given, "decode", TOKEN], [*given, "verify", TOKEN, "--json"]]
    return cases


# Everyday forms beyond one option at a time: the fast path takes them.
MIXED = [
    ["--store=s.toml", "--profile", "ci", "--debug", "verify", "--alg", "RS256", TOKEN],
    ["verify", TOKEN, "--audience", "a b", "--audience", "c", "--require-scope", "x"],
    ["verify", "--leeway=30s", "--max-age", "1h", "--token-type", "any", TOKEN],
    ["verify", "-", "--secret-file", "hs.secret", "--json"],
]

# Anything unusual: the fast path steps aside and Typer handles it.
FALLBACK = [
    ["decode", "--profile", "--json"],  # the value looks like an option: Typer decides
    ["verify", TOKEN, "--leeway", "-1s"],
    ["verify", TOKEN, "--secret-file", ""],  # an empty path: Typer's own error
    ["verify", TOKEN, "--issuer", ""],
    ["verify", TOKEN, "--jwks"],  # a missing value
    ["verify", TOKEN, "--json=yes"],
    ["decode", TOKEN, TOKEN],  # a second positional
    ["decode", "--", TOKEN],
    ["verify", TOKEN, "--batch", "tokens.txt"],
    ["verify", TOKEN, "--no-such-option"],
    ["verify", TOKEN, "--alow-oct"],  # a typo: Typer says "did you mean"
    ["decode", TOKEN, "--debug"],  # a root option after the command name
    ["--store", "s.toml", "decode", "--store", "t.toml", TOKEN],  # decode has no --store
    ["verify", "--help"],
    ["decode", "-h"],
    ["--help", "decode"],
    ["--profile", "p"],
]


@pytest.fixture
def record(monkeypatch):
    calls: list[tuple[str, dict[str, Any], dict[str, object]]] = []

    def recorder(name):
        def called(*args: Any, **kwargs: Any) -> None:
            bound = inspect.signature(REAL[name]).bind(*args, **kwargs).arguments
            calls.append((name, dict(bound), dict(common.global_options)))

        return called

    for name in REAL:
        monkeypatch.setattr(inspect_run, name, recorder(name))
    return calls


def _run(args: list[str], record: list, capsys, monkeypatch, fast: bool):
    record.clear()
    common.global_options.clear()
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(fastpath, "match", lambda _args: None)
        code = main(args)
    out = capsys.readouterr()
    return code, list(record), out.out, out.err


@pytest.mark.parametrize("args", _table_cases() + MIXED + FALLBACK, ids=" ".join)
def test_the_fast_path_passes_what_typer_passes(args, record, capsys, monkeypatch):
    fast = _run(args, record, capsys, monkeypatch, fast=True)
    typer_only = _run(args, record, capsys, monkeypatch, fast=False)
    assert fast == typer_only


@pytest.mark.parametrize("args", _table_cases() + MIXED, ids=" ".join)
def test_every_option_in_the_tables_takes_the_fast_path(args):
    parsed = fastpath.parse(args)
    assert parsed is not None
    assert parsed.command in ("decode", "verify")


@pytest.mark.parametrize("args", FALLBACK, ids=" ".join)
def test_anything_unusual_is_left_to_typer(args):
    assert fastpath.parse(args) is None


def test_path_options_become_paths_and_lists_stay_lists():
    parsed = fastpath.parse(
        ["--store", "s.toml", "verify", "--key", "k.pem", "--alg", "ES256", "--alg=RS256"]
    )
    assert parsed is not None
    assert parsed.root == {"store": Path("s.toml"), "profile": None, "debug": False}
    assert parsed.params["key"] == Path("k.pem")
    assert parsed.params["alg"] == ["ES256", "RS256"]
    assert parsed.params["token"] is None
    # the defaults table is not shared between runs
    again = fastpath.parse(["verify"])
    assert again is not None and again.params["alg"] is None


def test_a_nul_in_a_value_or_a_completion_request_goes_to_typer(monkeypatch):
    assert fastpath.parse(["--store", "x\x00y", "decode", TOKEN]) is None
    assert fastpath.parse(["verify", TOKEN, "--key=k\x00"]) is None
    assert fastpath.match(["decode", TOKEN]) is not None
    monkeypatch.setenv("_OAUTHCLI_COMPLETE", "complete_bash")
    assert fastpath.match(["decode", TOKEN]) is None


@pytest.mark.parametrize("fault", [KeyboardInterrupt, EOFError])
def test_an_interrupt_in_the_command_is_exit_130_on_both_paths(fault, monkeypatch, capsys):
    def interrupted(*_args, **_kwargs):
        raise fault

    monkeypatch.setattr(inspect_run, "decode", interrupted)
    outcomes = []
    for fast in (True, False):
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(fastpath, "match", lambda _args: None)
            outcomes.append((main(["decode", TOKEN]), capsys.readouterr().err))
    for code, err in outcomes:  # (click adds a blank line of its own after Ctrl-D)
        assert code == 130 and err.strip() == "oauthcli: aborted"
