"""Count bcrypt work instead of timing it: every ``bcrypt.hashpw`` call, with its cost factor.

The real function still runs (a spy, not a mock); a test compares the costs used,
which a loaded machine cannot skew the way it skews wall-clock time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import bcrypt


@contextlib.contextmanager
def bcrypt_costs(monkeypatch=None) -> Iterator[list[int]]:
    """Yield a list that fills with the cost factor of each bcrypt computation (2^cost rounds).

    The real ``bcrypt.hashpw`` is back when the block ends, so blocks can follow each other.
    """
    costs: list[int] = []
    real = bcrypt.hashpw

    def spy(password: bytes, salt: bytes) -> bytes:
        costs.append(int(salt.split(b"$")[2]))
        return real(password, salt)

    bcrypt.hashpw = spy
    try:
        yield costs
    finally:
        bcrypt.hashpw = real


def work(costs: list[int]) -> int:
    """The bcrypt work done: the sum of 2^cost over the computations."""
    return sum(2**cost for cost in costs)
