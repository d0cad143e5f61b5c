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
    # what each worker runs: members' indices, one member or a seed group (several seeds of one
    # shape trained stacked, train/seed_group.py); empty: every member on its own
    units: tuple[tuple[int, ...], ...] = ()

    @property
    def steps_per_member(self) -> int:
        """Progress units of one member: its training steps, then one per checkpoint evaluated."""
        return self.cfg.train.steps + self.evals_per_member

    @property
    def evals_per_member(self) -> int:
        from ..train.schedule import checkpoint_steps

        c = self.cfg
        return (len(checkpoint_steps(c.train.steps, c.train.checkpoints))
                if c.eval.every_checkpoint else 1)

    @property
    def n_units(self) -> int:
        return len(self.units) if self.units else len(self.model_ids)

    def unit(self, i: int) -> tuple[int, ...]:
        return self.units[i] if self.units else (i,)

    def unit_name(self, i: int) -> str:
        """A member's model_id, or "L2-d8-s0+2" for a group of three seeds."""
        members = self.unit(i)
        first = self.model_ids[members[0]]
        return first if len(members) == 1 else f"{first}+{len(members) - 1}"

    def unit_steps(self, i: int) -> int:
        """Progress units of unit i: training steps once, then every member's evaluations."""
        return self.cfg.train.steps + len(self.unit(i)) * self.evals_per_member

    def run_unit(self, index: int, on_progress: Callable[[int], None] | None = None,
                 prepared=None) -> tuple[int | None, float]:
        """What a backend runs for unit `index`, wherever it runs (run_member)."""
        return run_member(self, index, on_progress, prepared)


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


def member_finished(cfg: RunConfig, member: Member, out: Path) -> bool:
    """Whether the member is trained to its last step and every checkpoint it evaluates has its
    results partition (evaluate_member's mark of a finished checkpoint)."""
    steps = [s for s, _ in list_checkpoints(out / "checkpoints" / member.model_id)]
    if cfg.train.steps not in steps:
        return False
    if not cfg.eval.every_checkpoint:
        steps = [cfg.train.steps]
    return all((out / "results" / f"{member.model_id}-step{s:06d}.parquet").exists()
               for s in steps)


def result_rows(cfg: RunConfig, member: Member, model, info: dict, results: list[dict],
                final: bool, **extra_columns) -> list[dict]:
    """The results-schema rows of one evaluated checkpoint (bits_per_param derived from
    stored_bits); info: the checkpoint's config.json."""
    extra = []
    for r in results:
        if r["metric"] == "stored_bits":
            extra.append({**r, "metric": "bits_per_param",
                          "value": r["value"] / info["params_nonembed"]})
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    c = model.cfg
    return [{"run_id": cfg.name, "model_id": member.model_id, "step": info["step"],
             "family": cfg.name, "params": info["params"],
             "params_nonembed": info["params_nonembed"], "n_layer": c.n_layer,
             "d_model": c.d_model, "n_head": c.n_head, "tokens": info["tokens"],
             "flops": float(info["flops"]), "val_loss": info["val_loss"],
             "final_checkpoint": final, **r, "seed": member.seed, **extra_columns,
             "created_at": now, "version": __version__} for r in results + extra]


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
        common = {"run_id": cfg.name, "model_id": member.model_id, "step": step}
        rows = result_rows(cfg, member, model, info, results, step == final_step)
        # samples first: a results partition is the mark that this checkpoint is done
        write_partition([{**common, **s} for s in samples], out / "samples", name)
        write_partition(rows, out / "results", name)
        if on_done:
            on_done()


def evaluate_after_training(cfg: RunConfig, members: list[Member], out: Path,
                            eval_tasks: list[EvalTask], report: Callable[[int], None],
                            device="cpu") -> None:
    """Evaluate the checkpoints of members just trained; progress goes on from the training
    steps, one unit per evaluated checkpoint."""
    release_memory()  # the evaluation's shapes differ from training's: start it on a clean heap
    done = cfg.train.steps
    report(done)

    def one_more() -> None:
        nonlocal done
        done += 1
        report(done)

    for m in members:
        evaluate_member(cfg, m, out, eval_tasks, on_done=one_more, device=device)


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
    evaluate_after_training(cfg, [member], out, eval_tasks, report, device)
    log.info("%s: %d non-embedding params, train %.1fs, eval %.1fs", member.model_id,
             member.config.params_nonembed(), t1 - t0, time.time() - t1)
    return None


def train_and_evaluate_group(cfg: RunConfig, out: Path, group: list[Member],
                             eval_tasks: list[EvalTask], mixture: Mixture,
                             on_progress: Callable[[int], None] | None = None,
                             kernels: Kernels | None = None, device="cpu") -> None:
    """Train several seeds of one shape stacked (train/seed_group.py), then evaluate each
    one's checkpoints. Seeds whose resume points disagree (a run that trained them apart
    before) train apart. Progress: training steps once, then one per evaluated checkpoint."""
    from ..train.seed_group import resume_steps, train_group

    t0 = time.time()
    report = on_progress or (lambda n: None)
    dirs = [out / "checkpoints" / m.model_id for m in group]
    own = [member_mixture(cfg, mixture, m) for m in group]
    batches = [PrebuiltBatches.open(batches_dir(cfg, out, m), mix.tok.pad_id)
               for m, mix in zip(group, own)]
    if len(set(resume_steps(dirs))) == 1 and torch.device(device).type == "cpu":
        train_group(group, own, cfg.train, dirs, on_step=report, kernels=kernels,
                    batches=batches)
    else:
        for m, mix, d, b in zip(group, own, dirs, batches):
            train_member(m, mix, cfg.train, d, kernels=kernels, device=device, batches=b)
    t1 = time.time()
    evaluate_after_training(cfg, group, out, eval_tasks, report, device)
    log.info("%s and %d more seeds trained together: %d non-embedding params each, train "
             "%.1fs, eval %.1fs", group[0].model_id, len(group) - 1,
             group[0].config.params_nonembed(), t1 - t0, time.time() - t1)


def run_member(job: LadderJob, index: int, on_progress: Callable[[int], None] | None = None,
               prepared=None) -> tuple[int | None, float]:
    """Unit `index` of job's ladder (a member, or a seed group), start to end, in this process:
    (step a monitor alert stopped it at or None, seconds the monitor spent probing). prepared:
    setup(job.cfg) when the caller has it already (the in-process backend)."""
    torch.set_num_threads(job.threads)
    with logging_to(job.out):
        eval_tasks, mixture, members = prepared or setup(job.cfg)
        unit = job.unit(index)
        if len(unit) > 1:
            train_and_evaluate_group(job.cfg, job.out, [members[i] for i in unit], eval_tasks,
                                     mixture, on_progress, job.kernels[unit[0]], job.device)
            return None, 0.0
        before = job.monitor.seconds if job.monitor is not None else 0.0
        stopped = train_and_evaluate(job.cfg, job.out, members[unit[0]], eval_tasks, mixture,
                                     job.monitor, on_progress, job.kernels[unit[0]], job.device)
        spent = (job.monitor.seconds - before) if job.monitor is not None else 0.0
    return stopped, spent
