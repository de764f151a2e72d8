"""Run the token server under uvicorn: checks first, our own listening socket, N workers.

Everything that can be wrong with the store or the key is found by
``prepare()`` before uvicorn starts, so ``oauthcli serve`` fails with one line.

The listening socket is bound here with ``IPPROTO_TCP`` (uvicorn issue #3149:
a socket bound without it hands accepted connections ``proto == 0``, asyncio
then skips ``TCP_NODELAY``, and each keep-alive request waits ~40 ms for a
delayed ACK). Workers get the app through a picklable factory, so no
environment variable has to carry the options across the process boundary.
"""

from __future__ import annotations

import logging
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from oauthcli.errors import ConfigError, UsageError
from oauthcli.server.throttle import DEFAULT_LOCKOUT, DEFAULT_MAX_FAILURES
from oauthcli.urls import is_loopback_host

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeOptions:
    store_path: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    max_failures: int = DEFAULT_MAX_FAILURES
    lockout: int = DEFAULT_LOCKOUT
    session_ttl: int = 8 * 3600  # login session cookie of the browser and device flows
    consent: bool = True  # --no-consent: no consent page, every client trusted (CI)
    require_dpop: bool = False  # --require-dpop: every token request carries a DPoP proof
    dpop_nonce: bool = False  # --dpop-nonce: DPoP proofs carry the server's nonce (RFC 9449 8)
    require_par: bool = False  # --require-par: /authorize takes pushed requests only (RFC 9126)
    # uvicorn's event loop and HTTP parser ("auto": uvloop and httptools when installed)
    loop: str = "auto"
    http: str = "auto"
    # Seconds a connection may take to send a request's head (slowloris guard).
    header_timeout: float = 10.0
    # Open connections at most; beyond it new requests get 503 (uvicorn limit_concurrency).
    max_connections: int = 1000
    # Proxies whose X-Forwarded-For/-Proto (and Host, for discovery) are believed;
    # None: no request header ever changes the client address or the advertised URLs.
    forwarded_allow_ips: str | None = None
    # Filled in by prepare(): the base URL, used as iss when [issuer] names none.
    base_url: str | None = field(default=None)
    # --state: None for <store>.state.db, else redis://HOST:PORT/DB (no password in it
    # when it came from argv); the password travels to workers pickled, never on argv.
    state: str | None = None
    state_password: str | None = field(default=None, repr=False)
    # Stop when stdin reaches EOF: the parent's end of the pipe closed (it exited or died).
    exit_on_stdin_eof: bool = False
    # --registration (RFC 7591): None, "open" or "token"; the initial access token of
    # "token" was read from --registration-token-file (never argv).
    registration: str | None = None
    registration_token: str | None = field(default=None, repr=False)
    # --control: the control API's bearer token (travels to workers pickled, never on argv).
    control_token: str | None = field(default=None, repr=False)


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _log_outage(down: bool, message: str) -> None:
    """The state backend stopped (or started again) answering: one line each way."""
    log = logging.getLogger("oauthcli.server")
    if down:
        log.error("%s; answering 503 temporarily_unavailable until it is back", message)
    else:
        log.warning("%s", message)


def build_app(options: ServeOptions) -> Any:
    """The app factory each worker calls (also the single-process path)."""
    import dataclasses

    from oauthcli.issuer import settings_for_store
    from oauthcli.server.app import create_app
    from oauthcli.server.provider_settings import ProviderSettings
    from oauthcli.server.throttle import LoginThrottle
    from oauthcli.state import open_state
    from oauthcli.store import UserStore

    store = UserStore(options.store_path)
    data = store.load()
    settings = settings_for_store(options.store_path, data.issuer)
    control = None
    provider = ProviderSettings(
        session_ttl=options.session_ttl,
        consent=options.consent,
        require_dpop=options.require_dpop,
        dpop_nonce=options.dpop_nonce,
        registration=options.registration,
        registration_token=options.registration_token,
        require_par=options.require_par,
    )
    if options.control_token is not None:
        from oauthcli.server.control import ControlOptions

        control = ControlOptions(options.control_token)
        provider = dataclasses.replace(provider, clock=control.clock)
    state = open_state(
        options.state,
        options.store_path,
        options.state_password,
        on_outage=_log_outage,
        clock=provider.clock,
    )
    return create_app(
        store,
        settings,
        issuer_url=options.base_url,
        throttle=LoginThrottle(
            options.max_failures, options.lockout, clock=provider.clock, backend=state
        ),
        trust_forwarded=options.forwarded_allow_ips is not None,
        provider=provider,
        state=state,
        control=control,
    )


class Where(NamedTuple):
    """What ``serve`` tells a person once it listens: the URLs to give clients."""

    url: str  # where it listens
    workers: int
    issuer: str  # the ``iss`` of its tokens: what ``login --issuer-url`` and ``verify`` take
    state: str  # the state backend, for people (never a password)


def check(options: ServeOptions) -> tuple[str | None, str]:
    """Raise ``StoreError``/``ConfigError``/``UsageError`` for anything that would stop a worker.

    Returns the issuer the store names (``None``: the URL it will listen on) and the state
    backend's description."""
    if options.workers < 1:
        raise UsageError("--workers must be at least 1")
    if not 0 <= options.port <= 65535:
        raise UsageError("--port must be from 0 to 65535")
    if options.max_failures < 0:
        raise UsageError("--max-failures must not be negative")
    if options.lockout < 1:
        raise UsageError("--lockout must be at least 1s (--max-failures 0 turns throttling off)")
    if not options.header_timeout > 0:
        raise UsageError("--header-timeout must be longer than 0s")
    if options.max_connections < 1:
        raise UsageError("--max-connections must be at least 1")
    if options.session_ttl < 1:
        raise UsageError("--session-ttl must be at least 1s")
    if options.log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    if options.control_token is not None:
        check_control(options.host, options.forwarded_allow_ips)
    # Loads the store, the [issuer] settings and the signing key; then the state must answer.
    app = build_app(options)
    state = app.state.server_state
    try:
        state.ping()
        if options.control_token is not None:
            # A new run starts clean: no faults, rotated keys or clock offset of the last one.
            state.control_update(lambda doc: doc.clear())
            state.log_clear()
        return app.state.ctx.settings.issuer, state.describe()
    finally:
        state.close()


def check_control(host: str, forwarded_allow_ips: str | None = None) -> None:
    """``--control`` only on a loopback address (each request's peer is checked too), and
    never behind a proxy: one on loopback would carry the network's requests to it."""
    if not is_loopback_host(host):
        raise UsageError(
            f"--control needs a loopback --host (127.0.0.1, ::1 or localhost), not {host!r}: "
            "the control API must never be reachable from the network"
        )
    if forwarded_allow_ips is not None:
        raise UsageError(
            "--control cannot be used with --forwarded-allow-ips: behind a proxy the "
            "control API would be reachable from the network"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket with ``proto = IPPROTO_TCP`` so accepted sockets get TCP_NODELAY."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {base_url(host, port)}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, minus its access log (it prints query strings); ours instead."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": dict(LOGGING_CONFIG["formatters"]),
        "handlers": {
            "default": dict(LOGGING_CONFIG["handlers"]["default"]),
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "oauthcli": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
    return config


def uvicorn_config(options: ServeOptions, app: Any, **extra: Any) -> Any:
    """uvicorn's ``Config`` with serve's protections (also used by the test servers)."""
    import uvicorn

    from oauthcli.server.protocols import protocol_class

    forwarded = options.forwarded_allow_ips
    config = uvicorn.Config(
        app,
        access_log=False,
        timeout_graceful_shutdown=10,
        loop=options.loop,
        http=protocol_class(options.http),
        server_header=False,
        # serve speaks no WebSocket: no websockets code is loaded (for "auto", older uvicorn
        # releases load websockets.legacy, which warns on import with websockets 14 and later).
        ws="none",
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: a local process
        # could then log any address as the client. Off unless --forwarded-allow-ips.
        proxy_headers=forwarded is not None,
        forwarded_allow_ips=forwarded or "",
        limit_concurrency=options.max_connections,
        **extra,
    )
    # Read by protocols.H11HeaderTimeout and HttpToolsHeaderTimeout; pickled to workers with it.
    config.header_timeout = options.header_timeout  # type: ignore[attr-defined]  # our own Config field, read by server/protocols.py
    return config


class _Terminated(Exception):
    pass


# After the SIGTERM of a vanished parent, uvicorn shuts down gracefully (at most its
# timeout_graceful_shutdown of 10 s); should that hang, the process ends anyway.
PARENT_GONE_GRACE = 30.0


def _stop_at_stdin_eof(grace: float = PARENT_GONE_GRACE) -> None:
    """Blocking: read stdin until EOF, then SIGTERM this process (the usual graceful stop).

    A pipe's read end sees EOF once every write end is closed, and the kernel closes a
    process's descriptors however it ends (SIGTERM, SIGKILL, a crash): so a server
    whose parent holds the write end cannot outlive it, on any platform.
    """
    import os
    import time

    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass  # stdin closed or unreadable: as good as EOF
    logging.getLogger("oauthcli.server").info("stdin reached end of file: stopping")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(1)


def _watch_stdin() -> None:
    import threading

    threading.Thread(target=_stop_at_stdin_eof, name="oauthcli-stdin-eof", daemon=True).start()


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def serve(options: ServeOptions, announce: Any = None) -> None:
    """Bind, announce the base URL, and serve until SIGINT/SIGTERM (then return normally)."""
    import dataclasses
    import functools

    import uvicorn

    issuer, state = check(options)
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    options = dataclasses.replace(
        options, port=port, base_url=options.base_url or base_url(options.host, port)
    )
    config = uvicorn_config(
        options,
        functools.partial(build_app, options),
        factory=True,
        workers=options.workers,
        log_config=log_config(options.log_level),
        log_level=options.log_level,
    )
    if announce is not None:
        url = options.base_url or base_url(options.host, port)
        announce(Where(url, options.workers, (issuer or url).rstrip("/"), state))
    # uvicorn re-raises SIGTERM after its graceful shutdown; end with exit status 0.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    if options.exit_on_stdin_eof:
        _watch_stdin()
    try:
        if options.workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    logging.getLogger("oauthcli.server").debug("stopped")
