"""The one HTTP client factory, and the one way to read an answer and word a failure.

Every request oauthcli makes goes through a client built by :func:`make_client`:
TLS verified (against ``cacert`` alone if given), redirects never followed, a
bounded timeout. The token endpoint client (``oauthcli.client``) and the key-set
and discovery fetching take such a client, so one policy (proxies, timeouts, CA
bundle) holds for all of them. :func:`read_capped` reads a body under a size cap
and :func:`transport_error` turns an httpx failure into one ``RemoteError`` line.

httpx is imported inside the functions: ``oauthcli header`` with a valid token
never needs it (start-up time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli import __version__
from oauthcli.errors import Reason, RemoteError, UsageError
from oauthcli.text import clean
from oauthcli.urls import display, is_loopback_host, redact

if TYPE_CHECKING:
    import ssl

    import httpx

    from oauthcli.progress import SlowNotice

MAX_TIMEOUT = 24 * 3600.0
MAX_BODY_BYTES = 1024 * 1024
MAX_SERVER_TEXT = 200


Clock = Callable[[], float]


def make_client(
    timeout: float = 10.0,
    cacert: str | None = None,
    *,
    clock: Clock | None = None,
    notice: SlowNotice | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` that verifies TLS (against ``cacert`` alone if given) and never follows redirects.

    ``timeout`` bounds each whole exchange (connect, headers and body), not each
    read: a server trickling one byte a second cannot keep us waiting. Proxies
    come from the environment, but never for loopback hosts nor for plain http
    requests that carry credentials (see :func:`proxy_for`). ``clock`` (seconds,
    monotonic) is for tests. ``notice``: told when an exchange outlasts its ``after``
    seconds ("waiting for URL"), and when it ends (the CLI draws it on a terminal).
    """
    # inf, nan and absurd values would crash deep in the socket layer instead.
    if not (0 < timeout <= MAX_TIMEOUT):
        raise UsageError(
            f"the timeout must be a number of seconds up to {MAX_TIMEOUT:g}, not {timeout:g}",
            reason=Reason.BAD_TIMEOUT,
        )
    import ssl
    import time

    import httpx

    from oauthcli import settings

    verify: ssl.SSLContext | bool = True
    if cacert is not None:
        try:
            verify = ssl.create_default_context(cafile=cacert)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use CA bundle {cacert!r}: {clean(str(exc))}") from exc
    transport = _transport_class()(
        verify, timeout, clock or time.monotonic, settings.proxy_environment(), notice
    )
    return httpx.Client(
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        # Proxies are chosen by our transport; the client must not add its own from the environment.
        trust_env=False,
        headers={"User-Agent": f"oauthcli/{__version__}"},
    )


def proxy_for(
    url: str, proxies: dict[str, str], *, carries_credentials: bool
) -> tuple[str | None, str]:
    """``(proxy URL or None, why)`` for a request to ``url`` under ``proxies`` (``proxy_environment``).

    Never a proxy for a loopback host (another local process must not see what
    we send to this machine), nor for plain http carrying credentials (a password
    or token in clear text to a third party); ``NO_PROXY`` is honoured.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None, "not a valid URL"
    scheme = parts.scheme.lower()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None, "no proxy configured"
    if "://" not in proxy:
        proxy = "http://" + proxy  # "proxy:3128", as curl reads it
    if is_loopback_host(host):
        return None, "loopback host"
    if scheme == "http" and carries_credentials:
        return None, "plain http carrying credentials"
    if _no_proxy(host, port, proxies.get("no", "")):
        return None, "NO_PROXY"
    return proxy, "from the environment"


def _no_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """``NO_PROXY`` as curl and urllib read it: ``*``, host names, ``.domain`` suffixes, ``host:port``."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().replace(",", " ").split():
        if entry == "*":
            return True
        name, _, wanted_port = (
            entry.strip("[]").partition("]:")
            if entry.startswith("[")
            else (entry.rpartition(":") if entry.count(":") == 1 else (entry, "", ""))
        )
        if wanted_port and (not wanted_port.isdigit() or int(wanted_port) != port):
            continue
        name = name.strip("[]").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def display_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``scheme://host[:port]/path`` fit for a message: no userinfo, query or fragment, cleaned."""
    return clean(display(url), MAX_SERVER_TEXT, secrets)


def read_capped(response: httpx.Response, url: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body of a streamed ``response``, at most ``limit`` bytes (the client bounds the time)."""
    too_big = (
        f"the answer from {display_url(url)} is larger than {limit // 1024} KiB: "
        "refusing to read it"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RemoteError(too_big, reason=Reason.TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise RemoteError(too_big, reason=Reason.TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def overall_timeout(client: httpx.Client) -> float | None:
    """The client's timeout, as a bound on a whole exchange."""
    values = [v for v in (client.timeout.read, client.timeout.connect) if v is not None]
    return max(values) if values else None


def transport_error(
    exc: httpx.RequestError, url: str, client: httpx.Client, secrets: Iterable[str] = ()
) -> RemoteError:
    """A one-line ``RemoteError`` for a timeout, TLS, connection or protocol failure.

    Every command that talks to servers words these failures this way; raise it ``from exc``.
    """
    import httpx

    shown = display_url(url)
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(
            f"timed out after {_timeout_for(client, exc):g} s contacting {shown}",
            reason=Reason.TIMEOUT,
        )
    tls = _ssl_error(exc)
    if tls is not None:
        import ssl

        verify_failed = isinstance(tls, ssl.SSLCertVerificationError)
        return RemoteError(
            f"TLS error contacting {shown}: {clean(_ssl_reason(tls), MAX_SERVER_TEXT)}",
            reason=Reason.TLS_VERIFY if verify_failed else Reason.TLS,
        )
    said = clean(str(exc) or type(exc).__name__, MAX_SERVER_TEXT, secrets)
    if isinstance(exc, httpx.ConnectError):
        return RemoteError(f"could not connect to {shown}: {said}", reason=Reason.CONNECT)
    return RemoteError(f"network error talking to {shown}: {said}", reason=Reason.NETWORK)


def _timeout_for(client: httpx.Client, exc: httpx.TimeoutException) -> float:
    import httpx

    timeout = client.timeout
    value = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc))
    return value if value is not None else (overall_timeout(client) or 0.0)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _ssl_reason(error: ssl.SSLError) -> str:
    import ssl

    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message}"
    # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> the words only
    text = re.sub(r"^\[SSL(: [A-Z0-9_]+)?\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(error))
    text = text or error.reason or type(error).__name__
    if error.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
        text += " (does the server speak plain http on that port?)"
    return text


# ---------------------------------------------------------------- transport

_TRANSPORT: type | None = None


def _transport_class() -> type:
    """Built on first use: httpx and httpcore are imported only when a request is made."""
    global _TRANSPORT
    if _TRANSPORT is None:
        _TRANSPORT = _build_transport_class()
    return _TRANSPORT


def _build_transport_class() -> type:
    import contextlib
    import logging

    import httpcore
    import httpx

    # Shown on stderr with --debug (the CLI attaches a handler); silent otherwise.
    log = logging.getLogger("oauthcli.http")

    class Deadline:
        """The end of the current exchange; every socket operation gets only the time left."""

        def __init__(self, clock: Clock, seconds: float) -> None:
            self.clock = clock
            self.seconds = seconds
            self.end = clock() + seconds

        def start(self) -> None:
            self.end = self.clock() + self.seconds

        def left(self, timeout: float | None, error: type[Exception]) -> float:
            remaining = self.end - self.clock()
            if remaining <= 0:
                raise error(f"the whole exchange took longer than {self.seconds:g} s")
            return remaining if timeout is None else min(timeout, remaining)

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
            self.inner = inner
            self.deadline = deadline

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self.inner.read(max_bytes, self.deadline.left(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.inner.write(buffer, self.deadline.left(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self.inner.close()

        def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore.NetworkStream:
            left = self.deadline.left(timeout, httpcore.ConnectTimeout)
            return Stream(self.inner.start_tls(ssl_context, server_hostname, left), self.deadline)

        def get_extra_info(self, info: str) -> Any:
            return self.inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self, deadline: Deadline) -> None:
            self.inner = httpcore.SyncBackend()
            self.deadline = deadline

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore.NetworkStream:
            left = self.deadline.left(timeout, httpcore.ConnectTimeout)
            stream = self.inner.connect_tcp(host, port, left, local_address, socket_options)
            return Stream(stream, self.deadline)

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> httpcore.NetworkStream:  # pragma: no cover - we never use unix sockets
            raise httpcore.ConnectError("unix sockets are not used")

        def sleep(self, seconds: float) -> None:  # pragma: no cover - used by retries only
            self.inner.sleep(seconds)

    # httpcore's failures as httpx's (the classes callers and transport_error know), subclasses
    # before their bases; ``raise ... from exc`` keeps the TLS cause transport_error looks for.
    errors: list[tuple[type[Exception], type[Exception]]] = [
        (httpcore.ConnectTimeout, httpx.ConnectTimeout),
        (httpcore.ReadTimeout, httpx.ReadTimeout),
        (httpcore.WriteTimeout, httpx.WriteTimeout),
        (httpcore.PoolTimeout, httpx.PoolTimeout),
        (httpcore.TimeoutException, httpx.TimeoutException),
        (httpcore.ConnectError, httpx.ConnectError),
        (httpcore.ReadError, httpx.ReadError),
        (httpcore.WriteError, httpx.WriteError),
        (httpcore.NetworkError, httpx.NetworkError),
        (httpcore.ProxyError, httpx.ProxyError),
        (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
        (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
        (httpcore.LocalProtocolError, httpx.LocalProtocolError),
        (httpcore.ProtocolError, httpx.ProtocolError),
    ]

    @contextlib.contextmanager
    def httpx_errors() -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            for theirs, ours in errors:
                if isinstance(exc, theirs):
                    raise ours(str(exc)) from exc
            raise

    class Body(httpx.SyncByteStream):
        def __init__(self, inner: Iterable[bytes], done: Callable[[], None]) -> None:
            self.inner = inner
            self.done = done  # the exchange is over: its slow notice ends

        def __iter__(self) -> Iterator[bytes]:
            with httpx_errors():
                yield from self.inner

        def close(self) -> None:
            try:
                close = getattr(self.inner, "close", None)
                if close is not None:
                    close()
            finally:
                self.done()

    def raw_url(url: httpx.URL) -> httpcore.URL:
        return httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )

    class Transport(httpx.BaseTransport):
        """Direct or through a proxy, per request; every exchange bounded by one deadline.

        Built on httpcore's public pools (``network_backend=`` carries the deadline), with
        httpx's public request, response and error classes on our side of it.
        """

        def __init__(
            self,
            verify: ssl.SSLContext | bool,
            timeout: float,
            clock: Clock,
            proxies: dict[str, str],
            notice: SlowNotice | None = None,
        ) -> None:
            # trust_env here only lets SSL_CERT_FILE/SSL_CERT_DIR pick the CA bundle.
            self.ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)
            self.proxies = proxies
            self.notice = notice
            self.deadline = Deadline(clock, timeout)
            self.direct = self._make(None)
            self.via: dict[str, httpcore.ConnectionPool] = {}

        def _make(self, proxy: str | None) -> httpcore.ConnectionPool:
            backend = Backend(self.deadline)
            if proxy is None:
                return httpcore.ConnectionPool(
                    ssl_context=self.ssl_context, network_backend=backend
                )
            try:
                parsed = httpx.Proxy(url=proxy)
                scheme = parsed.url.scheme
                if scheme in ("http", "https"):
                    return httpcore.HTTPProxy(
                        proxy_url=raw_url(parsed.url),
                        proxy_auth=parsed.raw_auth,
                        proxy_headers=parsed.headers.raw,
                        ssl_context=self.ssl_context,
                        network_backend=backend,
                    )
                if scheme in ("socks5", "socks5h"):
                    return httpcore.SOCKSProxy(  # ImportError without socksio
                        proxy_url=raw_url(parsed.url),
                        proxy_auth=parsed.raw_auth,
                        ssl_context=self.ssl_context,
                        network_backend=backend,
                    )
                raise ValueError(f"unknown proxy scheme {scheme!r}")
            except (ValueError, ImportError) as exc:  # a socks5:// proxy without socksio ...
                shown = clean(redact(proxy), MAX_SERVER_TEXT)
                raise UsageError(
                    f"cannot use the proxy {shown} from the environment: {clean(str(exc))}",
                    reason=Reason.PROXY,
                ) from None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url = str(request.url)
            carries = "authorization" in request.headers or _has_body(request)
            proxy, why = proxy_for(url, self.proxies, carries_credentials=carries)
            shown = display_url(url)
            if proxy is None:
                if why != "no proxy configured":
                    log.debug("%s %s: direct, no proxy (%s)", request.method, shown, why)
                pool = self.direct
            else:
                log.debug(
                    "%s %s: through the proxy %s (%s)",
                    request.method,
                    shown,
                    clean(redact(proxy), MAX_SERVER_TEXT),
                    why,
                )
                if proxy not in self.via:
                    self.via[proxy] = self._make(proxy)
                pool = self.via[proxy]
            self.deadline.start()
            assert isinstance(request.stream, httpx.SyncByteStream)
            sent = httpcore.Request(
                method=request.method,
                url=raw_url(request.url),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
            done = self._watch(request.url)
            try:
                with httpx_errors():
                    answer = pool.handle_request(sent)
            except BaseException:
                done()
                raise
            assert isinstance(answer.stream, Iterable)
            return httpx.Response(
                status_code=answer.status,
                headers=answer.headers,
                stream=Body(answer.stream, done),
                extensions=answer.extensions,
            )

        def _watch(self, url: httpx.URL) -> Callable[[], None]:
            """The slow notice of one exchange (until its body is closed): the URL without
            its query, which may carry secrets."""
            if self.notice is None:
                return lambda: None
            where = display_url(str(url.copy_with(query=None, fragment=None)))
            return self.notice.start(f"waiting for {where}")

        def close(self) -> None:
            with httpx_errors():
                self.direct.close()
                for pool in self.via.values():
                    pool.close()

    return Transport


def _has_body(request: httpx.Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers
