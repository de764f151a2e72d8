"""Where credentials may go: URL safety before sending, a profile's allowed destinations, header safety.

Every check here runs before any connection, so a refused request sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oauthcli.errors import Reason, UsageError
from oauthcli.http import display_url
from oauthcli.urls import is_loopback_host, is_loopback_url, is_plain_remote_http, origin_of

if TYPE_CHECKING:
    from oauthcli.client.cache import CacheEntry


def check_url_safe(url: str, *, insecure_http: bool = False) -> None:
    """Refuse, before any connection, a URL that would expose credentials.

    https is always fine; plain http only to this machine (localhost, 127.0.0.0/8,
    [::1]) unless ``insecure_http``. URLs with a user name or password are refused
    because they end up in logs and error messages.
    """
    if not url.strip():
        raise UsageError("the URL is empty")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise UsageError(f"not a valid URL: {display_url(url)}") from exc
    if parts.username is not None or parts.password is not None:
        # The URL itself is not echoed: the userinfo may be a password.
        raise UsageError("the URL must not contain a user name or password (user@host)")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        guess = suggest_scheme(url)
        hint = f" (no scheme: did you mean {guess}?)" if guess else ""
        raise UsageError(f"only http and https URLs are supported, not {display_url(url)}{hint}")
    if not host:
        raise UsageError(f"the URL has no host: {display_url(url)}")
    if scheme == "http" and not insecure_http and not is_loopback_host(host):
        raise UsageError(
            f"refusing to send credentials over plain http to {display_url(url)}: use https",
            reason=Reason.PLAIN_HTTP,
        )


def suggest_scheme(url: str) -> str | None:
    """``https://example.com/x`` for ``example.com/x`` (http for loopback hosts); None if no guess."""
    text = url.strip()
    if "://" in text or not text or text.startswith("/"):
        return None
    host = text.split("/", 1)[0]
    if not host or any(c.isspace() for c in host):
        return None
    guess = "http" if is_loopback_url(f"http://{text}") else "https"
    return display_url(f"{guess}://{text}")


def check_destination(entry: CacheEntry, url: str, extra_origins: Iterable[str] = ()) -> None:
    """Refuse (``UsageError``, before any connection) to send ``entry``'s token where it does not belong.

    A remote profile's token goes to its token URL's origin; a local profile's to
    loopback hosts; either also to ``entry.allowed_origins`` and ``extra_origins``.
    """
    target = origin_of(url)
    allowed = {origin_of(o) for o in [*entry.allowed_origins, *extra_origins]}
    if entry.source == "remote" and entry.token_url:
        allowed.add(origin_of(entry.token_url))
        where = f"its token endpoint's origin {origin_of(entry.token_url)}"
    else:
        if is_loopback_url(url):
            return
        where = "loopback hosts (it came from a local store)"
    if target not in allowed:
        raise UsageError(
            f"refusing to send this profile's token to {target}: it is only sent to {where}",
            reason=Reason.DESTINATION,
        )


def needs_insecure_http(url: str) -> bool:
    """True when ``url`` is plain http to a host other than this machine."""
    return is_plain_remote_http(url)


# RFC 9110 15.4: the statuses that redirect, and at most this many hops (curl's default is 50).
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


def redirect_target(
    method: str, url: str, status: int, location: str | None
) -> tuple[str, str, bool] | None:
    """``(method, url, keep_body)`` of the request a redirect asks for, if it may be followed.

    Only within the origin of ``url``: the bearer token must never follow a
    redirect to another origin (scheme, host and port; http -> https counts as
    another). 303, and 301/302 after a POST, become a GET without the body
    (RFC 9110 15.4.2-4, as browsers and curl do); 307/308 keep method and body.
    None for anything else: not a redirect, no ``Location``, or another origin.
    """
    from urllib.parse import urljoin

    if status not in REDIRECT_STATUSES or not location:
        return None
    target = urljoin(url, location.strip())
    try:
        if origin_of(target) != origin_of(url):
            return None
    except UsageError:
        return None  # not an http(s) URL: never followed
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", target, False
    return method, target, True
