"""The Typer application: global options and the command groups, registered lazily.

Command modules import only typer at module level; everything heavier
(cryptography through PyJWT, httpx, fastapi) is imported inside the command
that needs it. On top of that, ``oauthcli user list`` or ``oauthcli verify
--help`` imports and builds only the module of the command it names
(:func:`app_for`); the full tree (``oauthcli.cli.app.app``) is built on first
use, for root help, typos ("did you mean") and shell completion.

Command modules (and ``options.py``) do not use ``from __future__ import annotations``:
Typer would evaluate every parameter's annotation string, twice, each time it builds
the tree (about 60 ms for root help); names imported only for type checking are quoted.
"""

import copy
import importlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer

from oauthcli import __version__
from oauthcli.cli import common, complete

# Top-level command or group name -> the module under oauthcli.cli that defines it, in the
# order root help lists them. A module with ``register(app)`` adds its commands (several
# may share one module); one with a Typer ``app`` is added as a group of that name.
COMMANDS: dict[str, str] = {
    "init": "init_cmd",
    "login": "tokens_cmd",
    "refresh": "tokens_cmd",
    "logout": "tokens_cmd",
    "exchange": "exchange_cmd",
    "status": "status_cmd",
    "whoami": "status_cmd",
    "issue": "issue_cmd",
    "decode": "inspect_cmd",
    "verify": "inspect_cmd",
    "call": "http_cmd",
    "header": "http_cmd",
    "token": "provider_cmd",
    "kubeconfig": "provider_cmd",
    "revoke": "provider_cmd",
    "introspect": "provider_cmd",
    "userinfo": "provider_cmd",
    "serve": "serve_cmd",
    "control": "control_cmd",
    "audit": "audit_cmd",
    "user": "user_cmd",
    "client": "client_cmd",
    "keys": "keys_cmd",
    "profile": "status_cmd",
}

# Groups among COMMANDS (their module has a Typer ``app``).
GROUPS = frozenset({"user", "client", "keys", "profile"})

# Each command's line in root help (its click ``short_help``). Kept here, not only in
# the docstrings, so that root help into a pipe lists them without importing a command
# module (:func:`listing_app`); a test checks that listing equals the full tree's.
SUMMARIES: dict[str, str] = {
    "init": "Create a user store, a signing key, a first user and client.",
    "login": "Log in and cache the tokens in the profile.",
    "refresh": "Trade the profile's refresh token for a new pair.",
    "logout": "Forget a profile's tokens (revoked first where possible).",
    "exchange": "Exchange a token for the provider's (RFC 8693) and cache it.",
    "status": "Show each profile: who, where, expiry, whether it is usable.",
    "whoami": "The same as 'status'.",
    "issue": "Mint an access token without a password, for tests and CI.",
    "decode": "Show a token's header and claims WITHOUT checking it.",
    "verify": "Verify a token's signature and claims.",
    "call": "Call a protected endpoint with the cached bearer token.",
    "header": "Print 'Authorization: Bearer <token>' for curl -H.",
    "token": "Print the profile's access token, refreshed if expired.",
    "kubeconfig": "Print a kubeconfig that asks oauthcli for the token.",
    "revoke": "Revoke the profile's tokens at its provider (RFC 7009).",
    "introspect": "Ask the provider whether a token is active (RFC 7662).",
    "userinfo": "Show the provider's userinfo (OpenID Connect).",
    "serve": "Serve the store's users as an OAuth2/OpenID provider.",
    "control": "Drive a running 'serve --control': faults, clock, request log.",
    "audit": "List what is risky about a token.",
    "user": "Manage users in the TOML user store.",
    "client": "Manage OAuth clients in the user store.",
    "keys": "Create signing keys and publish their public halves (JWKS).",
    "profile": "List and remove token cache profiles.",
}

# Examples per command (one a line), shown at the end of its --help (tests check that every
# command has one and that its options exist).
EXAMPLES: dict[tuple[str, ...], str] = {
    (): "oauthcli init --user alice && oauthcli login alice --print | oauthcli decode -",
    ("init",): "oauthcli init --user alice",
    ("exchange",): "\n".join(
        [
            "oauthcli exchange --issuer-url https://idp.example --client-id ci "
            "--client-secret-file ci.secret --subject-token-source github-actions",
            "printf '%s\\n' \"$TOKEN\" | oauthcli exchange --issuer-url https://idp.example "
            "--client-id ci --subject-token - --audience https://api.example",
        ]
    ),
    ("login",): "\n".join(
        [
            "printf 'secret\\n' | oauthcli login alice --password-stdin --print",
            "oauthcli login --issuer-url http://127.0.0.1:8000 --client-id cli   # browser",
            "oauthcli login --issuer-url https://idp.example --client-id cli --grant device-code",
            "oauthcli login alice --app http://127.0.0.1:8000   # the app's /openapi.json",
            "oauthcli login --url https://idp.example/token --grant client-credentials "
            "--client-id ci-bot --client-secret-file ci-bot.secret",
        ]
    ),
    ("refresh",): "oauthcli refresh --profile ci",
    ("logout",): "oauthcli logout --profile ci",
    ("status",): "oauthcli status --json",
    ("whoami",): "oauthcli whoami --profile ci",
    ("profile",): "oauthcli profile list",
    ("profile", "list"): "oauthcli profile list --json",
    ("profile", "rm"): "oauthcli profile rm ci",
    ("issue",): "oauthcli issue --sub alice --scope 'me items' --ttl 5m",
    ("decode",): "oauthcli issue --sub alice | oauthcli decode -",
    ("verify",): 'oauthcli verify "$TOKEN" --jwks https://auth.example/.well-known/jwks.json',
    ("call",): "oauthcli call http://127.0.0.1:8000/users/me/",
    ("header",): 'curl -H "$(oauthcli header)" http://127.0.0.1:8000/users/me/',
    ("serve",): "oauthcli serve --port 8000",
    ("control",): "oauthcli control fail-next endpoint=token error=invalid_grant",
    ("token",): 'curl -H "Authorization: Bearer $(oauthcli token)" https://api.example/me',
    (
        "kubeconfig",
    ): "oauthcli kubeconfig --profile dev --server https://k8s.example:6443 > kube.yaml",
    ("revoke",): "oauthcli revoke --profile ci",
    (
        "introspect",
    ): 'oauthcli introspect "$TOKEN" --issuer-url https://auth.example --client-id api --client-secret-file api.secret',
    ("userinfo",): "oauthcli userinfo --json",
    ("audit",): 'oauthcli audit "$TOKEN" --secret-file hs256.secret',
    ("user",): "oauthcli user add alice --scope me",
    ("user", "add"): "oauthcli user add alice --full-name 'Alice Liddell' --scope me --scope items",
    ("user", "list"): "oauthcli user list --json",
    ("user", "show"): "oauthcli user show alice",
    ("user", "passwd"): "printf 'new-password\\n' | oauthcli user passwd alice --password-stdin",
    ("user", "set"): "oauthcli user set alice --add-scope items --email alice@example.com",
    ("user", "disable"): "oauthcli user disable alice",
    ("user", "enable"): "oauthcli user enable alice",
    ("user", "remove"): "oauthcli user remove alice",
    ("client",): "oauthcli client add ci-bot --scope items --new-secret-file ci-bot.secret",
    ("client", "add"): "oauthcli client add ci-bot --scope items --new-secret-file ci-bot.secret",
    ("client", "list"): "oauthcli client list --json",
    ("client", "remove"): "oauthcli client remove ci-bot",
    ("client", "disable"): "oauthcli client disable ci-bot",
    ("client", "enable"): "oauthcli client enable ci-bot",
    ("keys",): "oauthcli keys generate --alg ES256 --out signing.pem",
    ("keys", "generate"): "oauthcli keys generate --alg ES256 --out signing.pem",
    ("keys", "jwks"): "oauthcli keys jwks signing.pem > jwks.json",
}

# Root options that take a value: skipped when looking for the command name.
_VALUE_OPTIONS = {"--store", "--profile", "--token-store"}
# Root options that take none.
_FLAG_OPTIONS = {"--debug", "--interactive", "--non-interactive"}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oauthcli {__version__}")
        raise typer.Exit()


def root(
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="User store file (env OAUTHCLI_STORE, default ./users.toml).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Token cache profile (env OAUTHCLI_PROFILE).",
            show_default=False,
            autocompletion=complete.profiles,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
    token_store: Annotated[
        str | None,
        typer.Option(
            "--token-store",
            help="Where tokens are kept: auto (the OS keyring when there is one, else the "
            "0600 file, said once), keyring or file (env OAUTHCLI_TOKEN_STORE; default auto).",
            show_default=False,
        ),
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--non-interactive",
            help="Whether a person is here to log in (browser, device code, password prompt). "
            "Default: yes at a terminal, no in CI (CI=true) or without a terminal on stdin "
            "(env OAUTHCLI_INTERACTIVE=1/0). Without one, what needs a person exits 3 at once.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Issue, inspect and verify OAuth2 tokens and JWTs.

    Exit codes: 0 ok, 1 internal error, 2 usage, 3 authentication failed,
    4 token invalid, 5 token expired or not yet valid, 6 network or remote
    server error, 7 store or configuration error, 130 interrupted (Ctrl-C).
    """
    common.set_global_options(
        store=store,
        profile=profile,
        debug=debug,
        interactive=interactive,
        token_store=token_store,
    )


def _new_app(*, completion: bool) -> typer.Typer:
    new = typer.Typer(
        name="oauthcli",
        no_args_is_help=True,
        add_completion=completion,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    new.callback()(root)
    return new


def _register(target: typer.Typer, module_name: str) -> None:
    module: Any = importlib.import_module(f"oauthcli.cli.{module_name}")
    if hasattr(module, "register"):
        module.register(target)
    else:
        name = next(n for n, m in COMMANDS.items() if m == module_name)
        target.add_typer(module.app, name=name)
    infos: list[Any] = [*target.registered_commands, *target.registered_groups]
    for info in infos:
        if info.name in SUMMARIES:
            info.short_help = SUMMARIES[info.name]


def _listed(_ctx: typer.Context) -> None:  # pragma: no cover - never run: help only
    """Stands for a command in root help's list."""


@cache
def listing_app() -> typer.Typer:
    """Root help's tree: every command's name and summary, no command module imported.

    Building the full tree imports every command module and reads every signature;
    root help into a pipe (a CI log, ``| less``) prints only names and summaries.
    """
    listing = _new_app(completion=True)
    for name in COMMANDS:
        if name not in GROUPS:
            listing.command(name, short_help=SUMMARIES[name], add_help_option=False)(_listed)
    for name in COMMANDS:
        if name in GROUPS:
            listing.add_typer(typer.Typer(), name=name, short_help=SUMMARIES[name])
    return listing


def is_root_help(args: Sequence[str]) -> bool:
    """``oauthcli [--store X] [--profile P] [--debug] [--non-interactive] --help``: root help and nothing else."""
    index = 0
    while index < len(args) - 1:
        option = args[index].split("=", 1)[0]
        if option not in (*_VALUE_OPTIONS, *_FLAG_OPTIONS):
            return False
        index += 2 if args[index] in _VALUE_OPTIONS else 1
    return index == len(args) - 1 and args[index] in ("--help", "-h")


@cache
def full_app() -> typer.Typer:
    """Every command, in root help's order; with ``--install-completion``/``--show-completion``."""
    full = _new_app(completion=True)
    for module_name in dict.fromkeys(COMMANDS.values()):
        _register(full, module_name)
    order = list(COMMANDS)
    full.registered_commands.sort(key=lambda info: order.index(info.name or ""))
    full.registered_groups.sort(key=lambda info: order.index(info.name or ""))
    return full


def __getattr__(name: str) -> Any:
    # ``from oauthcli.cli.app import app``: the full tree, built on first use.
    if name == "app":
        return full_app()
    raise AttributeError(name)


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app to run ``args`` with: when they name a command, a tree holding only it.

    Importing every command module and building Typer's tree for all of them
    inspects the signature of every command; ``oauthcli user list`` in a CI loop
    needs only the ``user`` group. Root help, typos and anything unclear get the
    full tree. Completion options belong to the root, so the partial tree has none.
    """
    index = 0
    while index < len(args) and args[index].startswith("-"):
        option = args[index].split("=", 1)[0]
        if option not in (*_VALUE_OPTIONS, *_FLAG_OPTIONS):
            return full_app()  # --help, --version, "--" or an unknown option: the root handles it
        index += 2 if args[index] in _VALUE_OPTIONS else 1
    if index >= len(args) or args[index] not in COMMANDS:
        return full_app()
    name = args[index]
    only = _new_app(completion=False)
    _register(only, COMMANDS[name])
    only.registered_commands = [i for i in only.registered_commands if i.name == name]
    only.registered_groups = [i for i in only.registered_groups if i.name == name]
    return only


def prepare_tree(command: Any, *, plain_help: bool) -> None:
    """Finish the built part of the command tree (it is built anew for each run).

    - each command gets its example as the help epilog;
    - arguments are named in capitals in usage lines (``[TOKEN]``, ``USERNAME``);
    - ``--key ''`` is a mistake (an unset variable), not the current directory: every
      parameter typed as a path, or whose metavar names a FILE, is checked first;
    - for plain help (not a terminal), each command's ``rich_markup_mode`` is None
      (Typer's public switch to click's plain help, which loads no Rich) and the ``\\[``
      that keeps Rich from reading ``[issuer]`` as markup is taken out.
    """
    stack: list[tuple[tuple[str, ...], Any]] = [((), command)]
    while stack:
        path, current = stack.pop()
        stack.extend(((*path, name), sub) for name, sub in getattr(current, "commands", {}).items())
        example = EXAMPLES.get(path)
        if example and not current.epilog:
            current.epilog = _epilog(example.splitlines(), plain_help)
        if getattr(current, "params", None) is not None:
            _usage_without_braces(current)
        if plain_help:
            current.rich_markup_mode = None
            for attr in ("help", "short_help", "epilog"):
                text = getattr(current, attr, None)
                if text:
                    setattr(current, attr, text.replace("\\[", "["))
        for param in current.params:
            if plain_help and getattr(param, "help", None):
                param.help = param.help.replace("\\[", "[")
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = (param.name or "").upper() + ("..." if param.nargs != 1 else "")
            _refuse_empty_path(param)


def _epilog(examples: list[str], plain_help: bool) -> str:
    title = "Example:" if len(examples) == 1 else "Examples:"
    if plain_help:  # "\b" keeps click from rewrapping the examples
        return "\b\n" + title + "".join(f"\n  {e}" for e in examples)
    # Rich help: a paragraph a line (Rich joins lines of one paragraph).
    return "\n\n".join([title, *examples])


def _usage_without_braces(command: Any) -> None:
    """Usage lines name a required argument ``USERNAME``, not Typer's ``{USERNAME}``
    (an optional one stays ``[TOKEN]``, as click and most tools write them)."""
    if getattr(command, "_plain_usage", False):
        return
    command._plain_usage = True
    pieces = command.collect_usage_pieces

    def collect(ctx: Any) -> list[str]:
        return [
            p[1:-1] if p.startswith("{") and p.endswith("}") and "{" not in p[1:] else p
            for p in pieces(ctx)
        ]

    command.collect_usage_pieces = collect


def _refuse_empty_path(param: Any) -> None:
    from oauthcli.errors import UsageError

    is_path = "Path" in type(param.type).__name__ or "FILE" in (param.metavar or "")
    if not is_path or getattr(param, "_empty_checked", False):
        return
    param._empty_checked = True
    convert = param.type.convert

    def checked(value: Any, p: Any, ctx: Any) -> Any:
        if isinstance(value, str) and value == "":
            raise UsageError(f"{_param_name(p)}: empty path")
        return convert(value, p, ctx)

    param.type = copy.copy(param.type)  # the type object may be shared with other parameters
    param.type.convert = checked


def _param_name(param: Any) -> str:
    if param is None:
        return "a path"
    if getattr(param, "param_type_name", "") == "option" and param.opts:
        return str(param.opts[0])
    return str(param.human_readable_name).upper()


__all__ = ["COMMANDS", "EXAMPLES", "app_for", "full_app", "prepare_tree", "root"]
