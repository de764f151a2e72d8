"""Command-line layer. ``main`` is the single error boundary of oauthcli."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oauthcli import settings
from oauthcli.errors import ExitCode, OAuthCliError

if TYPE_CHECKING:
    import logging


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
    handler = _debug_log_handler() if debug else None
    try:
        result = command.main(args=args, prog_name="oauthcli", standalone_mode=False)
    except OAuthCliError as exc:
        if debug:
            _print_traceback()
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
            _print_traceback()
            return int(ExitCode.INTERNAL)
        output.error(
            f"internal error ({type(exc).__name__}); this is a bug in oauthcli: "
            "rerun with --debug for the traceback and report it"
        )
        return int(ExitCode.INTERNAL)
    finally:
        if handler is not None:
            import logging

            logging.getLogger("oauthcli").removeHandler(handler)
    return result if isinstance(result, int) else int(ExitCode.OK)


def _print_traceback() -> None:
    """The current exception's traceback on stderr, with every secret this run read masked.

    People paste these into bug reports: the password, client secrets and
    ``$OAUTHCLI_CLIENT_SECRET`` are replaced by ``***`` exactly as in the one-line
    message, and server text in exception messages is cleaned of escape sequences.
    """
    from oauthcli.client.secret import registered
    from oauthcli.text import clean

    text = traceback.format_exc()
    sys.stderr.write(clean(text, None, registered(), keep_lines=True))


def _debug_log_handler() -> logging.Handler:
    """``--debug``: the core's log lines (which proxy a request went through ...) on stderr."""
    import logging

    from oauthcli.client.secret import registered
    from oauthcli.text import clean

    class ToStderr(logging.Handler):
        # sys.stderr looked up at each line: the test runner swaps it per invocation.
        def emit(self, record: logging.LogRecord) -> None:
            line = clean(record.getMessage(), None, registered())
            sys.stderr.write(f"oauthcli: debug: {line}\n")

    handler = ToStderr(logging.DEBUG)
    logger = logging.getLogger("oauthcli")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


def _reader_went_away() -> int:
    """``oauthcli ... | head``: stop quietly, and keep Python from complaining at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitCode.OK)
