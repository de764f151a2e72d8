"""Command-line layer. ``main`` is the single error boundary of oauthcli."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from oauthcli import settings
from oauthcli.errors import ExitCode, OAuthCliError, OAuthCliWarning, Reason, family_reason

if TYPE_CHECKING:
    import logging


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
    with warnings.catch_warnings():
        # The core's OAuthCliWarnings become "oauthcli: warning: ..." lines, each said once.
        warnings.filterwarnings("always", category=OAuthCliWarning)
        warnings.showwarning = _show_warning
        _said.clear()
        printed = sys.modules.get("oauthcli.cli.output")
        if printed is not None:  # a second run in one process (tests, a Python caller)
            printed.json_printed = False  # type: ignore[attr-defined]  # a module, read by name
        return _main(argv)


# The warnings already said by this command: a store read three times (the login, the
# session start, the cache) warns about its mode once, not three times.
_said: set[str] = set()


def _show_warning(message: Any, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    if issubclass(category, OAuthCliWarning):
        from oauthcli.cli import output

        text = str(message)
        if text not in _said:
            _said.add(text)
            output.warn(text)
    else:  # pragma: no cover - a library's warning: Python's own format
        sys.stderr.write(warnings.formatwarning(message, category, *_args[:2]))


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or settings.debug_enabled()
    if args == ["--version"]:
        return _print_version()
    from oauthcli.cli import common, fastpath

    common.invocation[:] = args
    run = fastpath.match(args) or _typer_run(args)
    handler = _debug_log_handler() if debug else None
    try:
        result = run()
    except OAuthCliError as exc:
        if debug:
            _print_traceback()
        from oauthcli.cli import output

        output.error(str(exc))
        if output.wants_json(args):
            # Without a reason of its own, the error's family: usage, auth, remote, store...
            reason = exc.reason or family_reason(exc.exit_code)
            output.json_error(str(exc), reason, int(exc.exit_code))
        return int(exc.exit_code)
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, or Ctrl-D at a prompt (as click says)
        return _aborted()
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:
        if debug:
            _print_traceback()
            return int(ExitCode.INTERNAL)
        from oauthcli.cli import output

        output.error(
            f"internal error ({type(exc).__name__}); this is a bug in oauthcli: "
            "rerun with --debug for the traceback and report it"
        )
        return int(ExitCode.INTERNAL)
    finally:
        if handler is not None:
            import logging

            logging.getLogger("oauthcli").removeHandler(handler)
    if result == ExitCode.ABORTED:
        # Typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code
        # without a word; no command returns 130 itself.
        return _aborted()
    return result if isinstance(result, int) else int(ExitCode.OK)


def _typer_run(args: list[str]) -> Callable[[], Any]:
    """The run of ``args`` through Typer: its own outcomes (usage errors, ``Exit``) as codes."""
    import typer

    # Typer vendors click and publishes none of its exceptions but BadParameter: a private
    # module, so typer has a ceiling in pyproject.toml and tests/test_private_names.py.
    from typer._click import exceptions as click_exceptions

    from oauthcli.cli import output
    from oauthcli.cli.app import app_for, is_root_help, listing_app, prepare_tree

    # Help drawn by Rich is for people at a terminal; into a pipe or a CI log it is plain
    # text, and Rich (about 100 ms of imports with Typer's help renderer) is not loaded.
    plain = not sys.stdout.isatty()
    app = listing_app() if plain and is_root_help(args) else app_for(args)
    command = typer.main.get_command(app)
    prepare_tree(command, plain_help=plain)

    def run() -> Any:
        try:
            return command.main(args=args, prog_name="oauthcli", standalone_mode=False)
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
            if output.wants_json(args):
                output.json_error(exc.format_message() + hint, Reason.USAGE, int(ExitCode.USAGE))
            return int(ExitCode.USAGE)
        except click_exceptions.ClickException as exc:
            output.error(exc.format_message())
            return exc.exit_code
        except typer.Abort:
            raise KeyboardInterrupt from None
        except SystemExit:
            # Typer's core turns EPIPE into exit 1 after wrapping the streams; a closed
            # pipe (``| head``) is the reader's choice, not an error of ours.
            if type(sys.stdout).__name__ == "PacifyFlushWrapper":
                raise BrokenPipeError from None
            raise

    return run


def _print_version() -> int:
    """CI scripts probe ``--version`` in loops: answer before building the command tree."""
    from oauthcli import __version__

    sys.stdout.write(f"oauthcli {__version__}\n")
    return int(ExitCode.OK)


def _aborted() -> int:
    """Ctrl-C: end the line the cursor is on (a prompt, a progress bar), then say so."""
    sys.stderr.write("\noauthcli: aborted\n")
    sys.stderr.flush()
    return int(ExitCode.ABORTED)


def _print_traceback() -> None:
    """The current exception's traceback on stderr, with every secret this run read masked.

    People paste these into bug reports: the password, client secrets and
    ``$OAUTHCLI_CLIENT_SECRET`` are replaced by ``***`` exactly as in the one-line
    message, and server text in exception messages is cleaned of escape sequences.
    """
    import traceback

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
