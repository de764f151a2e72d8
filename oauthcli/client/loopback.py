"""The loopback redirect listener of the browser login (RFC 8252 7.3, RFC 9207).

It binds 127.0.0.1, and for a ``--redirect-uri http://localhost:P/...`` also [::1]:P
(the browser may resolve ``localhost`` to either; a process holding [::1]:P would
otherwise receive the code: if that port cannot be had the login is refused, RFC 8252
8.3 recommends the IP literal). It answers only the redirect path (anything else is a 404),
and hands back exactly one authorization response: the first whose ``state`` is
the one sent. A response with a wrong or missing ``state`` (another page, or an
attacker, talking to the port) is refused with a 400 and its code is never used;
the listener keeps waiting for the real one. ``iss``, when present or when the
provider promises it, must be the issuer (RFC 9207 2.4: a mix-up defence).

The browser's request that brought the code is held until the caller ``report``s how
the login ended (the code redeemed, the ID token verified): the page says "Logged in"
only then, and shows the error otherwise.

Over SSH the browser runs on another machine, whose own 127.0.0.1 receives the redirect
(and fails to load it): the person pastes that address back (``accept``), which goes
through exactly the checks a request to the listener does, while the listener keeps
waiting; whichever answer with the right ``state`` comes first wins.
"""

from __future__ import annotations

import errno
import hmac
import html
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from oauthcli.client.answer import clean
from oauthcli.errors import AuthenticationError, UsageError

CALLBACK_PATH = "/callback"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost"}
HOLD_SECONDS = 120.0  # the browser's page waits this long for the redemption and checks
_HELD = (0, "", "")  # _handle's answer for the request that brought the code
_NOT_OURS = (
    400,
    "Refused",
    "This answer does not belong to the login oauthcli started "
    "(wrong or missing state); it was ignored.",
)
_NOT_FOUND = (404, "Not found", "This address only receives the login answer.")


@dataclass(frozen=True)
class RedirectTarget:
    """Where the listener binds and what redirect URI the provider is told."""

    port: int  # 0: any free port
    path: str = CALLBACK_PATH
    name: str = "127.0.0.1"  # the host as written in the redirect URI


def parse_redirect_uri(uri: str) -> RedirectTarget:
    """``--redirect-uri``: ``http://127.0.0.1:PORT/path`` (or ``localhost``) that the provider has registered."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        raise UsageError(f"--redirect-uri {clean(uri)!r} is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in _LOOPBACK_NAMES or not port:
        raise UsageError(
            "--redirect-uri must be http://127.0.0.1:PORT/PATH (or localhost): oauthcli "
            "listens for the answer on this machine"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError("--redirect-uri must not have a query, fragment or user name")
    return RedirectTarget(port=port, path=parts.path or "/", name=host)


_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>oauthcli</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class LoopbackListener:
    """Serve one authorization response on 127.0.0.1; ``wait`` returns its ``code``."""

    def __init__(
        self,
        state: str,
        *,
        issuer: str,
        require_iss: bool,
        target: RedirectTarget | None = None,
    ) -> None:
        self.target = target or RedirectTarget(port=0)
        self.expected_state = state
        self.issuer = issuer
        self.require_iss = require_iss
        self.refused = 0  # answers with a wrong or missing state
        self._done = threading.Event()
        self._code: str | None = None
        self._error: AuthenticationError | None = None
        self._lock = threading.Lock()
        self._outcome = threading.Event()  # report() was called
        self._result = (200, "Login not finished", "oauthcli stopped; see the terminal.")
        self._answered = threading.Event()  # the held page was sent
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.target.port), self._handler())
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{self.target.port} for the login redirect: "
                f"{exc.strerror or exc}"
            ) from None
        self._servers = [self._server]
        if self.target.name == "localhost":
            self._servers += self._ipv6_twin(self._server.server_address[1])
        self._threads = []
        for server in self._servers:
            server.daemon_threads = True
            self._threads.append(threading.Thread(target=server.serve_forever, daemon=True))

    def _ipv6_twin(self, port: int) -> list[ThreadingHTTPServer]:
        """A listener on [::1]:``port`` too: ``localhost`` may take the browser there."""
        try:
            return [_IPv6Server(("::1", port), self._handler())]
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return []  # no IPv6 loopback here: no browser reaches [::1] either
            self._server.server_close()
            raise UsageError(
                f"cannot listen on [::1]:{port} for the login redirect ({exc.strerror or exc}): "
                f"another process there would receive the code sent to localhost:{port}; use "
                f"--redirect-uri http://127.0.0.1:{port}{self.target.path} (RFC 8252 8.3)"
            ) from None

    @property
    def redirect_uri(self) -> str:
        port = self._server.server_address[1]
        return f"http://{self.target.name}:{port}{self.target.path}"

    def __enter__(self) -> LoopbackListener:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def report(self, error: BaseException | None = None) -> None:
        """How the login ended, for the browser page held since the code arrived."""
        from oauthcli.errors import OAuthCliError

        if error is None:
            self._result = (
                200,
                "Logged in",
                "oauthcli has logged you in; you can close this page.",
            )
        elif isinstance(error, OAuthCliError):
            self._result = (200, "Login failed", f"{clean(str(error))}. Back in the terminal.")
        else:
            self._result = (200, "Login failed", "oauthcli could not finish; see the terminal.")
        self._outcome.set()

    def close(self) -> None:
        self._outcome.set()  # a held page is answered (default: not finished) before closing
        if self._code is not None:
            self._answered.wait(10)
        for server, thread in zip(self._servers, self._threads, strict=True):
            if thread.is_alive():
                server.shutdown()
            server.server_close()

    def wait(self, timeout: float, waiting: Callable[[float, str], None] | None = None) -> str:
        """The authorization code, once a response with the right ``state`` arrived.

        ``waiting`` hears the seconds left about once a second until then."""
        deadline = time.monotonic() + timeout
        done = False
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if waiting is not None:
                waiting(left, "waiting for the browser")
            done = self._done.wait(min(1.0, left) if waiting is not None else left)
        if not done:
            raise AuthenticationError(
                f"no answer from the browser within {timeout:g} s: the login was not "
                "completed (use --timeout to wait longer)"
            )
        if self._error is not None:
            raise self._error
        assert self._code is not None
        return self._code

    # -- one request -----------------------------------------------------------------------

    def _handle(self, path: str) -> tuple[int, str, str]:
        """``(status, title, text)`` for a GET of ``path``."""
        parts = urlsplit(path)
        if parts.path != self.target.path:
            return _NOT_FOUND
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        state = params.get("state")
        with self._lock:
            if self._done.is_set():
                return 409, "Already done", "oauthcli already has its answer; close this page."
            if state is None or not hmac.compare_digest(
                state.encode("utf-8", "replace"), self.expected_state.encode()
            ):
                self.refused += 1
                return _NOT_OURS
            iss = params.get("iss")
            if (iss is not None or self.require_iss) and iss != self.issuer:
                shown = "missing" if iss is None else repr(clean(iss))
                self._finish(
                    error=AuthenticationError(
                        f"the authorization answer's issuer (iss) is {shown}, not "
                        f"{self.issuer!r}: refusing it (RFC 9207, a mix-up attack?)"
                    )
                )
                return 400, "Login refused", "The answer came from the wrong issuer."
            if "error" in params:
                code = clean(params["error"]) or "error"
                said = clean(params.get("error_description", ""))
                message = f"the provider refused the login: {code}" + (f" ({said})" if said else "")
                self._finish(error=AuthenticationError(message))
                return 200, "Login failed", f"The provider said: {code}. Back in the terminal."
            code_value = params.get("code")
            if not code_value:
                self._finish(
                    error=AuthenticationError(
                        "the provider's answer has neither a code nor an error"
                    )
                )
                return 400, "Login failed", "The answer carried no code."
            self._finish(code=code_value)
            return _HELD

    def accept(self, pasted: str) -> str | None:
        """The address a browser elsewhere was sent to, pasted back: checked as a request to
        the listener is (``_handle``: state, RFC 9207 ``iss``, error responses). None when it
        ended the wait (a code, or an error the login fails with); else why it was refused,
        in words that never repeat it (it may hold a code)."""
        try:
            parts = urlsplit(pasted.strip())
            port = parts.port
        except ValueError:
            port, parts = -1, urlsplit("")
        expected = urlsplit(self.redirect_uri)
        if (parts.scheme, (parts.hostname or "").lower(), port) != (
            expected.scheme,
            expected.hostname,
            expected.port,
        ):
            return (
                "that is not an address on this login's redirect URI "
                f"({self.redirect_uri}): paste the whole address the browser was sent to"
            )
        answer = self._handle(f"{parts.path}?{parts.query}")
        if answer is _HELD:
            self._answered.set()  # no browser request waits for this one's page
        if answer is _NOT_FOUND:
            return f"that address is not this login's redirect URI ({self.redirect_uri})"
        if answer is _NOT_OURS:
            return (
                "that answer does not belong to the login oauthcli started (wrong or missing "
                "state): it was ignored"
            )
        return None

    def _finish(self, *, code: str | None = None, error: AuthenticationError | None = None) -> None:
        self._code, self._error = code, error
        self._done.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a connection left open cannot hold the listener

            def do_GET(self) -> None:
                answer = listener._handle(self.path)
                held = answer is _HELD
                if held:
                    listener._outcome.wait(HOLD_SECONDS)
                    answer = listener._result
                status, title, text = answer
                try:
                    self._send(status, title, text)
                finally:
                    if held:
                        listener._answered.set()

            def _send(self, status: int, title: str, text: str) -> None:
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the query carries the code: never logged

        return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
