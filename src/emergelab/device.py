"""Where tensors live: the one place that turns `--device` / `--dtype` into torch objects, says
what a device can do, and moves batches and models there. Everything else asks this module."""

from __future__ import annotations

import contextlib

import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str | None = "auto") -> torch.device:
    """auto: the first CUDA device when there is one, else the CPU. cuda[:N] and mps must be
    there; anything else is a one-line error."""
    name = (name or "auto").strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICES or (":" in name and kind != "cuda"):
        raise UserError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)} "
                        "(or cuda:N)")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = (f"a CUDA {torch.version.cuda} build, but no GPU is visible"
                     if torch.version.cuda else "a CPU-only build")
            raise UserError(f"--device {name}: no CUDA device here (this PyTorch is {build})")
        suffix = name.partition(":")[2]
        if suffix and not suffix.isdigit():
            raise UserError(f"unknown device {name!r}: cuda takes a device number, as in cuda:0")
        index = int(suffix or 0)
        if not 0 <= index < torch.cuda.device_count():
            raise UserError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices")
        return torch.device("cuda", index)
    if kind == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise UserError("--device mps: Apple's Metal backend is not available here")
    return torch.device(kind)


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The dtype weights are loaded in. Default: bfloat16 on CUDA (every GPU since Ampere runs it
    at full speed and it keeps float32's range), float32 elsewhere."""
    if name is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise UserError(f"unknown dtype {name!r}: choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def autocast(device: torch.device | str, precision: str):
    """The context a forward pass runs in: bf16 autocast on the device's type, or nothing."""
    kind = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(kind, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def device_of(model) -> torch.device:
    return next(model.parameters()).device


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (timings on an asynchronous device mean nothing without it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
