"""Checkpoints: safetensors weights plus a JSON config, written atomically (temp dir + rename).

    checkpoints/<model_id>/step_<n>/model.safetensors, config.json
    checkpoints/<model_id>/train_state/   the latest resume point: weights, AdamW state, step

Nothing is loaded with pickle.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..models.gpt import GPT, GPTConfig


def atomic_dir(final: Path, write) -> None:
    """Write a directory under a temporary name, then swap it into place."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _state(model: GPT) -> dict[str, torch.Tensor]:
    # the output head is tied to wte; safetensors refuses shared storage, so store clones, on
    # the CPU: a checkpoint does not depend on the device it was trained on
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(model: GPT, path: Path, meta: dict) -> None:
    def write(tmp: Path) -> None:
        save_file(_state(model), tmp / "model.safetensors")
        (tmp / "config.json").write_text(json.dumps({"model": model.cfg.to_dict(), **meta}, indent=2))

    atomic_dir(path, write)


def load_checkpoint(path: Path) -> tuple[GPT, dict]:
    path = Path(path)
    try:
        info = json.loads((path / "config.json").read_text())
        cfg = GPTConfig(**info["model"])
        model = GPT(cfg)
        model.load_state_dict(load_file(path / "model.safetensors"))
    except FileNotFoundError as err:
        raise UserError(f"{path} is not a checkpoint (missing {Path(err.filename).name})") from None
    except (json.JSONDecodeError, KeyError, TypeError, SafetensorError, RuntimeError) as err:
        raise UserError(f"{path}: corrupted checkpoint ({str(err).splitlines()[0]})") from None
    model.eval()
    return model, info


def list_checkpoints(model_dir: Path) -> list[tuple[int, Path]]:
    out = []
    for p in Path(model_dir).glob("step_*"):
        if (p / "config.json").exists():
            out.append((int(p.name.split("_", 1)[1]), p))
    return sorted(out)


def save_train_state(model: GPT, opt: torch.optim.Optimizer, path: Path, meta: dict) -> None:
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.detach().to("cpu").contiguous()
               for i, st in sd["state"].items() for k, v in st.items()}

    def write(tmp: Path) -> None:
        save_file(_state(model), tmp / "model.safetensors")
        save_file(tensors, tmp / "optimizer.safetensors")
        (tmp / "state.json").write_text(json.dumps({"param_groups": sd["param_groups"], **meta}))

    atomic_dir(path, write)


def load_train_state(model: GPT, opt: torch.optim.Optimizer, path: Path) -> dict | None:
    """Restore model and optimizer from the resume point; None when there is none."""
    if not (path / "state.json").exists():
        return None
    meta = json.loads((path / "state.json").read_text())
    model.load_state_dict(load_file(path / "model.safetensors"))
    flat = load_file(path / "optimizer.safetensors")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in flat.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return meta
