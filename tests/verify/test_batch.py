"""``run_batch``: one verdict per non-blank line, in input order, in one process or several."""

from __future__ import annotations

import json

import pytest

from oauthcli.errors import TokenError, TokenTimeError
from oauthcli.verify.batch import run_batch
from oauthcli.verify.keyset import key_from_secret
from oauthcli.verify.verifier import Verifier
from tests.verify.helpers import NOW, SECRET, claims, clock, hs

GOOD = hs(claims())
VERIFIER = Verifier([key_from_secret(SECRET)], now=clock())


@pytest.mark.parametrize("threshold", [10_000, 5])
def test_batch_verdicts_in_input_order(threshold):
    good = hs(claims())
    lines = [good, "garbage", hs(claims(exp=NOW - 5)), "", good] * 20
    out: list[str] = []
    verifier = Verifier([key_from_secret(SECRET)], now=clock())
    summary = run_batch(
        verifier,
        (line + "\n" for line in lines),
        out.append,
        workers=2,
        parallel_threshold=threshold,
    )
    verdicts = [json.loads(line) for line in "".join(out).splitlines()]
    # blank lines get no verdict, but line numbers still count them
    assert [v["line"] for v in verdicts] == [n for n in range(1, 101) if n % 5 != 4]
    for line, verdict in zip([t for t in lines if t], verdicts, strict=True):
        assert verdict == {"line": verdict["line"], **verifier.evaluate(line)[2]}
    assert [v["error"] for v in verdicts[:4]] == [None, "opaque", "expired", None]
    assert summary.total == 80 and summary.valid == 40
    assert isinstance(summary.error(), TokenError)
    assert not isinstance(summary.error(), TokenTimeError)


def test_batch_exit_is_time_error_when_only_time_failed():
    out: list[str] = []
    verifier = Verifier([key_from_secret(SECRET)], now=clock())
    summary = run_batch(verifier, [hs(claims()), hs(claims(exp=NOW - 5))], out.append)
    assert isinstance(summary.error(), TokenTimeError)
    summary = run_batch(verifier, [hs(claims())], out.append)
    assert summary.error() is None


def test_batch_skips_blank_lines():
    out: list[str] = []
    summary = run_batch(VERIFIER, ["\n", GOOD + "\r\n", "  \t\n", "\n"], out.append)
    assert summary.total == 1 and summary.error() is None
    assert [json.loads(v)["line"] for v in "".join(out).splitlines()] == [2]
    out.clear()
    assert run_batch(VERIFIER, ["\n", "\n"], out.append).total == 0
    assert "".join(out) == ""
