import pytest

from oauthcli.errors import UsageError
from oauthcli.urls import is_loopback_host, is_plain_remote_http, origin_of, redact


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]", "LOCALHOST."]
)
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "localhost.evil.com", "0.0.0.0", ""])
def test_not_loopback(host):
    assert not is_loopback_host(host)


def test_origin_is_canonical():
    assert origin_of("HTTPS://Example.COM:443/x?y") == "https://example.com"
    assert origin_of("http://[::1]:8000/token") == "http://[::1]:8000"
    with pytest.raises(UsageError) as info:
        origin_of("ftp://u:hunter2@host/")
    assert "hunter2" not in str(info.value)


def test_plain_remote_http():
    assert is_plain_remote_http("http://example.com/token")
    assert not is_plain_remote_http("http://127.0.0.1:8000/token")
    assert not is_plain_remote_http("https://example.com/token")


def test_redact_drops_userinfo_only():
    assert redact("http://u:p@host:8/a?b=1") == "http://host:8/a?b=1"
    assert redact("https://host/x") == "https://host/x"
