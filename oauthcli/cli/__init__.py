"""Command-line layer. ``main`` is the single error boundary of oauthcli."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from oauthcli import settings
from oauthcli.errors import ExitCode, OAuthCliError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
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
        sys.stderr.write("\noauthcli: aborted\n")
        return int(ExitCode.ABORTED)
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
    return result if isinstance(result, int) else int(ExitCode.OK)


def _reader_went_away() -> int:
    """``oauthcli ... | head``: stop quietly, and keep Python from complaining at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitCode.OK)
