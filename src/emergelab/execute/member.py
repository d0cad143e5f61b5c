"""What every backend runs for one ladder member, wherever it runs: train (resuming from the last
checkpoint), evaluate each checkpoint, commit its results and samples partitions."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from .. import __version__
from ..config import RunConfig
from ..data.mixture import Mixture
from ..data.prebuilt import PrebuiltBatches
from ..evaluate.runner import EvalTask, evaluate_model
from ..evaluate.scoring import CharScorer
from ..experiment import batches_dir, member_mixture, setup
from ..models.ladder import Member
from ..store import write_partition
from ..train.checkpoint import list_checkpoints, load_checkpoint
from ..train.kernels import Kernels
from ..train.loop import train_member

log = logging.getLogger("emergelab")


@dataclass(frozen=True)
class LadderJob:
    """Everything a worker anywhere needs to train and evaluate members of one ladder: plain,
    picklable data (a Ray node or a worker process rebuilds the rest from cfg)."""

    cfg: RunConfig
    out: Path
    model_ids: tuple[str, ...]
    kernels: tuple[Kernels, ...]  # per member, as chosen by the driver (kernels.json)
    threads: int                  # intra-op threads per member: results depend on it
    device: str = "cpu"
    monitor: object | None = None  # a CapabilityMonitor, or None

    @property
    def steps_per_member(self) -> int:
        """Progress units of one member: its training steps, then one per checkpoint evaluated."""
        from ..train.schedule import checkpoint_steps

        c = self.cfg
        return c.train.steps + (len(checkpoint_steps(c.train.steps, c.train.checkpoints))
                                if c.eval.every_checkpoint else 1)


def release_memory() -> None:
    """Hand freed heap back to the system. Every batch has its own padded length, so glibc keeps
    freed blocks of odd sizes (why the local pool runs each member in its own process)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


@contextlib.contextmanager
def logging_to(out: Path):
    """Send the emergelab log to out/run.log for the duration (appending: resumes keep history)."""
    handler = logging.FileHandler(out / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def evaluate_member(cfg: RunConfig, member: Member, out: Path, eval_tasks: list[EvalTask],
                    on_done=None, device="cpu") -> None:
    ckpts = list_checkpoints(out / "checkpoints" / member.model_id)
    final_step = cfg.train.steps
    if not cfg.eval.every_checkpoint:
        ckpts = [(s, p) for s, p in ckpts if s == final_step]
    for step, path in ckpts:
        name = f"{member.model_id}-step{step:06d}"
        if (out / "results" / f"{name}.parquet").exists():
            if on_done:
                on_done()
            continue
        model, info = load_checkpoint(path)
        samples, results = evaluate_model(CharScorer(model.to(device), cfg.eval.batch_size),
                                          eval_tasks, seed=cfg.seed,
                                          n_boot=cfg.eval.bootstrap, level=cfg.eval.level)
        c = model.cfg
        common = {"run_id": cfg.name, "model_id": member.model_id, "step": step}
        extra = []
        for r in results:
            if r["metric"] == "stored_bits":
                extra.append({**r, "metric": "bits_per_param",
                              "value": r["value"] / info["params_nonembed"]})
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [{**common, "family": cfg.name, "params": info["params"],
                 "params_nonembed": info["params_nonembed"], "n_layer": c.n_layer,
                 "d_model": c.d_model, "n_head": c.n_head, "tokens": info["tokens"],
                 "flops": float(info["flops"]), "val_loss": info["val_loss"],
                 "final_checkpoint": step == final_step, **r, "seed": member.seed,
                 "created_at": now, "version": __version__} for r in results + extra]
        # samples first: a results partition is the mark that this checkpoint is done
        write_partition([{**common, **s} for s in samples], out / "samples", name)
        write_partition(rows, out / "results", name)
        if on_done:
            on_done()


def train_and_evaluate(cfg: RunConfig, out: Path, member: Member, eval_tasks: list[EvalTask],
                       mixture: Mixture, monitor=None,
                       on_progress: Callable[[int], None] | None = None,
                       kernels: Kernels | None = None, device="cpu") -> int | None:
    """Train one member (resuming) and evaluate its checkpoints. on_progress(n) counts training
    steps, then one more per evaluated checkpoint. Returns the step a monitor alert stopped
    training at, or None."""
    t0 = time.time()
    report = on_progress or (lambda n: None)
    own = member_mixture(cfg, mixture, member)
    batches = PrebuiltBatches.open(batches_dir(cfg, out, member), own.tok.pad_id)
    stopped = train_member(member, own, cfg.train, out / "checkpoints" / member.model_id,
                           on_step=report, monitor=monitor, kernels=kernels, device=device,
                           batches=batches)
    if stopped is not None:
        log.info("%s: stopped on alert at step %d", member.model_id, stopped)
        return stopped
    t1 = time.time()
    release_memory()  # the evaluation's shapes differ from training's: start it on a clean heap
    done = cfg.train.steps
    report(done)

    def one_more() -> None:
        nonlocal done
        done += 1
        report(done)

    evaluate_member(cfg, member, out, eval_tasks, on_done=one_more, device=device)
    log.info("%s: %d non-embedding params, train %.1fs, eval %.1fs", member.model_id,
             member.config.params_nonembed(), t1 - t0, time.time() - t1)
    return None


def run_member(job: LadderJob, index: int, on_progress: Callable[[int], None] | None = None,
               prepared=None) -> tuple[int | None, float]:
    """Member `index` of job's ladder, start to end, in this process: (step a monitor alert
    stopped it at or None, seconds the monitor spent probing). prepared: setup(job.cfg) when
    the caller has it already (the in-process backend)."""
    torch.set_num_threads(job.threads)
    with logging_to(job.out):
        eval_tasks, mixture, members = prepared or setup(job.cfg)
        before = job.monitor.seconds if job.monitor is not None else 0.0
        stopped = train_and_evaluate(job.cfg, job.out, members[index], eval_tasks, mixture,
                                     job.monitor, on_progress, job.kernels[index], job.device)
        spent = (job.monitor.seconds - before) if job.monitor is not None else 0.0
    return stopped, spent
