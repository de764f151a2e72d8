"""The slow notice (``oauthcli.progress``): an HTTP exchange or a piece of work that outlasts
its threshold is said to be going on until it ends, then cleared once; a quick one is never
mentioned. Against a real server that holds its answer until the test lets it go."""

from __future__ import annotations

import threading

from oauthcli.http import make_client
from oauthcli.progress import SlowNotice, watched
from tests.held_site import HeldSite


class Seen:
    def __init__(self) -> None:
        self.shown: list[tuple[str, float]] = []
        self.cleared = 0
        self.first = threading.Event()

    def show(self, what: str, seconds: float) -> None:
        self.shown.append((what, seconds))
        self.first.set()

    def clear(self) -> None:
        self.cleared += 1


def test_a_held_exchange_is_said_until_its_answer_is_read():
    site = HeldSite({"/.well-known/openid-configuration": {"issuer": "x"}})
    seen = Seen()
    notice = SlowNotice(show=seen.show, clear=seen.clear, after=0.0, every=0.05)
    with site.serve() as url, make_client(30, notice=notice) as http:
        answer: dict = {}
        asking = threading.Thread(
            target=lambda: answer.update(
                http.get(url + "/.well-known/openid-configuration?secret=s3cret").json()
            )
        )
        asking.start()
        assert seen.first.wait(60)  # said while the server holds the answer
        assert seen.cleared == 0
        site.release("/.well-known/openid-configuration")
        asking.join(60)
    assert answer == {"issuer": "x"}
    assert seen.cleared == 1
    what = {w for w, _ in seen.shown}
    assert what == {f"waiting for {url}/.well-known/openid-configuration"}  # no query
    seconds = [s for _, s in seen.shown]
    assert seconds == sorted(seconds)


def test_a_quick_exchange_and_quick_work_are_never_mentioned():
    site = HeldSite({"/token": {"access_token": "at"}})
    site.release("/token")
    seen = Seen()
    notice = SlowNotice(show=seen.show, clear=seen.clear, after=60.0)
    with site.serve() as url, make_client(30, notice=notice) as http:
        assert http.post(url + "/token").json() == {"access_token": "at"}
        with watched(notice, "hashing"):
            pass
    with watched(None, "nothing watches"):
        pass
    assert seen.shown == [] and seen.cleared == 0


def test_an_exchange_that_fails_ends_its_notice_too():
    """A server that accepts and never answers: the exchange times out (RemoteError)."""
    import socket

    import httpx
    import pytest

    seen = Seen()
    notice = SlowNotice(show=seen.show, clear=seen.clear, after=0.0, every=0.05)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        with make_client(2, notice=notice) as http, pytest.raises(httpx.TimeoutException):
            http.post(url)
    assert seen.first.is_set() and seen.cleared == 1
