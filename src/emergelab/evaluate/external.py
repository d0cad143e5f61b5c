"""`emergelab eval`: score existing models (local Hugging Face causal LMs, or our own checkpoints)
on our tasks and imported task files, into the same samples and results tables as a ladder run.

Several model directories (or a glob) make a family; `emergelab analyze OUT` then reads it like a
run. Each model's partitions are written atomically, so a killed evaluation resumes where it was.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from .. import __version__
from ..errors import UserError
from ..importers import family_of
from ..store import write_atomic, write_partition
from ..tasks import build_task
from ..tasks.imported import is_task_file, load_task_file
from .runner import EvalTask, evaluate_model


def expand_models(specs: list[str]) -> list[Path]:
    out: list[Path] = []
    for spec in specs:
        if any(ch in spec for ch in "*?["):
            hits = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_dir())
            if not hits:
                raise UserError(f"--model {spec}: the pattern matches no directory")
            out.extend(hits)
        else:
            out.append(Path(spec))
    for path in out:  # every model checked before any is evaluated
        if not path.is_dir():
            raise UserError(f"--model {path}: no such model directory (models are loaded from "
                            "local directories only)")
    if len(set(out)) != len(out):
        raise UserError("the same model is given twice")
    return out


def tasks_from_specs(specs: list[str], n: int, seed: int, shots: list[int] | None = None,
                     pass_until: int | None = None) -> list[EvalTask]:
    """Task names (`add1`, `add/reversed`) or task files (BIG-bench .json, .jsonl), each at
    every number of shots (default: zero-shot only)."""
    from ..tasks.fewshot import shot_counts

    shots = shot_counts(shots)
    tasks = []
    for spec in specs:
        if is_task_file(spec):
            task = load_task_file(spec)
        else:
            name, _, variant = spec.partition("/")
            task = build_task(name, variant or None)
        tasks += [EvalTask.build(task, n, seed, k, pass_until=pass_until) for k in shots]
    names = [t.task.id for t in tasks if t.shots == shots[0]]
    if len(set(names)) != len(names):
        raise UserError(f"a task is given twice ({', '.join(names)})")
    return tasks


def is_our_checkpoint(path: Path) -> bool:
    try:
        info = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(info, dict) and "model" in info and "params_nonembed" in info


def load_scorer(path: Path, batch_size: int, device="cpu", dtype: torch.dtype = torch.float32):
    """(scorer, model columns) for one model directory, its model in dtype on device."""
    from ..train.checkpoint import load_checkpoint
    from .scoring import CharScorer

    if is_our_checkpoint(path):
        model, info = load_checkpoint(path)
        c = model.cfg
        cols = {"model_id": f"{info.get('model_id', path.parent.name)}-step{info.get('step', 0)}",
                "family": "emergelab", "params": info["params"],
                "params_nonembed": info["params_nonembed"], "n_layer": c.n_layer,
                "d_model": c.d_model, "n_head": c.n_head, "tokens": info.get("tokens"),
                "flops": info.get("flops"), "val_loss": info.get("val_loss"),
                "step": info.get("step")}
        return CharScorer(model.to(device=device, dtype=dtype), batch_size), cols
    from .hf_scoring import HFScorer, load_hf_model

    model, tok = load_hf_model(path, device, dtype)
    cfg = model.config
    step = re.search(r"step[_-]?(\d+)", path.name)
    cols = {"model_id": path.name, "family": family_of(path.name),
            "params": sum(p.numel() for p in model.parameters()),
            "params_nonembed": params_nonembed(model),
            "n_layer": getattr(cfg, "num_hidden_layers", None),
            "d_model": getattr(cfg, "hidden_size", None),
            "n_head": getattr(cfg, "num_attention_heads", None), "tokens": None, "flops": None,
            "val_loss": None, "step": int(step.group(1)) if step else None}
    return HFScorer(model, tok, batch_size), cols


def params_nonembed(model) -> int:
    """All parameters less the embedding tables (token, position) and an untied output head,
    as Kaplan et al. count them."""
    embed = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    out = model.get_output_embeddings()
    if out is not None:
        embed.add(id(out.weight))
    return sum(p.numel() for p in model.parameters() if id(p) not in embed)


def _read_manifest(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_manifest(path: Path, manifest: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(manifest))
    except OSError as err:
        raise UserError(f"cannot write to --out {path.parent}: {err.strerror}") from None


def evaluate_models(models: list[str], tasks: list[str], out: Path, n: int = 200,
                    batch_size: int | str = 32, seed: int = 0, n_boot: int = 1000,
                    on_model=None, device: str | None = None,
                    dtype: str | None = None, shots: list[int] | None = None,
                    limit: int | None = None, family: str | None = None,
                    pass_until: int | None = None) -> list[Path]:
    """Evaluate every model on every task into out/results and out/samples; returns the
    partitions written (models already evaluated in out are skipped). device: where the models
    run (auto: CUDA when present); dtype: their weights' dtype (default: bfloat16 on CUDA,
    float32 elsewhere). Scores do not depend on the device at a given dtype (within 1e-4).
    shots: the numbers of demonstrations to score each task at (default 0); limit: at most this
    many examples per task (lm-eval's --limit); family: every model's family (default: from its
    directory name, variants such as -deduped or -instruct kept apart); pass_until: also sample
    each example's answer until correct twice, at most this many times (log_pass_prob)."""
    from ..device import resolve_device, resolve_dtype

    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, not {limit}")
    if pass_until is not None and pass_until < 1:
        raise UserError(f"--pass-until must be at least 1 sampled answer, not {pass_until}")
    if family is not None and not family.strip():
        raise UserError("--family names no family")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    dtype_name = str(torch_dtype).removeprefix("torch.")
    paths = expand_models(models)
    n = min(n, limit) if limit else n
    eval_tasks = tasks_from_specs(tasks, n, seed, shots, pass_until)
    manifest = {"tasks": tasks, "n": n, "seed": seed}  # more models may join later
    if dtype_name != "float32":  # scores depend on it: one evaluation directory, one dtype
        manifest["dtype"] = dtype_name
    if shots and list(shots) != [0]:
        manifest["shots"] = list(shots)
    if pass_until:
        manifest["pass_until"] = pass_until
    out = Path(out)
    man_path = out / "eval.json"
    if man_path.exists() and _read_manifest(man_path) != manifest:
        raise UserError(f"{out} holds an evaluation of other tasks or settings; use another --out")
    written, ids = [], set()
    for path in paths:
        scorer, cols = load_scorer(path, 1 if batch_size == "auto" else batch_size, dev,
                                   torch_dtype)
        if batch_size == "auto":  # once per model: the largest batch that fits
            from .batch_size import auto_batch_size

            scorer.batch_size = auto_batch_size(scorer, eval_tasks)
        if family:
            cols["family"] = family
        if cols["model_id"] in ids:  # two directories of the same name: keep both apart
            cols["model_id"] = f"{path.parent.name}-{path.name}"
        ids.add(cols["model_id"])
        name = re.sub(r"[^A-Za-z0-9_.=-]", "_", cols["model_id"])
        if (out / "results" / f"{name}.parquet").exists():
            continue
        if on_model:
            on_model(cols["model_id"])
        scored = eval_tasks
        if not getattr(scorer, "char_level", False):  # baselines in this model's tokens
            scored = [replace(et, baselines=et.task.baselines(et.examples, seed, scorer.tokenize))
                      for et in eval_tasks]
        try:
            samples, results = evaluate_model(scorer, scored, seed=seed, n_boot=n_boot)
        except ValueError as err:  # e.g. a character our tokenizer cannot represent
            raise UserError(f"{path}: {err}") from None
        if not man_path.exists():  # written with the first results, never before
            _write_manifest(man_path, manifest)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        common = {"run_id": out.name, "model_id": cols["model_id"], "step": cols["step"]}
        rows = [{"run_id": out.name, **cols, "final_checkpoint": True, **r, "seed": seed,
                 "created_at": now, "version": __version__} for r in results]
        write_partition([{**common, **s} for s in samples], out / "samples", name)
        written.append(write_partition(rows, out / "results", name))
    return written
