"""Reading results: analyze, shots, compare, report, predict, obs-scaling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import (Address, Backend, Device, Quiet, Retries, Threads, Workers, app, as_flags,
                     console, ensure_dir, err_console, fmt, num, print_json, split_list)


@app.command()
def compare(run_a: Path = typer.Argument(..., help="results of the first recipe (run dir, CSV, ...)"),
            run_b: Path = typer.Argument(..., help="results of the second recipe"),
            x: Optional[str] = typer.Option(None, help="scale column (default params_nonembed)"),
            metric: str = typer.Option("exact_match", help="the metric whose thresholds to compare"),
            json_out: bool = typer.Option(False, "--json", help="print JSON"),
            plot: Optional[Path] = typer.Option(None, help="write one PNG per task (both runs' "
                                                          "curves, the common level) here"),
            seed_spread: Optional[float] = typer.Option(
                None, help="SD of a recipe's seed thresholds in decades (analyze of a multi-seed "
                           "run prints it): widens a side that has one seed"),
            where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter "
                                                           "both sides' rows")) -> None:
    """How far a data recipe moves each task's threshold: run A against run B.

    Threshold shift of every task between two runs (e.g. direct vs chain-of-thought data):
    how many decades earlier or later it emerges, with a 95% interval and a significance call.

    Example: emergelab compare runs/direct runs/cot --plot plots
    """
    from rich.table import Table

    from ..analysis.verdicts.compare import shift_text
    from ..library import compare as compare_runs

    if seed_spread is not None and not (seed_spread >= 0 and math.isfinite(seed_spread)):
        raise UserError("--seed-spread must be a non-negative number of decades")
    ensure_dir(plot)
    result = compare_runs(run_a, run_b, metric=metric, x=x, where=where, seed_spread=seed_spread)
    rows, a_curves, b_curves = result.rows, result.curves_a, result.curves_b
    if plot is not None:
        from ..render.curves import plot_comparison

        for p in plot_comparison(rows, a_curves, b_curves, (run_a.name, run_b.name), plot):
            err_console.print(f"plot: {p}", highlight=False)
    if json_out:
        print_json(rows)
        return
    console.print(f"A = {run_a}, B = {run_b}", highlight=False)
    table = Table(title=f"{metric}: where each reaches one common level (x = {result.x})")
    for col, justify in (("task", "left"), ("level", "right"), ("A at", "right"),
                         ("B at", "right"), ("shift B-A [95% CI]", "right"), ("sig.", "left")):
        table.add_column(col, justify=justify, overflow="fold")

    def at(r, side):  # a censored curve gets there beyond its largest model, if at all
        v = r[f"x_at_level_{side}"]
        return num(v) if v is not None else f">{num(r[f'largest_{side}'])}"

    def task_label(r):
        va, vb = r["variant_a"], r["variant_b"]
        if va == vb:
            return r["task"] if va in (None, "plain") else f"{r['task']}/{va}"
        return f"{r['task']}: {va or 'plain'} -> {vb or 'plain'}"

    for r in rows:
        ci = r["shift_ci"]
        shift = shift_text(r)
        if ci:
            shift += f" [{fmt(ci[0], '+.2f') or '-inf'}, {fmt(ci[1], '+.2f') or '+inf'}]"
        table.add_row(task_label(r), fmt(r["level"], ".2f"), at(r, "a"), at(r, "b"), shift,
                      {True: "yes", False: "no", None: "?"}[r["significant"]])
    console.print(table)
    console.print("shift in decades of x: negative, B reaches the level at a smaller scale; "
                  "each side's class is in --json (class_a, class_b)", highlight=False)
    said = {"measured": "its own seeds", "pooled": "one seed, spread from the other side's",
            "given": "--seed-spread"}
    for sa, sb in sorted({(r["seeds_a"], r["seeds_b"]) for r in rows if r.get("seeds_a")}):
        if sa in said:
            console.print(f"seed-to-seed variation: A {said[sa]}, B {said[sb]}",
                          highlight=False)
    notes = sorted({r["note"] for r in rows if r.get("note")})
    for note in notes:
        console.print(f"?: {note}", highlight=False)


@app.command()
def report(source: Path = typer.Argument(..., help="a run dir, a suite, or any results table "
                                                    "analyze reads"),
           out: Path = typer.Option(..., help="the HTML file to write"),
           where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter "
                                                          "rows")) -> None:
    """Write the offline HTML report of a run or any results table.

    One self-contained HTML page: curves with intervals and a metric switch, the sortable
    verdicts, each size's generations, monitor alerts. Opens offline.

    Example: emergelab report emergelab-demo --out report.html
    """
    from ..render.html import build_report

    console.print(f"report: {build_report(source, out, where=where)}")


@app.command()
def analyze(source: Path = typer.Argument(..., help="results CSV/Parquet, a run dir, or a dir of "
                                                     "lm-evaluation-harness JSON"),
            x: Optional[str] = typer.Option(None, help="scale column (default params_nonembed, "
                                                       "else params)"),
            where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
            backtest: int = typer.Option(0, min=0, help="forecast the largest K points from the "
                                                        "rest (as `predict` does), report the "
                                                        "mean absolute error"),
            json_out: bool = typer.Option(False, "--json", help="print a JSON array"),
            plot: Optional[Path] = typer.Option(None, help="write PNG curves to this directory"),
            pool: bool = typer.Option(False, "--pool-families",
                                      help="one curve across all families (cross-family scaling)"),
            hard_width: float = typer.Option(1.0, help="widest 10-90% rise (decades) still called "
                                                       "hard emergence"),
            useful: float = typer.Option(0.5, help="usefulness level for soft emergence: this "
                                                   "share of the way from the baseline to the "
                                                   "metric's best value"),
            arms: Optional[str] = typer.Option(None, help="declare an ablation: one curve per "
                                                          "value of this column in every family "
                                                          "(our runs declare theirs in config)"),
            ci_level: Optional[float] = typer.Option(None, help="level of the table's ci_low/"
                                                                "ci_high (default: the run's, "
                                                                "else 0.95)")) -> None:
    """Classify emergence in every curve: hard, soft, fake; thresholds and why.

    Detect and classify emergence in every curve of a results table: hard / soft / fake
    emergence, thresholds with calibrated 95% intervals.

    Example: emergelab analyze pythia --where "family = 'pythia' AND shots = 0"
    """
    from ..analysis import analyze as analyze_source

    if x == "shots":
        raise UserError("in-context learning over shot counts is its own command: "
                        "emergelab shots SOURCE")
    ensure_dir(plot)
    a = analyze_source(source, x=x, where=where, pool_families=pool, backtest=backtest,
                       hard_width=hard_width, useful=useful, arms=arms, ci_level=ci_level)
    for note in a.notes:
        err_console.print(f"note: {as_flags(note)}", highlight=False)
    if plot:
        from ..render.curves import plot_curves

        for p in plot_curves(a.curves, plot):
            err_console.print(f"plot: {p}", highlight=False)
    if json_out:
        print_json([r.to_json() for r in a.results])
        return
    from ..render.tables import analysis_table

    table, legend = analysis_table(a, backtest=bool(backtest))
    table.render(console)
    for line in legend:
        console.print(line, highlight=False)
    seeded = any(r.seed_variance == "measured" for r in a.results)
    unmeasured = [r for r in a.results if r.seed_variance != "measured"]
    if unmeasured:
        most = max(c["count"] for r in unmeasured for c in (r.seeds or [{"count": 1}]))
        who = ("curves without a seed column" if seeded else
               "one training seed per size" if most == 1 else
               f"{most} seeds, but too few sizes each for a threshold per seed")
        console.print(f"{who}: intervals cover evaluation noise only (seed-to-seed variation "
                      "not measured)", highlight=False)


@app.command()
def shots(source: Path = typer.Argument(..., help="results at two or more shot counts (a run, a "
                                                  "table, a dataset's name)"),
          where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
          json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """In-context learning: each model's few-shot gain over 0-shot.

    In-context learning as Wei et al. (2022) read it: each model's score at k shots against
    0-shot, and from which size up the few-shot gain is positive.

    Example: emergelab shots pythia --where "family = 'pythia' AND final_checkpoint"
    """
    from ..analysis.verdicts.in_context import shot_gains
    from ..render.tables import shots_table

    gains = shot_gains(source, where)
    if json_out:
        print_json([g.to_json() for g in gains])
        return
    table, lines = shots_table(gains, source)
    table.render(console)
    for line in lines:
        console.print(line, highlight=False)


@app.command()
def predict(source: Path = typer.Argument(..., help="a run dir, a suite, or any results table "
                                                    "analyze reads"),
            x: Optional[str] = typer.Option(None, help="scale column (default params_nonembed, "
                                                       "else params)"),
            where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
            train_below: Optional[float] = typer.Option(None, help="fit only points with x below "
                                                                   "this; forecast the rest"),
            at: Optional[str] = typer.Option(None, help="also forecast at these x, "
                                                        "comma-separated"),
            signal: str = typer.Option("auto", help="auto, token_accuracy^L, val_loss, "
                                                    "pass_prob, finetune or metric"),
            finetune: bool = typer.Option(False, "--finetune",
                                          help="fine-tune the members below --train-below on k "
                                               "examples of each task with an exact-match "
                                               "curve, and forecast from their emergence law"),
            finetune_k: Optional[str] = typer.Option(None, help="the k grid of --finetune, "
                                                            "comma-separated (default "
                                                            "64,512,4096)"),
            finetune_steps: Optional[int] = typer.Option(None, help="steps of each --finetune "
                                                                "probe (default: the run's)"),
            json_out: bool = typer.Option(False, "--json", help="print JSON"),
            plot: Optional[Path] = typer.Option(None, help="write one PNG per forecast curve "
                                                          "here"),
            quiet: Quiet = False,
            workers: Workers = None,
            threads: Threads = None,
            backend: Backend = "local",
            address: Address = None,
            retries: Retries = None,
            device: Device = "auto") -> None:
    """Forecast every curve from its smaller models, or say "no signal yet".

    Forecast every curve from its smaller models: values at held-out sizes with 90%
    intervals, and where the forecast crosses halfway to the metric's best value (the
    threshold). Says which signal each forecast used, or "no signal yet". With --finetune,
    copies of the small members are fine-tuned on the task first (kept in RUN/finetune/;
    --backend and its options say where they run).

    Example: emergelab predict emergelab-demo --train-below 30000 --finetune
    """
    from ..analysis.forecasting.predict_source import predict as predict_source

    at_values = None
    if at is not None:
        try:
            at_values = [float(v) for v in split_list(at)]
        except ValueError:
            raise UserError(f"--at takes comma-separated numbers (got {at!r})") from None
    if not finetune:
        for name, value in (("--finetune-k", finetune_k), ("--finetune-steps", finetune_steps),
                            ("--workers", workers), ("--threads", threads),
                            ("--address", address), ("--retries", retries)):
            if value is not None:
                raise UserError(f"{name} is an option of --finetune")
        if backend != "local":
            raise UserError("--backend is an option of --finetune")
    ensure_dir(plot)
    if finetune:
        from ..execute import backend_named
        from ..probing import DEFAULT_GRID, predict_with_probes

        try:
            grid = DEFAULT_GRID if finetune_k is None else [int(v) for v in split_list(finetune_k)]
        except ValueError:
            raise UserError(f"--finetune-k takes comma-separated whole numbers "
                            f"(got {finetune_k!r})") from None
        chosen = backend_named(backend, workers, threads, address, retries)
        p = predict_with_probes(source, train_below, grid, finetune_steps, chosen, device, x=x,
                                where=where, at=at_values, signal=signal, quiet=quiet,
                                console=err_console)
    else:
        p = predict_source(source, x=x, where=where, train_below=train_below, at=at_values,
                           signal=signal)
    if plot is not None:
        from ..render.forecast_plots import plot_forecasts

        for path in plot_forecasts(p.forecasts, plot):
            err_console.print(f"plot: {path}", highlight=False)
    if json_out:
        print_json([f.to_json() for f in p.forecasts])
        return
    from ..render.tables import forecast_table

    table, legend = forecast_table(p, source, train_below)
    table.render(console)
    for line in legend:
        console.print(line, highlight=False)


@app.command("obs-scaling")
def obs_scaling(base: Path = typer.Argument(..., help="standard benchmarks of many models "
                                                      "(obs-base, or its CSV)"),
                target: Path = typer.Argument(..., help="the tasks to forecast (obs-emergent, "
                                                        "or its CSV)"),
                train_below: float = typer.Option(..., help="fit on models trained with fewer "
                                                            "FLOPs; forecast the rest"),
                json_out: bool = typer.Option(False, "--json", help="print JSON"),
                plot: Optional[Path] = typer.Option(None, help="write PNGs here")) -> None:
    """Forecast emergent tasks from standard benchmarks (Ruan et al. 2024).

    Observational scaling (Ruan et al. 2024): forecast large models' emergent tasks from a
    low-dimensional capability space of standard benchmarks, against a log-FLOPs reference.

    Example: emergelab obs-scaling obs-base obs-emergent --train-below 8.4e22
    """
    from ..analysis.forecasting.obs_scaling import observational_forecast

    ensure_dir(plot)
    r = observational_forecast(base, target, train_below)
    if plot is not None:
        from ..render.forecast_plots import plot_obs

        for path in plot_obs(r, plot):
            err_console.print(f"plot: {path}", highlight=False)
    if json_out:
        print_json([f.to_json() for f in r.forecasts])
        return
    from ..render.tables import obs_table

    obs_table(r, train_below).render(console)
    console.print("MAE in each column's own units (BLEU: 0-100); --json lists every model's "
                  "forecast", highlight=False)
