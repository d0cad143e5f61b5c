"""Fine-tuning probes as work any backend runs: each unit fine-tunes one member's final checkpoint
on k examples of one task (train/finetune.py) and evaluates it on that task's items as the run
does. Everything is kept apart from the run's own tables, under RUN/finetune/:

    finetune/checkpoints/<model_id>/<task>-k<k>-s<steps>/  the probe's checkpoint and resume point
    finetune/results/, finetune/samples/          one partition per probe (results schema, plus
                                                  finetune_k, finetune_examples, finetune_steps)

Rows carry the member's own columns (params, tokens, flops and val_loss of its pretraining), so a
probe sits at its member's place on every scale axis. A results partition marks a finished probe;
a killed probe resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig

FINETUNE_DIR = "finetune"
log = logging.getLogger("emergelab")


@dataclass(frozen=True)
class Probe:
    model_id: str
    task: int     # index into cfg.tasks
    k: int        # fine-tuning examples
    steps: int    # fine-tuning steps


def task_slug(cfg: RunConfig, index: int) -> str:
    t = cfg.tasks[index]
    return t.name if t.variant in (None, "plain") else f"{t.name}-{t.variant}"


def probe_name(cfg: RunConfig, probe: Probe) -> str:
    return f"{probe.model_id}-{probe_slug(cfg, probe)}"


def probe_slug(cfg: RunConfig, probe: Probe) -> str:
    return f"{task_slug(cfg, probe.task)}-k{probe.k}-s{probe.steps}"


def probe_done(cfg: RunConfig, out: Path, probe: Probe) -> bool:
    return (Path(out) / FINETUNE_DIR / "results" / f"{probe_name(cfg, probe)}.parquet").exists()


@dataclass(frozen=True)
class FinetuneJob:
    """Probes of one run (plain, picklable data: a worker rebuilds tasks and ladder from cfg)."""

    cfg: RunConfig
    out: Path                  # the run directory
    probes: tuple[Probe, ...]
    threads: int
    device: str = "cpu"

    @property
    def n_units(self) -> int:
        return len(self.probes)

    def unit_name(self, i: int) -> str:
        p = self.probes[i]
        return f"{p.model_id} {self.cfg.tasks[p.task].name} k={p.k}"

    def unit_steps(self, i: int) -> int:
        return self.probes[i].steps + 1  # training steps, then its evaluation

    def run_unit(self, index: int, on_progress: Callable[[int], None] | None = None,
                 prepared=None) -> tuple[None, float]:
        import torch

        torch.set_num_threads(self.threads)
        from .member import logging_to

        with logging_to(self.out):
            run_probe(self, self.probes[index], on_progress, prepared)
        return None, 0.0


def run_probe(job: FinetuneJob, probe: Probe, on_progress=None, prepared=None) -> None:
    """Fine-tune, evaluate and commit one probe (only read when its partition exists)."""
    from ..evaluate.runner import evaluate_model
    from ..evaluate.scoring import CharScorer
    from ..experiment import build_tasks, setup
    from ..store import write_partition
    from ..train.checkpoint import list_checkpoints, load_checkpoint
    from ..train.finetune import finetune_member, probe_examples, probe_train_config
    from .member import result_rows

    cfg, out = job.cfg, Path(job.out)
    report = on_progress or (lambda n: None)
    if probe_done(cfg, out, probe):
        report(probe.steps + 1)
        return
    t0 = time.time()
    eval_tasks, _, members = prepared or setup(cfg)
    member = next(m for m in members if m.model_id == probe.model_id)
    task = build_tasks(cfg)[probe.task]
    own_eval = [et for et in eval_tasks if et.task.id == task.id]
    final = dict(list_checkpoints(out / "checkpoints" / member.model_id))[cfg.train.steps]
    examples = probe_examples(task, probe.k, cfg.seed)
    name = probe_name(cfg, probe)
    path = finetune_member(member, final, task, examples,
                           probe_train_config(cfg.train, probe.steps),
                           out / FINETUNE_DIR / "checkpoints" / member.model_id
                           / probe_slug(cfg, probe),
                           seed=cfg.seed * 1000 + probe.k, device=job.device, on_step=report)
    model, _ = load_checkpoint(path)
    _, pretrained = load_checkpoint(final)  # the member's own place on every scale axis
    samples, results = evaluate_model(CharScorer(model.to(job.device), cfg.eval.batch_size),
                                      own_eval, seed=cfg.seed, n_boot=cfg.eval.bootstrap,
                                      level=cfg.eval.level)
    rows = result_rows(cfg, member, model, pretrained, results, True, finetune_k=probe.k,
                       finetune_examples=len(examples), finetune_steps=probe.steps)
    common = {"run_id": cfg.name, "model_id": member.model_id, "step": cfg.train.steps,
              "finetune_k": probe.k}
    write_partition([{**common, **s} for s in samples], out / FINETUNE_DIR / "samples", name)
    write_partition(rows, out / FINETUNE_DIR / "results", name)
    report(probe.steps + 1)
    log.info("probe %s: %d examples, %d steps, %.1fs", name, len(examples), probe.steps,
             time.time() - t0)
