"""Training commands: demo, run, induce, and the lists of presets, datasets and tasks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import (Address, Backend, Device, Quiet, Retries, Seeds, Threads, Workers, app,
                     console, err_console, print_json)


def _run_and_report(cfg, out: Path, quiet: bool, probes=None, stop_on_alert: bool = False,
                    workers: int | None = None, threads: int | None = None,
                    backend: str = "local", address: str | None = None,
                    retries: int | None = None, device: str = "auto") -> None:
    from ..execute import backend_named

    chosen = backend_named(backend, workers, threads, address, retries)
    chosen.check()  # bad options end here, in a second, before the heavy imports below

    from ..analysis import analyze as analyze_source
    from ..pipeline import run_any
    from ..render.html import build_report
    from ..render.plots import write_plots
    from ..render.summary import findings, results_table
    from ..store import read_results
    from ..evaluate.monitor import StoppedOnAlert

    try:
        dirs = run_any(cfg, out, quiet=quiet, console=err_console, probes=probes,
                       stop_on_alert=stop_on_alert,
                       backend=chosen, device=device)
    except StoppedOnAlert as stop:
        err_console.print(f"stopped: {stop}", highlight=False)
        raise typer.Exit(3)
    for run_dir in dirs:
        results = read_results(run_dir)
        verdicts = analyze_source(run_dir).results
        plots = write_plots(results, run_dir / "report", verdicts)
        if run_dir != out:
            console.print(f"[bold]{run_dir.name}[/bold]")
        if (results["metric"] == "exact_match").any():
            console.print(results_table(results))
        for line in findings(results, verdicts):
            console.print(f"- {line}", highlight=False)
        console.print(f"results: {run_dir / 'results'} (Parquet; query with DuckDB)")
        for p in plots:
            console.print(f"plot:    {p}")
    (out / "report").mkdir(exist_ok=True)
    page = build_report(out, out / "report" / "index.html")
    console.print(f"report:  {page}   (one offline HTML page: open it in a browser)")
    console.print(f"next:    emergelab analyze {out}   (classify every curve, with thresholds)")


@app.command()
def demo(out: Path = typer.Option(Path("emergelab-demo"), help="run directory"),
         quiet: Quiet = False,
         workers: Workers = None,
         threads: Threads = None,
         backend: Backend = "local",
         device: Device = "auto",
         seeds: Seeds = None) -> None:
    """Train the built-in `quick` ladder and show emergence (a few minutes on 2 CPU cores).

    Example: emergelab demo --out emergelab-demo
    """
    from ..config import load_preset, with_seeds

    _run_and_report(with_seeds(load_preset("quick"), seeds), out, quiet, workers=workers,
                    threads=threads, backend=backend, device=device)


@app.command("run")
def run_cmd(out: Path = typer.Option(..., help="run directory (resumes if it holds this run)"),
            preset: Optional[str] = typer.Option(None, help="a named preset (see `emergelab presets`)"),
            config: Optional[Path] = typer.Option(None, help="a TOML config file"),
            probes: Optional[Path] = typer.Option(None, help="a probes TOML: capabilities to watch "
                                                  "during training (monitor.jsonl in --out)"),
            stop_on_alert: bool = typer.Option(False, "--stop-on-alert",
                                               help="stop (after a checkpoint) when a probe "
                                                    "alerts; exit code 3"),
            quiet: Quiet = False,
            workers: Workers = None,
            threads: Threads = None,
            backend: Backend = "local",
            address: Address = None,
            retries: Retries = None,
            device: Device = "auto",
            seeds: Seeds = None) -> None:
    """Train and evaluate a ladder (or a suite of experiments) from a preset or a TOML config.

    Example: emergelab run --preset quick --seeds 3 --out runs/quick3
    """
    from ..config import load_config, load_preset, with_seeds
    from ..evaluate.monitor import load_probes

    if (preset is None) == (config is None):
        raise UserError("give exactly one of --preset or --config")
    if stop_on_alert and probes is None:
        raise UserError("--stop-on-alert needs --probes")
    cfg = with_seeds(load_preset(preset) if preset else load_config(config), seeds)
    if hasattr(cfg, "recipes"):
        raise UserError(f"{preset or config} is a recipe study: run it with `emergelab induce`")
    _run_and_report(cfg, out, quiet, load_probes(probes) if probes else None, stop_on_alert,
                    workers, threads, backend, address, retries, device)


@app.command()
def induce(out: Path = typer.Option(..., help="study directory: base and recipes in "
                                              "subdirectories (resumes; a finished one is read)"),
           preset: Optional[str] = typer.Option(None, help="a named recipe study (e.g. induction)"),
           config: Optional[Path] = typer.Option(None, help="a TOML config with \\[\\[recipes]]"),
           json_out: bool = typer.Option(False, "--json", help="print the records as JSON"),
           metric: str = typer.Option("exact_match", help="the metric whose thresholds move"),
           seed_spread: Optional[float] = typer.Option(
               None, help="SD of a recipe's seed thresholds in decades, for one-seed studies"),
           quiet: Quiet = False,
           workers: Workers = None,
           threads: Threads = None,
           backend: Backend = "local",
           address: Address = None,
           retries: Retries = None,
           device: Device = "auto",
           seeds: Seeds = None) -> None:
    """Can a data recipe make an ability emerge earlier, and is it ability or a trick?

    Trains the base and each recipe on one ladder, seed set and step budget, scores every task in
    distribution and on transfer sets (fresh items, another format, harder), and classes each
    recipe: transfers, partial, test_taking, no_effect or later.

    Example: emergelab induce --preset induction --out study"""
    from ..config import load_config, load_preset, with_seeds
    from ..evaluate.registry import spec
    from ..execute import backend_named

    if (preset is None) == (config is None):
        raise UserError("give exactly one of --preset or --config")
    spec(metric)
    if seed_spread is not None and not (seed_spread >= 0 and math.isfinite(seed_spread)):
        raise UserError("--seed-spread must be a non-negative number of decades")
    cfg = with_seeds(load_preset(preset) if preset else load_config(config), seeds)
    if not hasattr(cfg, "recipes"):
        raise UserError(f"{preset or config} has no [[recipes]]: nothing to induce (train it "
                        "with `emergelab run`)")
    chosen = backend_named(backend, workers, threads, address, retries)
    chosen.check()

    from ..induce import induce as run_study
    from ..induce import read_induction
    from ..render.induction import induction_notes, induction_table, plot_induction

    run_study(cfg, out, quiet=quiet, console=err_console, backend=chosen, device=device)
    result = read_induction(out, metric, seed_spread)
    png = plot_induction(result, out / "report" / "induction.png")
    if json_out:
        print_json([r.to_json() for r in result.records])
        return
    console.print(induction_table(result))
    for line in induction_notes(result):
        console.print(f"- {line}", highlight=False)
    if png:
        console.print(f"plot:    {png}")
    console.print(f"next:    emergelab report {out} --out {out / 'report' / 'index.html'}",
                  highlight=False)


@app.command()
def presets() -> None:
    """List the named presets.

    Example: emergelab presets
    """
    from ..config import load_preset, preset_names

    def line(cfg) -> str:
        tasks = ", ".join(t.name if not t.variant else f"{t.name}/{t.variant}" for t in cfg.tasks)
        return (f"{len(cfg.ladder.d_models) * len(cfg.ladder.seeds)} models, "
                f"{cfg.train.steps} steps, tasks {tasks}")

    for name in preset_names():
        cfg = load_preset(name)
        if hasattr(cfg, "recipes"):
            console.print(f"{name}: a recipe study, {line(cfg)}; recipes "
                          + ", ".join(r.name for r in cfg.recipes), highlight=False)
        elif hasattr(cfg, "experiments"):
            console.print(f"{name}: a suite of {len(cfg.experiments)} experiments", highlight=False)
            for exp in cfg.experiments:
                console.print(f"  {exp.name}: {line(exp)}", highlight=False)
        else:
            console.print(f"{name}: {line(cfg)}", highlight=False)


@app.command()
def datasets() -> None:
    """List the published tables that come with EmergeLab.

    A dataset's name stands for its file wherever a command reads a table.

    Example: emergelab analyze pythia --where "family = 'pythia' AND shots = 0"
    """
    from ..datasets import DATASETS, datasets_dir

    import textwrap

    root = datasets_dir()
    width = min(console.width, 100)
    for name, (file, what) in DATASETS.items():
        there = "" if (root / file).exists() else "  (missing from this checkout)"
        console.print(f"{name}  datasets/{file}{there}", highlight=False)
        console.print(textwrap.fill(what, width, initial_indent="    ", subsequent_indent="    "),
                      highlight=False, soft_wrap=True)
    console.print(f"Sources, licences and caveats: the READMEs in {root}", highlight=False,
                  soft_wrap=True)


@app.command()
def tasks(name: Optional[str] = typer.Argument(None, help="show samples of this task"),
          variant: Optional[str] = typer.Option(None, help="task variant"),
          n: int = typer.Option(5, "--n", "-n", min=1, help="samples to show"),
          seed: int = typer.Option(0, help="sampling seed")) -> None:
    """List the tasks, or show samples of one.

    Example: emergelab tasks add --variant scratchpad
    """
    import random

    from rich.table import Table

    from ..tasks import REGISTRY, build_task

    if name is None:
        table = Table(title="Tasks")
        for col in ("task", "variants", "description"):
            table.add_column(col)
        for tname, cls in sorted(REGISTRY.items()):
            table.add_row(tname, ", ".join(cls.variants), cls.description)
        console.print(table)
        return
    task = build_task(name, variant)
    rng = random.Random(seed)
    table = Table(title=f"{task.id}: {task.description}")
    for col in ("prompt", "target", "split"):
        table.add_column(col)
    for _ in range(n):
        ex = task.sample(rng)
        table.add_row(ex.prompt, ex.target, task.split_of(ex))
    console.print(table)
