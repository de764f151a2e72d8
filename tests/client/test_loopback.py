"""The loopback redirect listener, spoken to over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from oauthcli.client.loopback import LoopbackListener, parse_redirect_uri
from oauthcli.errors import AuthenticationError, UsageError

ISSUER = "https://op.example"


def get(listener: LoopbackListener, path: str, **params: str) -> httpx.Response:
    base = listener.redirect_uri.rsplit("/", 1)[0]
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(base + path, params=params)


def test_only_the_answer_with_the_right_state_is_taken():
    with LoopbackListener("s3cret-state", issuer=ISSUER, require_iss=False) as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        assert get(listener, "/callback", code="evil", state="other").status_code == 400
        assert get(listener, "/callback", code="evil").status_code == 400
        assert get(listener, "/elsewhere", code="x", state="s3cret-state").status_code == 404
        ok = get(listener, "/callback", code="good", state="s3cret-state", iss=ISSUER)
        assert ok.status_code == 200 and "close this page" in ok.text
        assert listener.wait(5) == "good"
        assert listener.refused == 2
        # a later answer cannot replace the first
        assert get(listener, "/callback", code="late", state="s3cret-state").status_code == 409
        assert listener.wait(5) == "good"


def test_an_answer_from_another_issuer_is_refused_rfc_9207():
    with LoopbackListener("st", issuer=ISSUER, require_iss=True) as listener:
        get(listener, "/callback", code="c", state="st", iss="https://attacker.example")
        with pytest.raises(AuthenticationError, match="mix-up"):
            listener.wait(5)


def test_a_missing_iss_is_refused_when_the_provider_promised_it():
    with LoopbackListener("st", issuer=ISSUER, require_iss=True) as listener:
        get(listener, "/callback", code="c", state="st")
        with pytest.raises(AuthenticationError, match="issuer"):
            listener.wait(5)


def test_a_provider_error_is_one_cleaned_line():
    with LoopbackListener("st", issuer=ISSUER, require_iss=False) as listener:
        page = get(
            listener,
            "/callback",
            state="st",
            error="access_denied",
            error_description="User said no\x1b[31m<script>",
        )
        assert "<script>" not in page.text
        with pytest.raises(AuthenticationError) as caught:
            listener.wait(5)
    assert (
        str(caught.value) == "the provider refused the login: access_denied (User said no<script>)"
    )


def test_nothing_within_the_timeout_is_an_authentication_error():
    with (
        LoopbackListener("st", issuer=ISSUER, require_iss=False) as listener,
        pytest.raises(AuthenticationError, match=r"no answer from the browser within 0\.2 s"),
    ):
        listener.wait(0.2)


@pytest.mark.parametrize(
    ("uri", "port", "path"),
    [("http://127.0.0.1:8765/cb", 8765, "/cb"), ("http://localhost:9000/", 9000, "/")],
)
def test_registered_redirect_uris(uri, port, path):
    target = parse_redirect_uri(uri)
    assert (target.port, target.path) == (port, path)


@pytest.mark.parametrize(
    "uri",
    [
        "https://127.0.0.1:1/cb",
        "http://127.0.0.1/cb",
        "http://example.com:80/cb",
        "http://127.0.0.1:1/cb?x=1",
    ],
)
def test_unusable_redirect_uris(uri):
    with pytest.raises(UsageError):
        parse_redirect_uri(uri)


def free_port() -> int:
    import socket

    # a port free on both 127.0.0.1 and [::1]
    for _ in range(20):
        with socket.socket() as v4:
            v4.bind(("127.0.0.1", 0))
            port = v4.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6) as v6:
                    v6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no port free on both loopback addresses")


def test_localhost_is_served_on_ipv6_loopback_too():
    # a browser may resolve localhost to ::1: the code must reach us there, not another process
    port = free_port()
    target = parse_redirect_uri(f"http://localhost:{port}/cb")
    with LoopbackListener("st", issuer=ISSUER, require_iss=False, target=target) as listener:
        assert listener.redirect_uri == f"http://localhost:{port}/cb"
        with httpx.Client(trust_env=False, timeout=10) as client:
            answer = client.get(f"http://[::1]:{port}/cb", params={"code": "c6", "state": "st"})
        assert answer.status_code == 200
        assert listener.wait(5) == "c6"


def test_localhost_is_refused_when_another_process_holds_the_ipv6_port():
    import socket

    port = free_port()
    with socket.socket(socket.AF_INET6) as squatter:
        squatter.bind(("::1", port))
        squatter.listen()
        target = parse_redirect_uri(f"http://localhost:{port}/cb")
        with pytest.raises(UsageError, match=rf"\[::1\]:{port}.*127\.0\.0\.1:{port}/cb"):
            LoopbackListener("st", issuer=ISSUER, require_iss=False, target=target)
        # and the IPv4 port was let go: the IP literal can be used at once
        ip_target = parse_redirect_uri(f"http://127.0.0.1:{port}/cb")
        with LoopbackListener("st", issuer=ISSUER, require_iss=False, target=ip_target):
            pass
