"""oauthcli.client.policy: which redirects a bearer token may follow, and scheme hints."""

from __future__ import annotations

import pytest

from oauthcli.client.policy import check_url_safe, redirect_target, suggest_scheme
from oauthcli.errors import UsageError

BASE = "https://api.example.com/items"


@pytest.mark.parametrize(
    ("method", "status", "location", "expected"),
    [
        ("POST", 307, "/items/", ("POST", "https://api.example.com/items/", True)),
        ("PUT", 308, "https://api.example.com/v2", ("PUT", "https://api.example.com/v2", True)),
        ("GET", 301, "items/", ("GET", "https://api.example.com/items/", True)),
        ("POST", 302, "/done", ("GET", "https://api.example.com/done", False)),
        ("POST", 301, "/done", ("GET", "https://api.example.com/done", False)),
        ("PUT", 303, "/done", ("GET", "https://api.example.com/done", False)),
        ("HEAD", 303, "/done", ("HEAD", "https://api.example.com/done", True)),
        ("GET", 302, "https://API.example.com:443/x", ("GET", "https://API.example.com:443/x", True)),
        # another origin: scheme, host or port differ
        ("GET", 302, "http://api.example.com/items/", None),
        ("GET", 302, "https://api.example.com:8443/items/", None),
        ("GET", 302, "https://evil.example/items/", None),
        ("GET", 302, "//evil.example/items/", None),
        ("GET", 302, "javascript:alert(1)", None),
        # not redirects we follow
        ("GET", 300, "/x", None),
        ("GET", 304, "/x", None),
        ("GET", 302, None, None),
        ("GET", 302, "", None),
        ("GET", 200, "/x", None),
    ],
)  # fmt: skip
def test_redirect_target(method, status, location, expected):
    assert redirect_target(method, BASE, status, location) == expected


@pytest.mark.parametrize(
    ("url", "guess"),
    [
        ("example.com/token", "https://example.com/token"),
        ("localhost:8000/token", "http://localhost:8000/token"),
        ("127.0.0.1/token?x=secret", "http://127.0.0.1/token?…"),
        ("https://example.com", None),
        ("/token", None),
        ("", None),
    ],
)
def test_suggest_scheme(url, guess):
    assert suggest_scheme(url) == guess


def test_login_url_without_a_scheme_gets_the_hint():
    with pytest.raises(UsageError, match=r"did you mean https://auth\.example\.com/token\?"):
        check_url_safe("auth.example.com/token")
