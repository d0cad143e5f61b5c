"""The `emergelab` command. Errors a user can cause end with one line on stderr and exit code 2."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .errors import UserError

try:  # recent Typer vendors Click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older Typer depends on Click
    from click import exceptions as _click_exceptions

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure, explain and predict emergent abilities of language models.")
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        console.print(f"emergelab {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Measure, explain and predict emergent abilities of language models."""


WORKERS_HELP = "local backend: members trained side by side (default: one per core)"
THREADS_HELP = ("intra-op threads (Ray: CPUs) per member (default: the cores shared out; Ray: 1; "
                "a resumed run keeps its recorded count). Results depend on this, never on the "
                "backend or --workers")
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


def _run_and_report(cfg, out: Path, quiet: bool, probes=None, stop_on_alert: bool = False,
                    workers: int | None = None, threads: int | None = None,
                    backend: str = "local", address: str | None = None,
                    retries: int | None = None, device: str = "auto") -> None:
    from .execute import backend_named

    chosen = backend_named(backend, workers, threads, address, retries)
    chosen.check()  # bad options end here, in a second, before the heavy imports below

    from .analysis import analyze as analyze_source
    from .pipeline import run_any
    from .render.html import build_report
    from .render.plots import write_plots
    from .render.summary import findings, results_table
    from .store import read_results
    from .train.monitor import StoppedOnAlert

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
    from .config import load_preset, with_seeds

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
    from .config import load_config, load_preset, with_seeds
    from .train.monitor import load_probes

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
    from .config import load_config, load_preset, with_seeds
    from .evaluate.registry import spec
    from .execute import backend_named

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

    from .induce import induce as run_study
    from .induce import read_induction
    from .render.induction import induction_notes, induction_table, plot_induction

    run_study(cfg, out, quiet=quiet, console=err_console, backend=chosen, device=device)
    result = read_induction(out, metric, seed_spread)
    png = plot_induction(result, out / "report" / "induction.png")
    if json_out:
        _print_json([r.to_json() for r in result.records])
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
    from .config import load_preset, preset_names

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
    from .datasets import DATASETS, datasets_dir

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

    from .tasks import REGISTRY, build_task

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


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _shot_list(text: str) -> list[int]:
    from .tasks.fewshot import shot_counts

    try:
        return shot_counts([int(x) for x in _split_list(text)])
    except ValueError:
        raise UserError(f"--shots takes whole numbers, as in 0,1,4 (not {text!r})") from None


@app.command("eval")
def eval_cmd(model: list[str] = typer.Option(..., "--model", help="a local Hugging Face model "
                                             "directory or one of our checkpoints; repeat it or "
                                             "give a glob for a family"),
             tasks_: str = typer.Option(..., "--tasks", help="comma-separated task names "
                                        "(add1, add/reversed) or task files (BIG-bench .json, .jsonl)"),
             out: Path = typer.Option(..., help="output directory (results/, samples/); resumes"),
             n: int = typer.Option(200, "--n", "--limit", min=1,
                                   help="examples per task (lm-eval calls it --limit)"),
             batch_size: str = typer.Option("32", help="examples per forward pass, or auto: the "
                                            "largest that fits, found once per model (scores "
                                            "do not depend on it)"),
             seed: int = typer.Option(0, help="seed of the held-out examples and intervals"),
             device: str = typer.Option("auto", help="where the models are evaluated: auto "
                                                     "(CUDA when present), cpu, cuda, mps"),
             dtype: Optional[str] = typer.Option(None, help="weights' dtype: float32, bfloat16, "
                                                 "float16 (default: bfloat16 on CUDA, else "
                                                 "float32)"),
             shots: str = typer.Option("0", help="demonstrations before each question, e.g. "
                                       "0,1,4: each task is scored at every count (few-shot "
                                       "examples: a seeded set from the task's train split)"),
             family: Optional[str] = typer.Option(None, help="the models' family (default: "
                                                  "from each directory name, keeping -deduped, "
                                                  "-instruct, -chat variants apart)")) -> None:
    """Score existing models on our tasks with our metrics, into a results table.

    Example: emergelab eval --model path/to/hf-model --tasks add,word_problem --shots 0,4 --out evals
    """
    names = _split_list(tasks_)
    if not names:
        raise UserError("--tasks names no task")
    if batch_size != "auto" and not (batch_size.isdigit() and int(batch_size) >= 1):
        raise UserError(f"--batch-size takes a number of at least 1 or 'auto', not {batch_size!r}")
    counts = _shot_list(shots)

    from .evaluate.external import evaluate_models
    from .render.summary import eval_table
    from .store import read_results

    written = evaluate_models(model, names, out, n=n,
                              batch_size=batch_size if batch_size == "auto" else int(batch_size),
                              seed=seed,
                              on_model=lambda m: err_console.print(f"eval {m}", highlight=False),
                              device=device, dtype=dtype, shots=counts, family=family)
    results = read_results(out)
    console.print(eval_table(results))
    console.print(f"results: {out / 'results'} ({len(written)} models evaluated now)")
    console.print(f"next:    emergelab analyze {out} --x params")


export_app = typer.Typer(no_args_is_help=True, help="Hand our checkpoints and tasks to other tools.")
app.add_typer(export_app, name="export")


@export_app.command("hf")
def export_hf_cmd(checkpoint: Path = typer.Argument(..., help="a checkpoint step directory, or a "
                                                    "model directory (its last step)"),
                  out_dir: Path = typer.Argument(..., help="new Hugging Face model directory")) -> None:
    """A checkpoint as a Hugging Face model directory (GPT-2 architecture, same logits).

    Example: emergelab export hf emergelab-demo/checkpoints/L3-d64-s0/step000800 hf-model
    """
    from .models.hf_export import export_hf

    step_dir = export_hf(checkpoint, out_dir)
    console.print(f"exported {step_dir} -> {out_dir}")
    console.print(f"load:    AutoModelForCausalLM.from_pretrained({str(out_dir)!r})")


@export_app.command("lmeval-tasks")
def export_lmeval_cmd(out_dir: Path = typer.Argument(..., help="directory for the YAML and JSONL"),
                      tasks_: str = typer.Option(..., "--tasks", help="comma-separated task names "
                                                 "or task files"),
                      n: int = typer.Option(200, "--n", min=1, help="examples per task"),
                      seed: int = typer.Option(0, help="seed of the held-out examples"),
                      shots: int = typer.Option(0, help="demonstrations before each question: "
                                                "the same ones `eval --shots K` uses")) -> None:
    """Our tasks as lm-evaluation-harness task YAML with local JSONL data.

    Example: emergelab export lmeval-tasks lmeval-tasks --tasks add,facts --shots 4
    """
    from .evaluate.external import tasks_from_specs
    from .tasks.lmeval_export import export_lmeval_tasks, lmeval_name

    eval_tasks = tasks_from_specs(_split_list(tasks_), n, seed)
    for path in export_lmeval_tasks(eval_tasks, out_dir, shots, seed):
        console.print(f"wrote {path}")
    names = ",".join(lmeval_name(et.task) for et in eval_tasks)
    console.print(f"run:     lm_eval --model hf --model_args pretrained=MODEL_DIR "
                  f"--include_path {out_dir} --tasks {names}", highlight=False, soft_wrap=True)


fit_app = typer.Typer(no_args_is_help=True, help="Fit scaling laws to a results table.")
app.add_typer(fit_app, name="fit")
DEFAULT_FIT = "analysis/chinchilla_default_fit.json"


def _print_json(obj) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _save_json(obj, path: Path) -> None:
    import json

    from .store import write_atomic

    try:
        write_atomic(path, json.dumps(obj))
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror}") from None


def _fit_table(title: str, fit_json: dict, note: str = "") -> None:
    from rich.table import Table

    asked = bool(fit_json.get("ci"))
    table = Table(title=f"{title} ({fit_json['n_points']} points{note})\n{fit_json['formula']}")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval" if asked else "interval", justify="right")
    for k, v in fit_json["params"].items():
        ci = fit_json.get("ci", {}).get(k)
        table.add_row(k, f"{v:.4g}", f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else
                      ("" if asked else "none asked for (--bootstrap N)"))
    console.print(table)
    for warning in fit_json.get("warnings", []):
        console.print(f"warning: {warning}", highlight=False)


CHECKPOINTS_HELP = ("final: each model's last checkpoint (where the table says which), all: "
                    "every checkpoint (intermediate checkpoints of a decaying schedule sit above "
                    "the law)")


def _xy(source: Path, where: Optional[str], x: str, y: str, checkpoints: str = "final"):
    """x and y of the rows to fit (library.fit_points), and the rows."""
    from .library import fit_points

    if checkpoints not in ("final", "all"):
        raise UserError(f"--checkpoints is final or all, not {checkpoints!r}")
    df, y = fit_points(source, x, y, where, checkpoints)
    return df[x].to_numpy(), df[y].to_numpy(), df


@fit_app.command("chinchilla")
def fit_chinchilla_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet with params, tokens, loss; or a run dir"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(1000, min=0, help="bootstrap refits for intervals (0: none)"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
        save: Optional[Path] = typer.Option(None, help="write the fit with its bootstrap samples "
                                                        "(input for `emergelab plan --fit`)")) -> None:
    """L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. Approach 3, Epoch's recipe).

    Example: emergelab fit chinchilla points.csv --bootstrap 1000 --save fit.json
    """
    from .library import fit_chinchilla

    if checkpoints not in ("final", "all"):
        raise UserError(f"--checkpoints is final or all, not {checkpoints!r}")
    fit = fit_chinchilla(source, where, bootstrap=bootstrap, seed=seed, checkpoints=checkpoints)
    if save:
        _save_json(fit.to_json(include_samples=True), save)
    if json_out:
        _print_json(fit.to_json())
    else:
        _fit_table("Chinchilla fit", fit.to_json())


@fit_app.command("kaplan")
def fit_kaplan_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet or a run dir"),
        x: str = typer.Option(..., help="params, tokens or flops (any positive column)"),
        y: str = typer.Option("loss", help="the loss column (val_loss for a run dir)"),
        offset: bool = typer.Option(False, help="add an irreducible term E"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(1000, min=0, help="bootstrap resamples for intervals"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """L(x) = (x_c / x)^alpha, optionally + E (Kaplan et al. 2020).

    Example: emergelab fit kaplan emergelab-demo --x params
    """
    from .analysis.power_laws import fit_kaplan

    xs, ys, _ = _xy(source, where, x, y, checkpoints)
    fit = fit_kaplan(xs, ys, offset=offset, bootstrap=bootstrap, seed=seed).to_json()
    fit["x"] = x
    _print_json(fit) if json_out else _fit_table(f"Kaplan fit of {y} against {x}", fit)


@fit_app.command("bnsl")
def fit_bnsl_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet or a run dir"),
        x: str = typer.Option(..., help="the scale column"),
        y: str = typer.Option(..., help="the positive quantity to fit"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(0, min=0, help="bootstrap resamples for intervals (each "
                                                      "a least-squares refit: slow)"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Broken power law with one break (Caballero et al. 2022).

    Example: emergelab fit bnsl results.csv --x params --y val_loss
    """
    from .analysis.power_laws import fit_bnsl

    xs, ys, _ = _xy(source, where, x, y, checkpoints)
    fit = fit_bnsl(xs, ys, bootstrap=bootstrap, seed=seed).to_json()
    fit.update(x=x, y=y)
    _print_json(fit) if json_out else _fit_table(f"Broken power law of {y} against {x}", fit)


@app.command()
def plan(compute: float = typer.Option(..., help="training compute C in FLOPs (C = 6 N D)"),
         fit: Optional[Path] = typer.Option(None, help="a fit saved by `emergelab fit chinchilla "
                                                       "--save`; default: ours on Hoffmann et al.'s points"),
         json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Compute-optimal parameters and tokens for a budget, and the cost of deviating from it.

    Example: emergelab plan --compute 1e21 --fit fit.json
    """
    import json
    from importlib import resources

    from rich.table import Table

    from .analysis.planner import plan as make_plan

    if not compute > 0 or compute != compute or compute == float("inf"):
        raise UserError("--compute must be a positive number of FLOPs")
    try:
        text = (fit.read_text() if fit else
                resources.files("emergelab").joinpath(DEFAULT_FIT).read_text())
        data = json.loads(text)
        params = {k: float(data["params"][k]) for k in ("E", "A", "B", "alpha", "beta")}
    except OSError as err:
        raise UserError(f"cannot read {fit or 'the default fit'}: {err.strerror}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UserError(f"{fit}: not a Chinchilla fit (expected params E, A, B, alpha, beta)") from None
    p = make_plan(compute, params, data.get("bootstrap"))
    if json_out:
        _print_json(p.to_json())
        return

    def ci(name):
        c = p.ci.get(name)
        return f" [{_num(c[0])}, {_num(c[1])}]" if c else ""

    console.print(f"compute C = {compute:.3g} FLOPs; fit: {fit or 'default (Hoffmann et al. points)'}")
    console.print(f"optimal: N = {_num(p.n_opt)}{ci('params')} parameters, D = {_num(p.d_opt)}"
                  f"{ci('tokens')} tokens, {p.d_opt / p.n_opt:.1f}{ci('tokens_per_param')} tokens "
                  f"per parameter, predicted loss {p.loss:.4f}{ci('loss')}")
    table = Table(title="Same compute, other splits")
    for col in ("model size", "params", "tokens", "tokens/param", "loss", "vs optimal"):
        table.add_column(col, justify="right")
    for r in p.tradeoff:
        f = r["factor"]
        table.add_row(f"{f:g} x optimal" if f != 1 else "optimal", _num(r['params']),
                      _num(r['tokens']), f"{r['tokens_per_param']:.1f}", f"{r['loss']:.4f}",
                      f"{r['loss_vs_optimal']:+.4f}")
    console.print(table)


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

    from .analysis.compare import shift_text
    from .library import compare as compare_runs

    if seed_spread is not None and not (seed_spread >= 0 and math.isfinite(seed_spread)):
        raise UserError("--seed-spread must be a non-negative number of decades")
    _ensure_dir(plot)
    result = compare_runs(run_a, run_b, metric=metric, x=x, where=where, seed_spread=seed_spread)
    rows, a_curves, b_curves = result.rows, result.curves_a, result.curves_b
    if plot is not None:
        from .render.curves import plot_comparison

        for p in plot_comparison(rows, a_curves, b_curves, (run_a.name, run_b.name), plot):
            err_console.print(f"plot: {p}", highlight=False)
    if json_out:
        _print_json(rows)
        return
    console.print(f"A = {run_a}, B = {run_b}", highlight=False)
    table = Table(title=f"{metric}: where each reaches one common level (x = {result.x})")
    for col, justify in (("task", "left"), ("level", "right"), ("A at", "right"),
                         ("B at", "right"), ("shift B-A [95% CI]", "right"), ("sig.", "left")):
        table.add_column(col, justify=justify, overflow="fold")

    def at(r, side):  # a censored curve gets there beyond its largest model, if at all
        v = r[f"x_at_level_{side}"]
        return _num(v) if v is not None else f">{_num(r[f'largest_{side}'])}"

    def task_label(r):
        va, vb = r["variant_a"], r["variant_b"]
        if va == vb:
            return r["task"] if va in (None, "plain") else f"{r['task']}/{va}"
        return f"{r['task']}: {va or 'plain'} -> {vb or 'plain'}"

    for r in rows:
        ci = r["shift_ci"]
        shift = shift_text(r)
        if ci:
            shift += f" [{_fmt(ci[0], '+.2f') or '-inf'}, {_fmt(ci[1], '+.2f') or '+inf'}]"
        table.add_row(task_label(r), _fmt(r["level"], ".2f"), at(r, "a"), at(r, "b"), shift,
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


def _fmt(v, spec=".3g") -> str:
    return "" if v is None else format(v, spec)


def _ensure_dir(path: Optional[Path]) -> None:
    """A --plot directory must be writable before any work is done, not after."""
    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot write to --plot {path}: {err.strerror}") from None


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
    from .render.html import build_report

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
    from .analysis import analyze as analyze_source

    if x == "shots":
        raise UserError("in-context learning over shot counts is its own command: "
                        "emergelab shots SOURCE")
    _ensure_dir(plot)
    a = analyze_source(source, x=x, where=where, pool_families=pool, backtest=backtest,
                       hard_width=hard_width, useful=useful, arms=arms, ci_level=ci_level)
    for note in a.notes:
        err_console.print(f"note: {_as_flags(note)}", highlight=False)
    if plot:
        from .render.curves import plot_curves

        for p in plot_curves(a.curves, plot):
            err_console.print(f"plot: {p}", highlight=False)
    if json_out:
        _print_json([r.to_json() for r in a.results])
        return
    from .render.tables import analysis_table

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
    from itertools import groupby

    from rich.table import Table

    from .analysis.in_context import emerges_at, shot_gains
    from .render.plots import _task_label

    gains = shot_gains(source, where)
    if json_out:
        _print_json([g.to_json() for g in gains])
        return

    def curve(g):
        return (g.family, g.task, g.variant, g.metric, g.shots)

    table = Table(title=f"Few-shot gain over 0-shot (k-shot minus 0-shot) in {source}")
    for col in ("curve", "k", "model", "params", "0-shot", "k-shot", "gain [95% CI]"):
        table.add_column(col, overflow="fold")
    lines = []
    for key, grp in groupby(gains, key=curve):
        grp = list(grp)
        name = " ".join(str(v) for v in (key[0], _task_label(key[1], key[2]), key[3]) if v)
        for g in sorted(grp, key=lambda g: g.params or 0):
            ci = f" [{g.gain_ci[0]:+.2f}, {g.gain_ci[1]:+.2f}]" if g.gain_ci else ""
            table.add_row(name, str(g.shots), g.model, _num(g.params) if g.params else "",
                          f"{g.zero_shot:.2f}", f"{g.score:.2f}", f"{g.gain:+.2f}{ci}")
        at = emerges_at(grp)
        lines.append(f"{name} at {key[4]} shots: " + (
            f"the gain is positive from {_num(at)} parameters up" if at else
            "no size range with a positive gain (interval above zero)"))
    console.print(table)
    for line in lines:
        console.print(f"- {line}", highlight=False)


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
            signal: str = typer.Option("auto", help="auto, token_accuracy^L, val_loss or metric"),
            json_out: bool = typer.Option(False, "--json", help="print JSON"),
            plot: Optional[Path] = typer.Option(None, help="write one PNG per forecast curve "
                                                          "here")) -> None:
    """Forecast every curve from its smaller models, or say "no signal yet".

    Forecast every curve from its smaller models: values at held-out sizes with 90%
    intervals, and where the forecast crosses halfway to the metric's best value (the
    threshold). Says which signal each forecast used, or "no signal yet".

    Example: emergelab predict emergelab-demo --train-below 30000
    """
    from .analysis.predict_source import predict as predict_source

    at_values = None
    if at is not None:
        try:
            at_values = [float(v) for v in _split_list(at)]
        except ValueError:
            raise UserError(f"--at takes comma-separated numbers (got {at!r})") from None
    _ensure_dir(plot)
    p = predict_source(source, x=x, where=where, train_below=train_below, at=at_values,
                       signal=signal)
    if plot is not None:
        from .render.forecast_plots import plot_forecasts

        for path in plot_forecasts(p.forecasts, plot):
            err_console.print(f"plot: {path}", highlight=False)
    if json_out:
        _print_json([f.to_json() for f in p.forecasts])
        return
    from .render.tables import forecast_table

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
    from .analysis.obs_scaling import observational_forecast

    _ensure_dir(plot)
    r = observational_forecast(base, target, train_below)
    if plot is not None:
        from .render.forecast_plots import plot_obs

        for path in plot_obs(r, plot):
            err_console.print(f"plot: {path}", highlight=False)
    if json_out:
        _print_json([f.to_json() for f in r.forecasts])
        return
    from .render.tables import obs_table

    obs_table(r, train_below).render(console)
    console.print("MAE in each column's own units (BLEU: 0-100); --json lists every model's "
                  "forecast", highlight=False)


def _num(v) -> str:
    from .numbers import num

    return num(v)



def _as_flags(message: str) -> str:
    """The library names its parameters in backticks (`train_below`); here they are flags."""
    import re

    return re.sub(r"`([a-z][a-z_]*)`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def _fail(message: str) -> None:
    """One line on stderr (never wrapped), exit code 2."""
    sys.stderr.write("error: " + " ".join(_as_flags(message).split()) + "\n")
    sys.exit(2)


def _plain_help(command) -> None:
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
    if command.help and not command.short_help:
        # a command list shows one line per command: the first sentence of its help, unwrapped
        command.short_help = " ".join(command.help.split("\n\n")[0].split())
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def main() -> None:
    try:
        command = typer.main.get_command(app)
        _plain_help(command)
        code = command(standalone_mode=False)  # Click returns Exit codes instead of raising
        if code == 130:  # Click turned Ctrl-C into its Abort code without a word
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as err:
        _fail(str(err))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: rerun the same command to resume\n")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except _click_exceptions.ClickException as err:  # usage errors: one line, exit 2
        if not err.format_message():  # no arguments: help was already shown
            sys.exit(err.exit_code)
        _fail(err.format_message())
