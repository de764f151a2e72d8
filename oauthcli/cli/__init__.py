"""Command-line layer. ``main`` is the single error boundary of oauthcli."""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from oauthcli import settings
from oauthcli.errors import ExitCode, OAuthCliError, OAuthCliWarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
    with warnings.catch_warnings():
        # The core's OAuthCliWarnings become "oauthcli: warning: ..." lines, each said once.
        warnings.filterwarnings("default", category=OAuthCliWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(message: Any, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    if issubclass(category, OAuthCliWarning):
        from oauthcli.cli import output

        output.warn(str(message))
    else:  # pragma: no cover - a library's warning: Python's own format
        sys.stderr.write(warnings.formatwarning(message, category, *_args[:2]))


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or settings.debug_enabled()
    if args == ["--version"]:
        # CI scripts probe this in loops; answer before building the command tree.
        from oauthcli import __version__

        sys.stdout.write(f"oauthcli {__version__}\n")
        return int(ExitCode.OK)

    import typer

    try:
        from typer._click import exceptions as click_exceptions
    except ImportError:  # typer releases that depend on click instead of vendoring it
        from click import exceptions as click_exceptions  # type: ignore[no-redef]

    from oauthcli.cli import output
    from oauthcli.cli.app import app_for

    command = typer.main.get_command(app_for(args))
    _refuse_empty_paths(command)
    try:
        result = command.main(args=args, prog_name="oauthcli", standalone_mode=False)
    except OAuthCliError as exc:
        if debug:
            traceback.print_exc()
        output.error(str(exc))
        return int(exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except click_exceptions.NoArgsIsHelpError as exc:
        sys.stderr.write(exc.format_message() + "\n")
        return int(ExitCode.USAGE)
    except click_exceptions.UsageError as exc:
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        output.error(exc.format_message() + hint)
        return int(ExitCode.USAGE)
    except click_exceptions.ClickException as exc:
        output.error(exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _aborted()
    except BrokenPipeError:
        return _reader_went_away()
    except SystemExit:
        # Typer's core turns EPIPE into exit 1 after wrapping the streams; a closed
        # pipe (``| head``) is the reader's choice, not an error of ours.
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return _reader_went_away()
        raise
    except Exception as exc:
        if debug:
            raise
        output.error(
            f"internal error ({type(exc).__name__}); this is a bug in oauthcli: "
            "rerun with --debug for the traceback and report it"
        )
        return int(ExitCode.INTERNAL)
    if result == ExitCode.ABORTED:
        # Typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code
        # without a word; no command returns 130 itself.
        return _aborted()
    return result if isinstance(result, int) else int(ExitCode.OK)


def _aborted() -> int:
    """Ctrl-C: end the line the cursor is on (a prompt, a progress bar), then say so."""
    sys.stderr.write("\noauthcli: aborted\n")
    sys.stderr.flush()
    return int(ExitCode.ABORTED)


def _refuse_empty_paths(command: Any) -> None:
    """``--key ''`` is a mistake (an unset variable), not the current directory: say so.

    Every option typed as a path, or whose metavar names a FILE, in the part of
    the command tree that was built gets a check before its own conversion.
    """
    from oauthcli.errors import UsageError

    stack = [command]
    while stack:
        current = stack.pop()
        stack.extend(getattr(current, "commands", {}).values())
        for param in current.params:
            is_path = "Path" in type(param.type).__name__ or "FILE" in (param.metavar or "")
            if not is_path or getattr(param, "_empty_checked", False):
                continue
            param._empty_checked = True
            convert = param.type.convert

            def checked(
                value: Any, p: Any, ctx: Any, convert: Any = convert, name: str = ""
            ) -> Any:
                if isinstance(value, str) and value == "":
                    raise UsageError(f"{_param_name(p)}: empty path")
                return convert(value, p, ctx)

            param.type = _with_convert(param.type, checked)


def _param_name(param: Any) -> str:
    if param is None:
        return "a path"
    if getattr(param, "param_type_name", "") == "option" and param.opts:
        return str(param.opts[0])
    return str(param.human_readable_name).upper()


def _with_convert(param_type: Any, convert: Any) -> Any:
    import copy

    wrapped = copy.copy(param_type)  # the type object may be shared by other parameters
    wrapped.convert = convert
    return wrapped


def _reader_went_away() -> int:
    """``oauthcli ... | head``: stop quietly, and keep Python from complaining at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitCode.OK)
