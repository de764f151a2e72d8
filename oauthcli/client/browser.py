"""Opening the authorization URL in the user's browser (Python's ``webbrowser``: ``$BROWSER`` is honoured)."""

from __future__ import annotations

from collections.abc import Callable

BrowserOpener = Callable[[str], bool]


def system_browser(url: str) -> bool:
    """Open ``url`` with ``webbrowser``; False when no browser could be started."""
    import webbrowser

    try:
        return bool(webbrowser.open(url))
    except webbrowser.Error:
        return False


def no_browser(url: str) -> bool:
    """``--no-browser``: the URL is only printed."""
    return False
