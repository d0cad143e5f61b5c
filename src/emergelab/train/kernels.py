"""Which precision and attention kernel each member trains with, chosen by timing them here.

Whether bf16 pays depends on the CPU (AMX, AVX-512 BF16 or neither), on the member's width and on
PyTorch's kernel for each op at that width; no CPU flag predicts it. On a Zen 4 with AVX-512 BF16
a bf16 matmul runs 2.7x fp32, yet bf16 autocast slows a d_model-8 member down (its time goes to
casts and element-wise ops, not matmuls), and PyTorch's CPU flash attention is fast in fp32 and
slow in bf16 at our short sequences. So a run times a few real training steps of each member
shape with each candidate, keeps the fastest, and writes the choice to the run directory
(kernels.json): a resumed run trains on with the numerics it started with.

Choices are also kept once per machine (EMERGELAB_CACHE_DIR, else ~/.cache/emergelab), keyed by
the CPU, PyTorch's version, the threads, the member's shape, the timed batches' shapes and the
candidates: a later run on this machine skips the timing (8 s of the demo's start) and trains
with the same kernels, so its numbers repeat those of the earlier run to the bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from ..errors import UserError

# bf16 must beat fp32 by this much to be chosen: fp32 is the reference numerics, and a closer
# call is within the timing noise of a few steps
BF16_MARGIN = 0.05
# every option first trains WARMUP_STEPS untimed (allocator, oneDNN primitives, caches), then
# ROUNDS rounds each time every option for TIMED_STEPS steps, in a rotating order, and an option
# keeps its fastest round: one slow moment of a busy machine never decides the choice, and no
# option is timed colder than another (one short first heat per option can pick a kernel 20%
# slower than the steady state, as on an AVX2 EPYC)
WARMUP_STEPS = 2
TIMED_STEPS = 2
ROUNDS = 3
# seeds of one shape train stacked only when that beats training them apart by this much
GROUP_MARGIN = 0.05


@dataclass(frozen=True)
class Kernels:
    precision: Literal["fp32", "bf16"] = "fp32"
    attention: Literal["sdpa", "matmul"] = "sdpa"

    @classmethod
    def fixed(cls, precision: str, attention: str = "auto") -> Kernels:
        """What train.precision and train.attention give without measuring ("auto" precision is
        then fp32; "auto" attention the faster one in our measurements for that precision)."""
        bf16 = precision == "bf16"
        if attention == "auto":
            attention = "matmul" if bf16 else "sdpa"
        return cls("bf16" if bf16 else "fp32", attention)

    def autocast(self, device="cpu"):
        """The context a training forward runs in on `device` (device.py owns what that is)."""
        from ..device import autocast

        return autocast(device, self.precision)

    @classmethod
    def on_accelerator(cls, precision: str, attention: str, device) -> Kernels:
        """No timing on a GPU: bf16 autocast (tensor cores; float32's range) unless pinned, and
        PyTorch's fused attention (flash / memory-efficient kernels) unless pinned. Apple's MPS
        keeps fp32 unless told otherwise."""
        kind = torch.device(device).type
        if precision == "auto":
            precision = "bf16" if kind == "cuda" else "fp32"
        return cls("bf16" if precision == "bf16" else "fp32",
                   "sdpa" if attention == "auto" else attention)


def bf16_available() -> bool:
    """Whether this PyTorch can run bf16 autocast on the CPU at all (oneDNN present)."""
    return torch.backends.mkldnn.is_available()


def candidates(precision: str, attention: str = "auto") -> list[Kernels]:
    if precision == "auto":
        precisions = ["fp32", "bf16"] if bf16_available() else ["fp32"]
    else:
        precisions = [precision]
    attentions = ["sdpa", "matmul"] if attention == "auto" else [attention]
    return [Kernels(p, a) for p in precisions for a in attentions]


def timing_batches(mixture, train_cfg) -> list:
    return [mixture.packed_batch(s, train_cfg.batch_size) for s in range(WARMUP_STEPS + TIMED_STEPS)]


def race(steps: dict) -> dict:
    """Seconds per step of each option: steps[option](batch index) runs one step. Warm-up
    untimed, then interleaved rounds in rotating order; each option keeps its fastest round."""
    options = list(steps)
    for o in options:
        for i in range(WARMUP_STEPS):
            steps[o](i)
    best = {o: float("inf") for o in options}
    for r in range(ROUNDS):
        for o in options[r % len(options):] + options[:r % len(options)]:
            t = time.perf_counter()
            for i in range(WARMUP_STEPS, WARMUP_STEPS + TIMED_STEPS):
                steps[o](i)
            best[o] = min(best[o], (time.perf_counter() - t) / TIMED_STEPS)
    return best


def time_candidates(config, mixture, train_cfg, options: list[Kernels],
                    batches: list | None = None) -> dict[Kernels, float]:
    """Seconds per training step of a fresh model of `config` under each option, on the same real
    batches (race: warm-up discarded, interleaved rounds, fastest round)."""
    from ..models.gpt import GPT
    from .loop import make_optimizer, train_step

    batches = batches or timing_batches(mixture, train_cfg)
    steps = {}
    for k in options:
        torch.manual_seed(0)
        model = GPT(config)
        model.set_attention_kernel(k.attention)
        opt = make_optimizer(model, train_cfg)
        steps[k] = (lambda i, model=model, opt=opt, k=k:
                    train_step(model, opt, batches[i], k.autocast, train_cfg.grad_clip))
    return race(steps)


def time_seed_group(config, mixtures, train_cfg, kernels: Kernels) -> dict[str, float]:
    """Seconds per step of k seeds (one mixture each) trained stacked in one model
    ("batched", models/stacked.py) and one after another ("separate"), same batches."""
    from ..models.gpt import GPT
    from ..models.stacked import StackedBatch, StackedGPT
    from .loop import make_optimizer, train_step
    from .seed_group import group_step, stacked_optimizer

    own = [timing_batches(m, train_cfg) for m in mixtures]
    models = []
    for i in range(len(mixtures)):
        torch.manual_seed(i)
        models.append(GPT(config))
        models[-1].set_attention_kernel(kernels.attention)
    opts = [make_optimizer(m, train_cfg) for m in models]
    stacked = StackedGPT(models)
    stacked.set_attention_kernel(kernels.attention)
    s_opt = stacked_optimizer(stacked, train_cfg)
    pad = mixtures[0].tok.pad_id

    def separate(i: int) -> None:
        for m, o, b in zip(models, opts, own):
            train_step(m, o, b[i], kernels.autocast, train_cfg.grad_clip)

    def batched(i: int) -> None:  # the stacking of the batches is part of its cost
        group_step(stacked, s_opt, StackedBatch.of([b[i] for b in own], pad), kernels.autocast,
                   train_cfg.grad_clip)

    return race({"batched": batched, "separate": separate})


def pick(timings: dict[Kernels, float]) -> Kernels:
    fastest = {p: min((k for k in timings if k.precision == p), key=timings.get, default=None)
               for p in ("fp32", "bf16")}
    f32, b16 = fastest["fp32"], fastest["bf16"]
    if f32 is None:
        return b16
    if b16 is not None and timings[b16] < (1 - BF16_MARGIN) * timings[f32]:
        return b16
    return f32


def choose_kernels(members, mixture, train_cfg, path: Path,
                   on_measure=None, device="cpu") -> dict[str, Kernels]:
    """Kernels for every member (by model_id): read from path when a run recorded them, else
    measured once per distinct shape on the CPU (or found in this machine's cache;
    Kernels.on_accelerator elsewhere) and recorded there (atomically)."""
    from ..store import write_atomic

    recorded = _read(path)
    if recorded is not None and all(m.model_id in recorded for m in members):
        return {m.model_id: recorded[m.model_id] for m in members}
    record = json.loads(path.read_text()) if recorded is not None else {"members": {}}
    by_shape: dict = {}
    for m in members:
        if recorded is not None and m.model_id in recorded:
            continue
        if m.config not in by_shape:
            options = (candidates(train_cfg.precision, train_cfg.attention)
                       if torch.device(device).type == "cpu" else
                       [Kernels.on_accelerator(train_cfg.precision, train_cfg.attention, device)])
            by_shape[m.config] = (options[0], {}, "pinned")
            if len(options) > 1:  # nothing to choose when the config pins both
                batches = timing_batches(mixture, train_cfg)
                key = _machine_key(m.config, batches, options)
                by_shape[m.config] = (_cached(key, options)
                                      or _measure(m, mixture, train_cfg, options, batches, key,
                                                  on_measure))
        choice, timings, source = by_shape[m.config]
        record["members"][m.model_id] = {
            **asdict(choice),
            "ms_per_step": {f"{k.precision}+{k.attention}": round(v * 1e3, 3)
                            for k, v in timings.items()},
            "source": source}
    record["threads"] = torch.get_num_threads()
    write_atomic(path, json.dumps(record, indent=1) + "\n")
    return {m.model_id: Kernels(record["members"][m.model_id]["precision"],
                                record["members"][m.model_id]["attention"]) for m in members}


def _measure(member, mixture, train_cfg, options, batches, key, on_measure):
    if on_measure:
        on_measure(member.model_id)
    timings = time_candidates(member.config, mixture, train_cfg, options, batches)
    choice = pick(timings)
    _remember(key, choice, timings)
    return choice, timings, "measured"


def machine_cache() -> Path:
    """This machine's record of kernel choices (a cache: deleting it only costs re-timing)."""
    root = os.environ.get("EMERGELAB_CACHE_DIR")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emergelab"
    return Path(root) / "kernels.json"


def _cpu() -> str:
    """The CPU model and its instruction-set flags (what the timings depend on)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()}|{platform.processor()}"
    fields = {}
    for line in info.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    flags = hashlib.sha1(fields.get("flags", "").encode()).hexdigest()[:12]
    return "|".join([platform.machine(), fields.get("model name", ""), fields.get("cpu family", ""),
                     fields.get("model", ""), f"flags {flags}"])


def _machine_key(config, batches, options: list) -> str:
    """options: the candidates timed (Kernels, or a plain label)."""
    what = {"cpu": _cpu(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "timing": f"race {WARMUP_STEPS}+{ROUNDS}x{TIMED_STEPS}",
            "shape": config.to_dict(),
            "batches": [[list(g.idx.shape) for g in b.groups] for b in batches],
            "candidates": [f"{k.precision}+{k.attention}" if isinstance(k, Kernels) else str(k)
                           for k in options]}
    return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _load_cache() -> dict:
    try:
        data = json.loads(machine_cache().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # none yet, or unreadable: a cache, so start afresh
        return {}


def _cached(key: str, options: list[Kernels]):
    """The cached choice for key, or None when there is none or it is not one of the options (a
    hand-edited or damaged cache must not put unknown kernels into a run)."""
    hit = _load_cache().get(key)
    try:
        choice = Kernels(hit["precision"], hit["attention"])
        timings = {Kernels(*k.split("+")): float(v) / 1e3 for k, v in hit["ms_per_step"].items()}
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    if choice not in options or not set(timings) <= set(options):
        return None
    return choice, timings, "machine cache"


def _remember(key: str, choice: Kernels, timings: dict[Kernels, float]) -> None:
    _remember_entry(key, {**asdict(choice), "ms_per_step": {f"{k.precision}+{k.attention}": v * 1e3
                                                            for k, v in timings.items()}})


def choose_seed_groups(members, mixtures: dict, train_cfg, path: Path, kernels: dict,
                       on_measure=None) -> dict[str, bool]:
    """Whether each member shape with two or more seeds trains them stacked (by shape label,
    "L2-d8"): train.seed_groups when pinned, else timed here (time_seed_group; stacked only when
    GROUP_MARGIN faster), kept in path's "seed_groups" (a resumed run keeps its choice) and in
    this machine's cache. mixtures: each member's own, by model_id."""
    from ..store import write_atomic

    record = json.loads(path.read_text()) if path.exists() else {"members": {}}
    groups = record.setdefault("seed_groups", {})
    shapes: dict[str, list] = {}
    for m in members:
        shapes.setdefault(m.shape, []).append(m)
    out = {}
    for label, ms in shapes.items():
        if len(ms) < 2:
            continue
        if label in groups:
            out[label] = bool(groups[label]["batched"])
            continue
        if train_cfg.seed_groups != "auto":
            entry = {"batched": train_cfg.seed_groups == "batched", "source": "pinned"}
        else:
            k = kernels[ms[0].model_id]
            own = [mixtures[m.model_id] for m in ms]
            key = _machine_key(ms[0].config, timing_batches(own[0], train_cfg),
                               [k, f"seeds {len(ms)}: batched or separate"])
            hit = _load_cache().get(key)
            if isinstance(hit, dict) and isinstance(hit.get("batched"), bool):
                entry = {**hit, "source": "machine cache"}
            else:
                if on_measure:
                    on_measure(f"{label} x{len(ms)} seeds")
                t = time_seed_group(ms[0].config, own, train_cfg, k)
                entry = {"batched": t["batched"] < (1 - GROUP_MARGIN) * t["separate"],
                         "ms_per_step": {n: round(v * 1e3, 3) for n, v in t.items()},
                         "seeds": len(ms), "source": "measured"}
                _remember_entry(key, {k_: v for k_, v in entry.items() if k_ != "source"})
        groups[label] = entry
        out[label] = entry["batched"]
    write_atomic(path, json.dumps(record, indent=1) + "\n")
    return out


def _remember_entry(key: str, entry: dict) -> None:
    from ..store import write_atomic

    cache = _load_cache()
    cache[key] = entry
    try:
        machine_cache().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(machine_cache(), json.dumps(cache, indent=1) + "\n")
    except OSError:  # a read-only home: runs just time again
        pass


def recorded_threads(path: Path) -> int | None:
    """The intra-op thread count a run recorded with its kernels (its numbers depend on it)."""
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text())["threads"])
    except (ValueError, KeyError, TypeError):
        return None


def _read(path: Path) -> dict[str, Kernels] | None:
    if not path.exists():
        return None
    try:
        members = json.loads(path.read_text())["members"]
        return {mid: Kernels(v["precision"], v["attention"]) for mid, v in members.items()}
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a kernel record EmergeLab wrote ({err}); "
                        "delete it to measure again") from None
