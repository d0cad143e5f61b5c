"""A recipe study end to end (`emergelab induce`): the base and every recipe trained on one ladder,
seed set and step budget into DIR/<name>, every task scored in distribution and on its transfer
sets, then each recipe judged against the base (analysis/verdicts/induction.py).

Each experiment is an ordinary run (its own config.toml, resumable, any backend), so a study
resumes where it stopped, a finished study is only read, and adding a recipe to a study reuses
the base already in DIR.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from .config import RunConfig, StudyConfig, TransferConfig, parse_study, to_toml
from .errors import UserError

STUDY_FILE = "study.toml"


def study_runs(study: StudyConfig, out: Path) -> list[RunConfig]:
    """The study's experiments with one shared context length: the longest any of them needs,
    or the base's already in DIR (a base is reused, never retrained)."""
    from .experiment import block_size_for, build_eval_tasks, build_tasks, training_mixture

    runs = study.experiments()
    need = 0
    for r in runs:
        tasks = build_tasks(r)
        need = max(need, block_size_for(training_mixture(r, tasks), build_eval_tasks(r, tasks)))
    block = need
    stored = Path(out) / runs[0].name / "config.toml"
    if stored.exists():
        try:
            have = tomllib.loads(stored.read_text()).get("transfer", {}).get("block_size")
        except (OSError, tomllib.TOMLDecodeError):
            have = None
        if isinstance(have, int):
            if have < need:
                raise UserError(f"the base in {out} was trained with context {have}, and these "
                                f"recipes need {need}: use another --out")
            block = have
    transfer = TransferConfig(surface_share=study.surface_share, block_size=block)
    return [r.model_copy(update={"transfer": transfer}) for r in runs]


def induce(study: StudyConfig, out: Path, quiet: bool = False, console: Console | None = None,
           backend=None, device: str | None = None) -> list[Path]:
    """Train and evaluate the base and each recipe into out/<name>; returns their directories."""
    from .device import resolve_device
    from .execute import LocalPool
    from .pipeline import check_out_dir, run
    from .run_lock import run_dir_lock
    from .store import write_atomic

    out = Path(out)
    backend = backend or LocalPool()
    backend.check()
    resolve_device(device)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    runs = study_runs(study, out)
    dirs = [out / r.name for r in runs]
    for r, d in zip(runs, dirs):
        check_out_dir(d, r)  # a different run in a recipe's place ends here, nothing written
    with run_dir_lock(out):
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(out / STUDY_FILE, to_toml(study))
        except OSError as err:
            raise UserError(f"cannot write to --out {out}: {err.strerror}") from None
        for r, d in zip(runs, dirs):
            if console and not quiet:
                console.print(f"{'base' if r.recipe is None else 'recipe ' + r.name} -> {d}",
                              highlight=False)
            run(r, d, quiet=quiet, console=console, backend=backend, device=device)
    return dirs


def load_study(out: Path) -> StudyConfig:
    path = Path(out) / STUDY_FILE
    try:
        text = path.read_text()
    except OSError:
        raise UserError(f"{out} holds no recipe study ({STUDY_FILE} missing)") from None
    return parse_study(tomllib.loads(text), str(path))


@dataclass
class Induction:
    """What a study found: one record per recipe, task and set, each recipe's mixture and its
    training tokens against the base's."""

    source: Path
    records: list
    mixtures: dict[str, list[str]]
    tokens: dict[str, float] = field(default_factory=dict)  # recipe tokens / base tokens
    seeds: int = 1

    def to_json(self) -> dict:
        return {"records": [r.to_json() for r in self.records], "mixtures": self.mixtures,
                "tokens_vs_base": self.tokens, "seeds": self.seeds}

    def to_frame(self) -> pd.DataFrame:
        from .analysis.verdicts.induction import records_frame

        return records_frame(self.records)


def mixture_lines(cfg: RunConfig) -> list[str]:
    from .data.recipes import describe, study_components, study_mixture
    from .experiment import build_tasks

    tasks = build_tasks(cfg)
    comps, _ = study_components(cfg, tasks)
    return describe(study_mixture(cfg, tasks, cfg.seed), comps, cfg.train.steps)


def _tokens(results: pd.DataFrame) -> dict[str, float]:
    """Each family's training tokens at its final checkpoints (mean over members)."""
    from .sources import final_rows

    final = final_rows(results)
    final = final[pd.to_numeric(final["tokens"], errors="coerce").notna()]
    per = final.drop_duplicates(["family", "model_id"]).groupby("family")["tokens"].mean()
    return {str(k): float(v) for k, v in per.items()}


def read_induction(out: Path, metric: str = "exact_match",
                   seed_spread: float | None = None) -> Induction:
    """Judge every recipe of the study in out against its base."""
    from .analysis import analyze
    from .analysis.verdicts.induction import induction_records

    out = Path(out)
    study = load_study(out)
    runs = study.experiments()
    missing = [r.name for r in runs if not (out / r.name / "results").is_dir()]
    if missing:
        raise UserError(f"{out}: no results yet for {', '.join(missing)} (run emergelab induce "
                        "on it to train them)")
    by_size = analyze(out)
    from .sources import load_table

    table = load_table(out)
    tokens = _tokens(table)
    recipes = [r.name for r in study.recipes]
    records = induction_records(by_size.curves, recipes, metric, seed_spread, tokens,
                                table=table, x=by_size.x)
    ratio = {name: tokens[name] / tokens["base"] for name in recipes}
    return Induction(out, records, {r.name: mixture_lines(r) for r in runs}, ratio,
                     len(study.ladder.seeds))
