"""`predict --finetune`: forecasts that ask the small members a harder question.

    from emergelab.probing import predict_with_probes
    p = predict_with_probes("runs/demo", train_below=30_000)   # k = 64, 512, 4096

For every exact-match curve of the selection (`where`), copies of the members below the cutoff
are fine-tuned on k examples of the task for each k of a grid (execute/probes.py, on any
backend, resumable, kept under RUN/finetune/), and the `finetune` signal fits their emergence
law (analysis/forecasting/emergence_law.py) back to the run's own setting; where probes exist,
`auto` reads them first. Cost: one probe per member below the cutoff, task and k, each as many
steps as the run trained its members (unless `steps` says otherwise) on batches of the run's
size.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pandas as pd

from .errors import UserError

DEFAULT_GRID = (64, 512, 4096)
log = logging.getLogger("emergelab")


def check_grid(ks) -> tuple[int, ...]:
    """A k grid: at least 3 distinct positive counts (a law of the shift needs three)."""
    try:
        grid = tuple(sorted({int(k) for k in ks}))
    except (TypeError, ValueError):
        raise UserError(f"the k grid takes whole numbers of examples (got {ks!r})") from None
    if len(grid) < 3:
        raise UserError(f"the k grid needs at least 3 distinct values (got {len(grid)}: "
                        f"{', '.join(map(str, grid))}); the emergence law fits how the threshold "
                        "moves with k")
    if grid[0] < 1:
        raise UserError(f"every k of the grid must be at least 1 (got {grid[0]})")
    return grid


def probe_table(run_dir: Path) -> pd.DataFrame | None:
    """The probes' results of a run (None before any probe finished)."""
    from .execute.probes import FINETUNE_DIR
    from .sources import normalise
    from .store import has_table, read_results

    d = Path(run_dir) / FINETUNE_DIR
    return normalise(read_results(d)) if has_table(d, "results") else None


def _run_config(run_dir: Path):
    from .config import load_config

    from .config import RunConfig

    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir} holds no config.toml: --finetune needs a run directory")
    cfg = load_config(run_dir / "config.toml")
    if not isinstance(cfg, RunConfig):
        raise UserError(f"{run_dir} is a suite: --finetune probes one experiment's run "
                        f"directory ({run_dir}/<experiment>)")
    return cfg


def choose_probes(cfg, run_dir: Path, selection, train_below: float, grid, steps: int):
    """One probe per (member below the cutoff, task with an exact-match curve in the selection,
    k). Tasks that evaluate on what they train (memorisation) or by multiple choice are not
    probed: k training examples of them would be the test itself, or no answer to learn."""
    import random

    from .analysis.forecasting.forecast import PROBED
    from .execute.probes import Probe
    from .experiment import build_tasks
    from .sources import final_rows
    from .store import read_results

    wanted = {(f.keys.get("task"), f.keys.get("variant") or "plain") for f in selection.forecasts
              if f.metric in PROBED}
    built = build_tasks(cfg)
    tasks = [i for i, (t, task) in enumerate(zip(cfg.tasks, built))
             if (t.name, t.variant or "plain") in wanted and not task.memorisation
             and not task.sample(random.Random(0)).is_multiple_choice]
    df = final_rows(read_results(run_dir))
    members = sorted(set(df.loc[df[selection.x] < train_below, "model_id"]))
    return [Probe(m, t, k, steps) for m in members for t in tasks for k in grid]


def run_probes(cfg, run_dir: Path, probes, backend=None, device=None,
               quiet: bool = True, console=None) -> None:
    """Fine-tune and evaluate every probe not yet done, on `backend` (the local pool by default),
    holding the run directory's lock."""
    import torch

    from .device import resolve_device
    from .execute import LocalPool
    from .execute.local_pool import member_peak_bytes
    from .execute.member import logging_to
    from .execute.probes import FinetuneJob, probe_done
    from .experiment import setup
    from .run_lock import run_dir_lock

    if isinstance(backend, str):
        from .execute import backend_named

        backend = backend_named(backend)
    backend = backend or LocalPool()
    backend.check()
    todo = [p for p in probes if not probe_done(cfg, run_dir, p)]
    if not todo:
        return
    dev = resolve_device(device)
    with run_dir_lock(run_dir), logging_to(run_dir):
        _, _, members = setup(cfg)
        by_id = {m.model_id: m for m in members}
        biggest = max((by_id[p.model_id] for p in todo), key=lambda m: m.config.params_nonembed())
        threads = backend.plan(len(todo), None,
                               member_peak_bytes(biggest.config, cfg.train.batch_size))
        torch.set_num_threads(threads)
        job = FinetuneJob(cfg, run_dir.resolve(), tuple(todo), threads, str(dev))
        log.info("%d fine-tuning probes on %s", len(todo), backend.describe())
        progress = _progress(console, quiet)
        with progress if not quiet else contextlib.nullcontext():
            total = sum(job.unit_steps(i) for i in range(job.n_units))
            bar = progress.add_task("probes", total=total)
            names = [job.unit_name(i) for i in range(job.n_units)]

            def report(counts: dict[str, int]) -> None:
                busy = [n for n, c in counts.items()
                        if c < job.unit_steps(names.index(n))]
                progress.update(bar, completed=sum(counts.values()),
                                description="fine-tune " + ", ".join(busy[:2]) if busy else "done")

            backend.run(job, list(range(job.n_units)), report)
            progress.update(bar, completed=total, description="done")


def _progress(console, quiet: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console or Console(stderr=True), disable=quiet)


def predict_with_probes(source, train_below: float | None, grid=DEFAULT_GRID,
                        steps: int | None = None, backend=None, device=None, x=None, where=None,
                        at=None, signal: str = "auto", seed: int = 0, quiet: bool = True,
                        console=None):
    """predict(source, ...) with fine-tuning probes of the members below train_below (see the
    module's doc): the probes run first where missing, then every curve is forecast."""
    from .analysis.forecasting.predict_source import predict
    from .sources import run_source

    grid = check_grid(grid)
    if steps is not None and steps < 1:
        raise UserError(f"--finetune-steps must be at least 1, not {steps}")
    if train_below is None:
        raise UserError("--finetune needs --train-below: probes fine-tune the members below it")
    run_dir = run_source(source)
    if run_dir is None or not (Path(run_dir) / "checkpoints").is_dir():
        raise UserError(f"{source}: --finetune needs a run directory with its checkpoints "
                        "(a results table holds no models to fine-tune)")
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    selection = predict(source, x=x, where=where, train_below=train_below, at=at, signal="auto",
                      seed=seed)
    steps = steps or cfg.train.steps
    probes = choose_probes(cfg, run_dir, selection, train_below, grid, steps)
    if probes:
        run_probes(cfg, run_dir, probes, backend, device, quiet, console)
    table = probe_table(run_dir)
    if table is not None:  # only this grid's probes of the asked steps
        table = table[table["finetune_k"].isin(grid)
                      & (table["finetune_steps"] == steps)]
    return predict(source, x=x, where=where, train_below=train_below, at=at, signal=signal,
                   seed=seed, probes=table)
