"""URL facts every module shares: loopback, origins, plain-HTTP policy, display.

Leaf module: imports nothing of oauthcli but ``errors``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from oauthcli.errors import UsageError

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1`` (brackets and a trailing dot allowed)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    try:
        return is_loopback_host(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in canonical form (lower case, default port dropped)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError(f"not a valid URL or origin: {redact(url)!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise UsageError(f"not an http(s) URL or origin: {redact(url)!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_plain_remote_http(url: str) -> bool:
    """``http://`` to anything but a loopback host: credentials must not go there by default."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname or "")


def redact(url: str) -> str:
    """``url`` fit for a message: userinfo (``user:password@``) dropped, nothing else changed."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return url.rsplit("@", 1)[-1] if "@" in url else url


def display(url: str) -> str:
    """``scheme://host[:port]/path`` (and ``?…`` when there was a query) for a message.

    Userinfo, query and fragment may carry secrets, so they are dropped. Not
    cleaned of control characters: callers pass the result through ``text.clean``.
    """
    import re

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        parts, host, port = None, "", None
    if parts is None or not parts.scheme or not host:
        # Unparseable or relative: drop anything that looks like userinfo or a query.
        return re.sub(r"^([^/?#]*//)?[^/?#@]*@", r"\1", url.split("?")[0])
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return shown + "?…" if parts.query else shown
