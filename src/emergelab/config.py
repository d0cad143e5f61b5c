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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    # high-resolution evaluation (evaluate/pass_until.py): sample each example's answer at
    # temperature 1 until it is correct twice, at most this many times; scores log_pass_prob
    pass_until: int | None = Field(None, ge=1)

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
    # intervals that hold seed-to-seed variation (analysis/verdicts/seeds.py)
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


class RecipeChange(Strict):
    """One change a recipe makes to the base's training mixture (data/recipes.py).

    data: rows of any task (variant, options) at `share` of training rows. ability_seeds: worked
    examples of a base task (its worked variant: scratchpads, chains of thought) at `share`.
    contamination: the base task's evaluation items themselves at `share` (the negative
    control). repetition: the task's rows drawn from only `items` training items. curriculum: the
    task's rows moved to the first `until` of training (same rows per task, another order)."""

    kind: Literal["data", "ability_seeds", "contamination", "repetition", "curriculum"]
    task: str
    variant: str | None = None
    options: dict[str, int | float | str] = {}
    share: float | None = Field(None, gt=0, lt=1)
    items: int | None = Field(None, ge=1)
    until: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "RecipeChange":
        needs = {"data": "share", "ability_seeds": "share", "contamination": "share",
                 "repetition": "items", "curriculum": "until"}[self.kind]
        if getattr(self, needs) is None:
            raise ValueError(f"a {self.kind} change needs {needs}")
        for name in ("share", "items", "until"):
            if name != needs and getattr(self, name) is not None:
                raise ValueError(f"a {self.kind} change takes no {name}")
        if self.options and self.kind != "data":
            raise ValueError(f"a {self.kind} change takes no options (it uses the base task's)")
        return self


class RecipeConfig(Strict):
    """A named set of changes to the base's training mixture; trains the base's ladder, seeds and
    step budget."""

    name: str
    about: str = ""
    steps: int | None = Field(None, ge=1)  # if given, must equal the base's (equal budgets)
    changes: list[RecipeChange] = Field(min_length=1)


class TransferConfig(Strict):
    """Transfer sets in a recipe study: every task also scored on fresh items, its surface
    format and a harder variant, where the task offers them. surface_share: the share of each
    such task's training rows written in its surface format (train-split items only), so the
    format can be read but the evaluated items are never seen in it."""

    surface_share: float = Field(0.25, ge=0, lt=1)
    # one context length for every experiment of the study (the longest any of them needs), so
    # base and recipe members are the same models
    block_size: int | None = Field(None, ge=8)


class RunConfig(Strict):
    name: str = "run"
    seed: int = 0
    tasks: list[TaskConfig] = Field(min_length=1)
    ladder: LadderConfig
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    # set only in a recipe study's experiments (analysis/verdicts/induction.py): the changes this run
    # makes to the mixture, and the transfer sets it is scored on
    recipe: RecipeConfig | None = None
    transfer: TransferConfig | None = None


class StudyConfig(RunConfig):
    """A recipe study (`emergelab induce`): a base run and recipes trained on its ladder, seeds
    and step budget, every task scored in distribution and on transfer sets."""

    name: str = "study"
    recipes: list[RecipeConfig] = Field(min_length=1)
    surface_share: float = Field(0.25, ge=0, lt=1)

    @field_validator("recipes")
    @classmethod
    def _names(cls, v: list[RecipeConfig]) -> list[RecipeConfig]:
        names = [r.name for r in v]
        if len(set(names)) != len(names):
            raise ValueError("recipe names must be unique")
        if "base" in names:
            raise ValueError("'base' names the base run; give the recipe another name")
        if any(not n.replace("_", "").replace("-", "").isalnum() for n in names):
            raise ValueError("recipe names may use letters, digits, '-' and '_' only")
        return v

    def experiments(self) -> list[RunConfig]:
        """The base and each recipe as runs of their own (their names become the rows'
        family)."""
        common = self.model_dump(exclude={"recipes", "surface_share", "name", "recipe",
                                          "transfer"})
        transfer = TransferConfig(surface_share=self.surface_share)
        base = RunConfig.model_validate({**common, "name": "base", "transfer": transfer},
                                        strict=False)
        return [base] + [base.model_copy(update={"name": r.name, "recipe": r}) for r in self.recipes]


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
    return f"{where}: {e['msg'].removeprefix('Value error, ')}"


def parse_config(data: dict, source: str) -> RunConfig | SuiteConfig | StudyConfig:
    if "recipes" in data:
        return parse_study(data, source)
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


def parse_study(data: dict, source: str) -> StudyConfig:
    try:
        study = StudyConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source}: {_first_error(err)}") from None
    _check_run(study, source)
    for recipe in study.recipes:
        _check_recipe(study, recipe, f"{source}: recipe {recipe.name!r}")
    return study


def _check_recipe(study: StudyConfig, recipe: RecipeConfig, where: str) -> None:
    from .tasks import REGISTRY, build_task

    if recipe.steps is not None and recipe.steps != study.train.steps:
        raise UserError(f"{where} trains {recipe.steps} steps and the base {study.train.steps}: "
                        "every recipe trains the base's step budget")
    if sum(c.kind == "curriculum" for c in recipe.changes) > 1:
        raise UserError(f"{where}: one curriculum per recipe")
    shares = sum(c.share or 0 for c in recipe.changes)
    if shares >= 1:
        raise UserError(f"{where}: its shares add up to {shares:g}; they must leave room for the "
                        "base's rows (below 1)")
    for c in recipe.changes:
        if c.task not in REGISTRY:
            raise UserError(f"{where}: unknown task {c.task!r} "
                            f"(known: {', '.join(sorted(REGISTRY))})")
        if c.kind == "data":
            build_task(c.task, c.variant, **c.options)
            continue
        base = [t for t in study.tasks if t.name == c.task
                and (c.variant is None or (t.variant or REGISTRY[t.name].variants[0]) == c.variant)]
        if len(base) != 1:
            listed = ", ".join(t.name + (f"/{t.variant}" if t.variant else "") for t in study.tasks)
            what = "is not one of" if not base else "names several of"
            raise UserError(f"{where}: {c.kind} of {c.task!r} {what} the base's tasks ({listed})"
                            + ("; give its variant" if base else ""))
        task = build_task(base[0].name, base[0].variant, **base[0].options)
        if c.kind == "ability_seeds" and task.worked_variant is None:
            raise UserError(f"{where}: task {task.id!r} has no worked-example variant to seed "
                            "with (use a data change with the variant you mean)")
        if c.kind == "contamination" and task.memorisation:
            raise UserError(f"{where}: task {task.id!r} has no held-out evaluation items to "
                            "leak (it is evaluated on what it trains on)")


def load_config(path: str | Path) -> RunConfig | SuiteConfig | StudyConfig:
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


def load_preset(name: str) -> RunConfig | SuiteConfig | StudyConfig:
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r} (known: {', '.join(preset_names())})")
    text = resources.files("emergelab.presets").joinpath(f"{name}.toml").read_text()
    return parse_config(tomllib.loads(text), f"preset {name}")


def with_seeds(cfg: RunConfig | SuiteConfig | StudyConfig, n: int | None):
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
