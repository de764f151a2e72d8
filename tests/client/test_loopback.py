"""The loopback redirect listener, spoken to over real HTTP on 127.0.0.1."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from oauthcli.client.loopback import LoopbackListener, parse_redirect_uri
from oauthcli.errors import AuthenticationError, TokenError, UsageError

ISSUER = "https://op.example"


def get(listener: LoopbackListener, path: str, **params: str) -> httpx.Response:
    base = listener.redirect_uri.rsplit("/", 1)[0]
    with httpx.Client(trust_env=False, timeout=60) as client:
        return client.get(base + path, params=params)


def in_background(call: Any) -> Future[httpx.Response]:
    """The browser's request that brings the code: its page waits for ``report``."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


@pytest.mark.parametrize(
    ("error", "title", "said"),
    [
        (None, "Logged in", "close this page"),
        (
            TokenError("ID token signature: the set is empty", "key"),
            "Login failed",
            "the set is empty",
        ),
        (KeyboardInterrupt(), "Login failed", "see the terminal"),
    ],
)
def test_the_page_waits_for_the_outcome_and_tells_it(error, title, said):
    with LoopbackListener("st", issuer=ISSUER, require_iss=False) as listener:
        page = in_background(lambda: get(listener, "/callback", code="c", state="st"))
        assert listener.wait(30) == "c"
        assert not page.done()  # held while the code is redeemed and the ID token checked
        listener.report(error)
        answer = page.result(30)
    assert answer.status_code == 200
    assert f"<h1>{title}</h1>" in answer.text and said in answer.text
    assert ("Logged in" in answer.text) == (error is None)


def test_a_page_left_waiting_is_answered_when_the_listener_closes():
    with LoopbackListener("st", issuer=ISSUER, require_iss=False) as listener:
        page = in_background(lambda: get(listener, "/callback", code="c", state="st"))
        assert listener.wait(30) == "c"
    answer = page.result(30)
    assert "Logged in" not in answer.text and "see the terminal" in answer.text


def test_only_the_answer_with_the_right_state_is_taken():
    with LoopbackListener("s3cret-state", issuer=ISSUER, require_iss=False) as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        assert get(listener, "/callback", code="evil", state="other").status_code == 400
        assert get(listener, "/callback", code="evil").status_code == 400
        assert get(listener, "/elsewhere", code="x", state="s3cret-state").status_code == 404
        ok = in_background(
            lambda: get(listener, "/callback", code="good", state="s3cret-state", iss=ISSUER)
        )
        assert listener.wait(5) == "good"
        listener.report(None)
        assert ok.result(30).status_code == 200 and "close this page" in ok.result().text
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
        with httpx.Client(trust_env=False, timeout=60) as client:
            answer = in_background(
                lambda: client.get(f"http://[::1]:{port}/cb", params={"code": "c6", "state": "st"})
            )
            assert listener.wait(5) == "c6"
            listener.report(None)
            assert answer.result(30).status_code == 200


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


def test_a_pasted_address_goes_through_the_listeners_checks():
    with LoopbackListener("st", issuer=ISSUER, require_iss=True) as listener:
        uri = listener.redirect_uri
        port = uri.rsplit(":", 1)[1].split("/")[0]
        for elsewhere in (
            f"http://127.0.0.1:1/callback?code=c&state=st&iss={ISSUER}",  # another port
            f"https://127.0.0.1:{port}/callback?code=c&state=st",  # another scheme
            "code=c&state=st",  # not an address
        ):
            assert "redirect URI" in (listener.accept(elsewhere) or ""), elsewhere
        assert "is not this login's" in (listener.accept(uri + "x?code=c&state=st") or "")
        refused = listener.accept(f"{uri}?code=c0de-from-elsewhere&state=other&iss={ISSUER}")
        assert refused is not None and "wrong or missing state" in refused
        assert "c0de-from-elsewhere" not in refused  # never repeated: it may hold a code
        assert listener.refused == 1
        assert listener.accept(f"  {uri}?code=good&state=st&iss={ISSUER}\n") is None
        assert listener.wait(5) == "good"
        # the browser's own request arrives too late: the pasted answer won
        assert get(listener, "/callback", code="late", state="st").status_code == 409


def test_a_pasted_answer_without_the_promised_iss_fails_the_login():
    with LoopbackListener("st", issuer=ISSUER, require_iss=True) as listener:
        assert listener.accept(listener.redirect_uri + "?code=c&state=st") is None
        with pytest.raises(AuthenticationError, match="mix-up"):
            listener.wait(5)
