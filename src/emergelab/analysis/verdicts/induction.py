"""Did a data recipe make an ability emerge earlier, and is that ability or a test-taking trick?
(`emergelab induce`)

Each recipe is compared with the base on every task, on each evaluation set: the task's held-out
items (in distribution) and the transfer sets no recipe trains on — fresh items from a disjoint
generator stream (the GSM1k idea: Zhang et al. 2024 found models up to ~13 points worse on a fresh
copy of GSM8K), the same items in a surface format the model reads, and a harder variant. The
shift of each set is compare's (analysis/verdicts/compare.py): where each run reaches one common level,
with seed-to-seed variation integrated out when the runs have several seeds.

The class of a recipe on a task, and the rule that decided it (`reason`):
- later: in distribution, significantly later (a recipe can hurt);
- no_effect: the in-distribution shift is not significant, or nothing rises;
- test_taking: significantly earlier in distribution, not on fresh items;
- transfers: earlier in distribution and, each significantly, on fresh and surface items, each
  transfer shift at least half the in-distribution one;
- partial: earlier in distribution and on fresh items, but not every transfer holds up (a format
  the gain does not reach, or a transfer shift under half);
- earlier: earlier in distribution, with no fresh set to test it on.
The harder set is reported beside them and decides nothing: one more digit is another skill.

A threshold moves only when a recipe changes what models of some size can do. A leak too small
to move it can still show where GSM1k looked for it, in scores: `fresh_gap` is how many points
more the recipe's models score on the evaluated items than on fresh ones, beyond the base's own
gap, over the members below the base's threshold (pairs of the same size and seed; a t interval
over them). It is reported and named in the reason; it does not change the class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ...sources import final_rows
from .compare import compare_thresholds

SETS = ("in_distribution", "fresh", "surface", "harder")
CLASSES = ("transfers", "partial", "test_taking", "earlier", "no_effect", "later")
TRANSFER_SHARE = 0.5  # a transfer shift must be at least this share of the in-distribution one


@dataclass
class InductionRecord:
    recipe: str
    task: str            # task id: name/variant ("add/plain")
    set: str             # in_distribution, fresh, surface or harder
    shift_decades: float | None    # recipe minus base, decades of x; negative: earlier
    shift_bound: str | None        # exact, at least, at most (censored at a ladder's end)
    shift_ci: list | None
    significant: bool | None
    efficiency: float | None       # times fewer parameters to reach the common level
    efficiency_flops: float | None  # times less training compute (tokens as measured)
    x_base: float | None           # where each reaches the level (None: beyond its ladder)
    x_recipe: float | None
    level: float | None
    seeds: str | None              # what the interval knows of seeds (compare's seeds_a/b)
    class_: str
    reason: str
    note: str | None = None
    fresh_gap: float | None = None       # points; see the module's docstring
    fresh_gap_ci: list | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["class"] = out.pop("class_")
        return out


def _split_variant(variant: str | None) -> tuple[str, str]:
    """("plain", "fresh") from "plain-fresh"; ("plain", "in_distribution") from "plain"."""
    variant = variant or "plain"
    head, _, tail = variant.rpartition("-")
    if head and tail in SETS:
        return head, tail
    return variant, "in_distribution"


def _efficiency(row: dict) -> float | None:
    s = row.get("shift_decades")
    return None if s is None else float(10 ** -s)


def _shift_words(row: dict | None) -> str:
    if row is None or row.get("shift_decades") is None:
        return "no shift (neither reaches the level)"
    ci = row.get("shift_ci") or [None, None]

    def end(v, inf):
        return inf if v is None else f"{v:+.2f}"

    bound = {"at least": ">= ", "at most": "<= "}.get(row.get("shift_bound"), "")
    return f"{bound}{row['shift_decades']:+.2f} [{end(ci[0], '-inf')}, {end(ci[1], '+inf')}]"


def _earlier(row: dict | None) -> bool:
    return bool(row and row.get("significant") and row["shift_decades"] < 0)


def classify_recipe(sets: dict[str, dict]) -> tuple[str, str]:
    """The class of one recipe on one task from its per-set compare rows, and why."""
    ind = sets.get("in_distribution")
    if ind is None or ind.get("shift_decades") is None:
        why = (ind or {}).get("note") or "neither base nor recipe reaches the level in distribution"
        return "no_effect", why
    if ind.get("significant") is None:
        return "no_effect", ("one seed per side: seed-to-seed variation unknown, no shift can be "
                             f"called real (in distribution {_shift_words(ind)})")
    if not ind["significant"]:
        return "no_effect", f"in-distribution shift {_shift_words(ind)} includes 0"
    if ind["shift_decades"] > 0:
        return "later", f"later in distribution: {_shift_words(ind)}"
    fresh = sets.get("fresh")
    if fresh is None:
        return "earlier", f"earlier in distribution ({_shift_words(ind)}); no fresh set to test"
    if not _earlier(fresh):
        return "test_taking", (f"earlier in distribution ({_shift_words(ind)}) but not on fresh "
                               f"items ({_shift_words(fresh)})")
    need = TRANSFER_SHARE * abs(ind["shift_decades"])
    short = [name for name in ("fresh", "surface") if name in sets
             and not (_earlier(sets[name]) and abs(sets[name]["shift_decades"]) >= need)]
    if short:
        parts = ", ".join(f"{n} {_shift_words(sets.get(n))}" for n in short)
        return "partial", (f"earlier in distribution ({_shift_words(ind)}) and on fresh items, "
                           f"but not (or under half as much) on: {parts}")
    held = ", ".join(f"{n} {_shift_words(sets[n])}" for n in ("fresh", "surface") if n in sets)
    return "transfers", (f"earlier in distribution ({_shift_words(ind)}) and on {held}, each "
                         f"significant and at least {TRANSFER_SHARE:.0%} of it")


def fresh_gap(table: pd.DataFrame, recipe: str, task: str, variant: str, metric: str,
              below: float, x: str = "params_nonembed", base: str = "base"
              ) -> tuple[float, list[float]] | None:
    """(gap, 95% interval) in points of `metric`: the recipe's in-distribution minus fresh score
    beyond the base's, over members of one size and seed in both runs whose size is below
    `below`; None with fewer than 3 such pairs."""
    table = final_rows(table)
    rows = table[(table["task"] == task) & (table["metric"] == metric)
                 & table["variant"].isin([variant, f"{variant}-fresh"])
                 & (pd.to_numeric(table[x], errors="coerce") < below)]
    if rows.empty:
        return None
    seed = rows["seed"] if "seed" in rows.columns else 0
    wide = rows.assign(seed=seed).pivot_table(index=["family", x, "seed"], columns="variant",
                                              values="value", aggfunc="mean")
    if f"{variant}-fresh" not in wide.columns or variant not in wide.columns:
        return None
    gap = (wide[variant] - wide[f"{variant}-fresh"]).dropna()
    if recipe not in gap.index.get_level_values(0) or base not in gap.index.get_level_values(0):
        return None
    paired = (gap.xs(recipe) - gap.xs(base)).dropna()
    k = len(paired)
    if k < 3:
        return None
    mean, se = float(paired.mean()), float(paired.std(ddof=1) / np.sqrt(k))
    half = float(stats.t.ppf(0.975, k - 1)) * se
    return 100 * mean, [100 * (mean - half), 100 * (mean + half)]


def induction_records(curves: list, recipes: list[str], metric: str = "exact_match",
                      seed_spread: float | None = None, tokens: dict[str, float] | None = None,
                      base: str = "base", table: pd.DataFrame | None = None,
                      x: str = "params_nonembed") -> list[InductionRecord]:
    """One record per recipe, task and evaluation set. curves: every family's Curve objects on
    the size axis x (analysis.analyze(...).curves of a study directory); tokens: each family's
    training tokens (for efficiency in compute: training FLOPs are 6·N·tokens, so the recipe
    needs efficiency x base/recipe tokens times less), optional; table: the study's rows (for
    fresh_gap), optional."""
    def family(cs, name):
        return [c for c in cs if c.keys.get("family") == name]

    records = []
    for recipe in recipes:
        rows = compare_thresholds(family(curves, base), family(curves, recipe), metric, seed_spread)
        token_ratio = (tokens[base] / tokens[recipe]) if tokens and tokens.get(recipe) else None
        groups: dict[tuple, dict[str, dict]] = {}
        for r in rows:
            if r["variant_a"] != r["variant_b"]:
                continue  # a pair across formats is not one set
            variant, set_name = _split_variant(r["variant_a"])
            groups.setdefault((r["task"], variant), {})[set_name] = r
        for (task, variant), sets in sorted(groups.items()):
            cls, reason = classify_recipe(sets)
            gap = None
            ind = sets.get("in_distribution")
            if table is not None and ind is not None and "fresh" in sets:
                # below the base's threshold: where a memorised item is the way to be right
                below = ind["x_at_level_a"] or ind["largest_a"] * 1.0001
                gap = fresh_gap(table, recipe, task, variant, metric, below, x, base)
                if gap is not None and gap[1][0] > 0 and cls != "test_taking":
                    reason += (f"; yet below the base's threshold its models score "
                               f"{gap[0]:+.1f} points [{gap[1][0]:+.1f}, {gap[1][1]:+.1f}] more "
                               "on the evaluated items than on fresh ones, beyond the base's "
                               "gap: a test-taking signature too small to move the threshold")
            for set_name in SETS:
                r = sets.get(set_name)
                if r is None:
                    continue
                records.append(InductionRecord(
                    recipe=recipe, task=f"{task}/{variant}", set=set_name,
                    shift_decades=r["shift_decades"], shift_bound=r["shift_bound"],
                    shift_ci=r["shift_ci"], significant=r["significant"],
                    efficiency=_efficiency(r), efficiency_flops=(_efficiency(r) * token_ratio
                                      if _efficiency(r) is not None and token_ratio else None),
                    x_base=r["x_at_level_a"], x_recipe=r["x_at_level_b"], level=r["level"],
                    seeds=r["seeds_b"], class_=cls, reason=reason, note=r["note"],
                    fresh_gap=gap[0] if gap else None, fresh_gap_ci=gap[1] if gap else None))
    return records


def records_frame(records: list[InductionRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.to_json() for r in records])
