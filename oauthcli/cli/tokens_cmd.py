"""oauthcli login / issue / refresh / logout (issues 3 and 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
