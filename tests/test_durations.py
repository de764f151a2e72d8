import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthcli.durations import humanize_delta, parse_duration, relative_time
from oauthcli.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1h30m", 5400),
        ("90", 90),
        (" 1W ", 604800),
    ],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "m", "15x", "-5m", "1.5h", "1h 30m", "15 minutes", True, -1, 1.5, ["15m"], None]
)
def test_parse_rejects(text):
    with pytest.raises(UsageError):
        parse_duration(text, what="--ttl")


@given(st.text(max_size=20))
def test_parse_only_raises_usage_error(text):
    with contextlib.suppress(UsageError):
        assert parse_duration(text) >= 0


def test_relative():
    assert relative_time(1000 + 14 * 60, 1000) == "in 14 min"
    assert relative_time(1000, 1000 + 3 * 3600 + 5) == "3 h ago"
    assert humanize_delta(5 * 86400) == "5 days"
