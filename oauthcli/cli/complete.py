"""Shell completion of option and argument values (Typer ``autocompletion=`` callbacks).

Each list comes from the module that defines what is valid (no second copy of a list of
grants, algorithms or formats); names of users, clients and profiles come from the store
and the token cache a command would use. A completion never fails: a missing or broken
store completes nothing.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from oauthcli.store import StoreData


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    return [v for v in values if v.startswith(incomplete)]


def algorithms(incomplete: str) -> list[str]:
    from oauthcli.keys import SUPPORTED_ALGORITHMS

    return _matching(SUPPORTED_ALGORITHMS, incomplete)


def grants(incomplete: str) -> list[str]:
    from oauthcli.client.oidc_login import GRANTS

    return _matching(GRANTS, incomplete)


def client_auth_methods(incomplete: str) -> list[str]:
    from oauthcli.client.assertion import METHODS

    return _matching(METHODS, incomplete)


def formats(incomplete: str) -> list[str]:
    from oauthcli.cli.ci_output import FORMATS

    return _matching(FORMATS, incomplete)


def token_formats(incomplete: str) -> list[str]:
    """``token --format``: the token itself, env lines or a Kubernetes ExecCredential."""
    from oauthcli.cli.ci_output import TOKEN_FORMATS

    return _matching(TOKEN_FORMATS, incomplete)


def _store_data(ctx: typer.Context) -> "StoreData | None":
    import warnings

    from oauthcli import settings
    from oauthcli.errors import OAuthCliError
    from oauthcli.store import UserStore

    explicit = None
    node: Any = ctx
    while node is not None and explicit is None:  # --store here, or before the command
        explicit = node.params.get("store")
        node = node.parent
    try:
        with warnings.catch_warnings():  # a store's mode is for the command to warn about
            warnings.simplefilter("ignore")
            return UserStore(settings.store_path(explicit)).load()
    except (OAuthCliError, OSError):
        return None


def usernames(ctx: typer.Context, incomplete: str) -> list[str]:
    data = _store_data(ctx)
    return _matching(sorted(data.users) if data is not None else [], incomplete)


def client_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    data = _store_data(ctx)
    return _matching(sorted(data.clients) if data is not None else [], incomplete)


def profiles(incomplete: str) -> list[str]:
    from oauthcli import settings
    from oauthcli.client.cache import TokenCache

    return _matching(TokenCache(settings.cache_dir()).profiles(), incomplete)
