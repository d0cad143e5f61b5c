"""The `emergelab` command: one module per command group, each parsing its options, calling the
library and rendering. Errors a user can cause end with one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import typer

from ..errors import UserError
# each registers its commands on app; --help lists them in this order
from . import runs, verdicts, laws, evals  # noqa: F401, I001
from .common import app, fail, plain_help

try:  # recent Typer vendors Click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older Typer depends on Click
    from click import exceptions as _click_exceptions

__all__ = ["app", "main", "plain_help"]


def main() -> None:
    try:
        command = typer.main.get_command(app)
        plain_help(command)
        code = command(standalone_mode=False)  # Click returns Exit codes instead of raising
        if code == 130:  # Click turned Ctrl-C into its Abort code without a word
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as err:
        fail(str(err))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: rerun the same command to resume\n")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except _click_exceptions.ClickException as err:  # usage errors: one line, exit 2
        if not err.format_message():  # no arguments: help was already shown
            sys.exit(err.exit_code)
        fail(err.format_message())
