"""What every command group shares: the Typer app, the consoles, the options every training
command takes, and the helpers that print JSON, check a --plot directory, and turn a library
error into one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..errors import UserError


app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure, explain and predict emergent abilities of language models.")
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        console.print(f"emergelab {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Measure, explain and predict emergent abilities of language models."""


WORKERS_HELP = ("local backend: members (predict --finetune: probes) trained side by side "
                "(default: one per core)")
THREADS_HELP = ("intra-op threads (Ray: CPUs) per member or probe (default: the cores shared "
                "out; Ray: 1; a resumed run keeps its recorded count). Results depend on this, "
                "never on the backend or --workers")
BACKEND_HELP = "how members run: local (worker processes here), ray (a Ray cluster), in-process"
ADDRESS_HELP = "--backend ray: HOST:PORT of the Ray head (default: $RAY_ADDRESS, else a local Ray)"
RETRIES_HELP = "--backend ray: times a member whose worker or node died is retried (default 3)"
SEEDS_HELP = ("training seeds per size (0..N-1; overrides ladder.seeds): thresholds become the "
              "recipe's, with intervals that hold seed-to-seed variation")
DEVICE_HELP = "where members train and are evaluated: auto (CUDA when present), cpu, cuda, mps"

# the options every training command shares, declared once
Quiet = Annotated[bool, typer.Option("--quiet", help="no progress bar")]
Workers = Annotated[Optional[int], typer.Option(min=1, help=WORKERS_HELP)]
Threads = Annotated[Optional[int], typer.Option(min=1, help=THREADS_HELP)]
Backend = Annotated[str, typer.Option(help=BACKEND_HELP)]
Address = Annotated[Optional[str], typer.Option(help=ADDRESS_HELP)]
Retries = Annotated[Optional[int], typer.Option(min=0, help=RETRIES_HELP)]
Device = Annotated[str, typer.Option(help=DEVICE_HELP)]
Seeds = Annotated[Optional[int], typer.Option(help=SEEDS_HELP)]


def split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


export_app = typer.Typer(no_args_is_help=True, help="Hand our checkpoints and tasks to other tools.")
app.add_typer(export_app, name="export")
fit_app = typer.Typer(no_args_is_help=True, help="Fit scaling laws to a results table.")
app.add_typer(fit_app, name="fit")


def print_json(obj) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def save_json(obj, path: Path) -> None:
    import json

    from ..store import write_atomic

    try:
        write_atomic(path, json.dumps(obj))
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror}") from None


def fmt(v, spec=".3g") -> str:
    return "" if v is None else format(v, spec)


def ensure_dir(path: Optional[Path]) -> None:
    """A --plot directory must be writable before any work is done, not after."""
    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot write to --plot {path}: {err.strerror}") from None


def num(v) -> str:
    """A number as every table prints it (emergelab/numbers.py)."""
    from ..numbers import num as formatted

    return formatted(v)


def as_flags(message: str) -> str:
    """The library names its parameters in backticks (`train_below`); here they are flags."""
    import re

    return re.sub(r"`([a-z][a-z_]*)`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def fail(message: str) -> None:
    """One line on stderr (never wrapped), exit code 2."""
    sys.stderr.write("error: " + " ".join(as_flags(message).split()) + "\n")
    sys.exit(2)


def reflow(text: str) -> str:
    """A docstring's prose paragraphs as single lines, so the terminal wraps them at its own
    width (80 columns broke a 90-column source line in two); command lines, indented and list
    lines keep their own line."""
    out = []
    for para in text.strip().split("\n\n"):
        lines = [ln.strip() for ln in para.strip().splitlines()]
        raw = para.strip().splitlines()
        merged = lines[:1]
        for ln, orig in zip(lines[1:], raw[1:]):
            keep = orig.startswith(" ") or ln.startswith(("emergelab ", "- ", "|", "Example"))
            merged[-1:] = [merged[-1], ln] if keep else [merged[-1] + " " + ln]
        out.append("\n".join(merged))
    return "\n\n".join(out)


def plain_help(command) -> None:
    """--help shows what to type, not Python types: an option's value as its name in capitals
    (--out OUT, --workers WORKERS), flags bare, no range notes (the help text says the limits)."""
    for param in command.params:
        if param.param_type_name == "argument":  # its name stands in the usage line already
            param.metavar = (param.name or "value").upper()
            param.display_type_rich = lambda ctx: None
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            param.metavar = (param.name or "value").upper()
        param._get_number_range_help_str = lambda: None
    make_help = command.get_help_option

    def help_option(ctx, make_help=make_help):
        option = make_help(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    if command.help:
        command.help = reflow(command.help)
    if command.help and not command.short_help:
        # a command list shows one line per command: the first sentence of its help, unwrapped
        command.short_help = " ".join(command.help.split("\n\n")[0].split())
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
