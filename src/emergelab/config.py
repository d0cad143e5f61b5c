"""Run configuration: pydantic models (unknown keys are errors), TOML loading, named presets.

A preset is a TOML file shipped in `emergelab/presets/`; `quick` is the embedded default that
`emergelab demo` runs.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import UserError


class Strict(BaseModel):
    """Unknown keys and wrong types are errors: `steps = "24"` is not 24 (strict mode; TOML's
    integers still stand for floats)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TaskConfig(Strict):
    """One task in the mixture and in the evaluation."""

    name: str
    variant: str | None = None
    weight: float = Field(1.0, ge=0)          # share of training rows
    n_eval: int = Field(200, ge=1)            # held-out examples scored per checkpoint
    options: dict[str, int | float | str] = {}  # task-specific, e.g. {digits = 3}
    # demonstrations before each evaluated question: each count is scored (tasks/fewshot.py)
    shots: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1)
    # generation: new tokens allowed (default: twice the longest target + 8) and extra strings
    # that end an answer (a newline ends one-line answers anyway)
    max_new_tokens: int | None = Field(None, ge=1)
    stop: list[str] = []

    @field_validator("shots")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"shots lists a count twice ({v})")
        return v


class LadderConfig(Strict):
    """The size ladder: one entry per member, d_model as the dial."""

    d_models: list[int] = Field(min_length=1)
    n_layers: list[int] | None = None         # explicit depths, one per d_model (else the rule)
    head_dim: int = Field(16, ge=1)
    max_layers: int = Field(4, ge=1)
    # training seeds per size: thresholds and shifts become claims about the recipe, with
    # intervals that hold seed-to-seed variation (analysis/seeds.py)
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1)
    # what a seed changes: initialisation and data order ("both"), or only one of them
    vary: Literal["both", "init", "data"] = "both"
    # a declared ablation: members differing in this shape column are separate arms, one curve
    # each in `analyze` (e.g. "n_layer" for 1- vs 2-layer members at the same widths). Never
    # guessed from the table: a real family changes depth and width together as it grows.
    arms: Literal["n_layer", "d_model", "n_head"] | None = None

    @field_validator("d_models")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v):
            raise ValueError("d_models must be positive")
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds lists a seed twice ({v})")
        return v


class TrainConfig(Strict):
    steps: int = Field(800, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)   # cosine decays to lr * min_lr_ratio
    warmup_steps: int = Field(50, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.98, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0)            # 0 disables clipping
    # "auto": timed per member shape at the start of a run (train/kernels.py, kernels.json)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    attention: Literal["auto", "sdpa", "matmul"] = "auto"
    # seeds of one member shape: trained stacked in one model ("batched"), one by one
    # ("separate"), or whichever is faster here ("auto": timed like the precision)
    seed_groups: Literal["auto", "batched", "separate"] = "auto"
    checkpoints: int = Field(10, ge=1)             # log-spaced checkpoints (plus step 0 and final)
    val_batch: int = Field(512, ge=1)              # held-out rows for val_loss


class EvalConfig(Strict):
    batch_size: int = Field(256, ge=1)
    bootstrap: int = Field(1000, ge=0)
    level: float = Field(0.95, gt=0, lt=1)
    every_checkpoint: bool = True                  # False: final checkpoints only


class RunConfig(Strict):
    name: str = "run"
    seed: int = 0
    tasks: list[TaskConfig] = Field(min_length=1)
    ladder: LadderConfig
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


class SuiteConfig(Strict):
    """Several experiments run one after another into subdirectories of one run dir (each its
    own ladder, mixture and schedule: e.g. a size ladder, format ablations, a grokking run). Each
    experiment's name becomes its rows' `family`, so their curves never mix."""

    name: str = "suite"
    experiments: list[RunConfig] = Field(min_length=1)

    @field_validator("experiments")
    @classmethod
    def _unique(cls, v: list[RunConfig]) -> list[RunConfig]:
        names = [e.name for e in v]
        if len(set(names)) != len(names):
            raise ValueError("experiment names must be unique")
        if any(not n.replace("_", "").replace("-", "").isalnum() for n in names):
            raise ValueError("experiment names may use letters, digits, '-' and '_' only")
        return v


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "config"
    return f"{where}: {e['msg']}"


def parse_config(data: dict, source: str) -> RunConfig | SuiteConfig:
    if "experiments" in data:
        try:
            suite = SuiteConfig.model_validate(data)
        except ValidationError as err:
            raise UserError(f"{source}: {_first_error(err)}") from None
        for exp in suite.experiments:
            _check_run(exp, f"{source} [{exp.name}]")
        return suite
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source}: {_first_error(err)}") from None
    _check_run(cfg, source)
    return cfg


def _check_run(cfg: RunConfig, source: str) -> None:
    if cfg.ladder.n_layers is not None and len(cfg.ladder.n_layers) != len(cfg.ladder.d_models):
        raise UserError(f"{source}: ladder.n_layers needs one entry per d_models entry")
    from .tasks import build_task  # validates names, variants and options

    for t in cfg.tasks:
        build_task(t.name, t.variant, **t.options)
    if not any(t.weight > 0 for t in cfg.tasks):
        raise UserError(f"{source}: every task has weight 0; nothing to train on")


def load_config(path: str | Path) -> RunConfig | SuiteConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read config {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err})") from None
    return parse_config(data, str(path))


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("emergelab.presets").iterdir()
                  if p.name.endswith(".toml"))


def load_preset(name: str) -> RunConfig | SuiteConfig:
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r} (known: {', '.join(preset_names())})")
    text = resources.files("emergelab.presets").joinpath(f"{name}.toml").read_text()
    return parse_config(tomllib.loads(text), f"preset {name}")


def with_seeds(cfg: RunConfig | SuiteConfig, n: int | None) -> RunConfig | SuiteConfig:
    """cfg with training seeds 0..n-1 on every ladder (`--seeds N`); unchanged for None."""
    if n is None:
        return cfg
    if n < 1:
        raise UserError(f"--seeds must be at least 1, not {n}")

    def one(run: RunConfig) -> RunConfig:
        return run.model_copy(update={"ladder": run.ladder.model_copy(
            update={"seeds": list(range(n))})})

    if isinstance(cfg, SuiteConfig):
        return cfg.model_copy(update={"experiments": [one(e) for e in cfg.experiments]})
    return one(cfg)


def to_toml(cfg: RunConfig | SuiteConfig) -> str:
    """The resolved config as TOML (written to the run dir so a run is self-describing); unset
    optional fields are left out, since TOML has no null."""
    return tomli_w.dumps(cfg.model_dump(exclude_none=True))


def same_config(text: str, cfg: RunConfig | SuiteConfig, source: str) -> bool:
    """Does a stored config.toml describe the same run as cfg? Compared by value, so a field
    added later with a default (absent from older files) or another layout of the file still
    matches."""
    try:
        stored = parse_config(tomllib.loads(text), source)
    except (tomllib.TOMLDecodeError, UserError):  # not a config of ours: not this run's either
        return False
    return type(stored) is type(cfg) and stored.model_dump() == cfg.model_dump()
