"""Token times for people: ISO-8601, relative phrases and the lifetime bar (decode's view)."""

from oauthcli.cli.timefmt import describe_time, lifetime_bar, relative
from oauthcli.durations import iso_time


def test_times_for_people():
    now = 1_700_000_000
    assert iso_time(now) == "2023-11-14T22:13:20Z"
    assert relative("exp", now + 14 * 60 + 5, now) == "expires in 14 min"
    assert relative("exp", now - 3 * 3600 - 1, now) == "expired 3 h ago"
    assert relative("iat", now - 120, now) == "issued 2 min ago"
    assert relative("nbf", now + 30, now) == "valid in 30 s"
    assert describe_time("exp", now + 60, now) == "2023-11-14T22:14:20Z (expires in 1 min)"
    assert "not a NumericDate" in describe_time("exp", "soon", now)
    assert "out of range" in iso_time(1e20)
    assert iso_time(now + 0.5) == "2023-11-14T22:13:20.5Z"  # a float exp, same style


def test_lifetime_bar():
    bar = lifetime_bar(0, 100, 50, width=10)
    assert bar == "[#####|.....] 50% used of 1 min"
    assert "expired" in lifetime_bar(0, 100, 200, width=10)
    assert "not started" in lifetime_bar(100, 200, 50, width=10)
    assert lifetime_bar(None, 100, 50) is None
    assert lifetime_bar(100, 100, 50) is None
    assert lifetime_bar(True, 100, 50) is None
