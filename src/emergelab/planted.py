"""Planted curves with known truth, for validating the classifier: sharp jumps with known
thresholds and widths, smooth log-linear rises, flat, inverse and U-shaped curves, and exact match
built as p^L from a smooth per-token accuracy p — all observed through binomial noise on n
examples, as a real evaluation would be."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _rows(kind: str, task: str, metric: str, x: np.ndarray, p: np.ndarray, n: int,
          rng: np.random.Generator, baseline: float, **extra) -> list[dict]:
    p = np.clip(p, 0, 1)
    k = rng.binomial(n, p)
    return [{"family": "planted", "task": task, "metric": metric, "params_nonembed": xi,
             "value": ki / n, "n": n, "baseline": baseline, "higher_is_better": True,
             "truth": kind, **extra} for xi, ki in zip(x, k)]


def ladder(rng: np.random.Generator, decades: tuple[float, float], n_models: int = 10,
           spacing: float | None = None) -> np.ndarray:
    """log10 sizes: n_models evenly over the decades, or every `spacing` decades from a random
    offset (so a threshold falls anywhere relative to the members)."""
    if spacing is None:
        return np.linspace(*decades, n_models)
    return np.arange(decades[0] + rng.uniform(0, spacing), decades[1] + 1e-9, spacing)


def logistic(t: np.ndarray, lo: float, hi: float, t0: float, width: float) -> np.ndarray:
    """lo -> hi around t0 in log10 x, with a 10-90% rise `width` decades wide."""
    return lo + (hi - lo) / (1 + np.exp(-(t - t0) * 2 * np.log(9) / width))


def planted_table(kind: str, rng: np.random.Generator, n_models: int = 10, n: int = 200,
                  decades: tuple[float, float] = (6.0, 10.0),
                  spacing: float | None = None) -> tuple[pd.DataFrame, dict]:
    """One planted task of the given kind; returns its rows and the truth (threshold, width).
    Kinds: jump (10-90% width 0.1-0.5 decade), gradual (a logistic 1.5-2.5 decades wide), smooth,
    flat, inverse, u_shaped, mirage (exact match p^L over a per-token accuracy p linear in log x)
    and true_jump (the per-token accuracy itself jumps)."""
    t = ladder(rng, decades, n_models, spacing)
    x = 10**t
    base = rng.uniform(0.0, 0.25)
    task = f"{kind}-{rng.integers(1 << 30)}"
    truth: dict = {"kind": kind}
    if kind in ("jump", "gradual"):  # logistic in log10 x
        mid = (decades[0] + decades[1]) / 2
        t0 = rng.uniform(decades[0] + 1, decades[1] - 1) if kind == "jump" else rng.uniform(
            mid - 0.5, mid + 0.5)
        width = rng.uniform(0.1, 0.5) if kind == "jump" else rng.uniform(1.5, 2.5)
        top = rng.uniform(0.6, 0.95)
        p = logistic(t, base, top, t0, width)
        truth.update(threshold=10**t0, width=width, base=base, top=top)
        return pd.DataFrame(_rows(kind, task, "exact_match", x, p, n, rng, base)), truth
    if kind == "smooth":  # linear in log x from baseline to a top
        top = rng.uniform(0.5, 0.95)
        p = base + (top - base) * (t - t[0]) / (t[-1] - t[0])
        return pd.DataFrame(_rows(kind, task, "exact_match", x, p, n, rng, base)), truth
    if kind == "flat":
        p = np.full(len(t), base + rng.uniform(0, 0.3))
        return pd.DataFrame(_rows(kind, task, "exact_match", x, p, n, rng, base)), truth
    if kind == "inverse":  # worse with scale
        hi = rng.uniform(0.5, 0.9)
        p = hi - rng.uniform(0.3, 0.45) * (t - t[0]) / (t[-1] - t[0])
        return pd.DataFrame(_rows(kind, task, "exact_match", x, p, n, rng, base)), truth
    if kind == "u_shaped":  # down to a dip inside the range, then up
        t_min = rng.uniform(decades[0] + 1.2, decades[1] - 1.2)
        start, dip, end = rng.uniform(0.4, 0.6), rng.uniform(0.0, 0.15), rng.uniform(0.6, 0.95)
        p = np.where(t <= t_min, start + (dip - start) * (t - t[0]) / (t_min - t[0]),
                     dip + (end - dip) * (t - t_min) / (t[-1] - t_min))
        return pd.DataFrame(_rows(kind, task, "exact_match", x, p, n, rng, base)), truth
    if kind in ("mirage", "true_jump"):
        L = int(rng.integers(4, 9))  # answer length in tokens
        if kind == "mirage":  # per-token accuracy improves smoothly: linear in log x
            p0, p1 = rng.uniform(0.1, 0.4), rng.uniform(0.95, 0.995)  # from chance (0.1)
            tok = p0 + (p1 - p0) * (t - t[0]) / (t[-1] - t[0])
        else:  # the per-token ability itself jumps
            tok = logistic(t, 0.1, 0.99, rng.uniform(decades[0] + 1, decades[1] - 1),
                           rng.uniform(0.1, 0.25))
        em = tok**L
        if kind == "mirage":  # where exact match is halfway from chance (0.1^L) to 1
            p_half = (0.1**L + 0.5 * (1 - 0.1**L)) ** (1 / L)
            if p0 < p_half < p1:
                truth["threshold"] = 10 ** (t[0] + (p_half - p0) / (p1 - p0) * (t[-1] - t[0]))
            truth.update(L=L, em=em, x=x)
        n_tok = n * L
        rows = _rows(kind, task, "exact_match", x, em, n, rng, 0.1**L)
        rows += _rows(kind, task, "token_accuracy", x, tok, n_tok, rng, 0.1)
        for r in rows[len(rows) // 2:]:
            r["n"] = n_tok
        return pd.DataFrame(rows), truth
    raise ValueError(kind)


def planted_power_tokens(rng: np.random.Generator, n_models: int = 10, n: int = 200,
                         decades: tuple[float, float] = (6.0, 10.0),
                         chance: float = 0.1) -> tuple[pd.DataFrame, dict]:
    """Exact match over answers of L tokens whose per-token loss falls as a power law in x
    (Schaeffer et al. 2023's account of the mirage): the above-chance share of per-token
    accuracy is u = exp(-(x/c)^-alpha), p = chance + (1 - chance) u, exact match = p^L (tokens
    independent). Returns rows of exact_match (n examples) and token_accuracy (n·L tokens) and the
    truth: the threshold where exact match is halfway from its chance level chance^L to 1, and
    each member's true exact match. Exact match leaves chance (0.1) at least 1.3 decades into the
    ladder, so several members sit below it."""
    t = np.linspace(*decades, n_models)
    L = int(rng.integers(3, 9))
    alpha = rng.uniform(0.3, 1.0)
    base = chance**L

    def neg_log_u(level):  # -ln u where exact match reaches the level
        return -np.log(((level ** (1 / L)) - chance) / (1 - chance))

    # where exact match leaves chance (reaches 0.1), anywhere that leaves room on both sides
    t_low = rng.uniform(decades[0] + 1.3, decades[1] - 2.0)
    log_c = t_low + np.log10(neg_log_u(0.1)) / alpha  # -ln u = (x/c)^-alpha
    t_star = log_c - np.log10(neg_log_u(base + 0.5 * (1 - base))) / alpha
    u = np.exp(-(10.0 ** (-(t - log_c) * alpha)))
    tok = chance + (1 - chance) * u
    em = tok**L
    task = f"power_tokens-{rng.integers(1 << 30)}"
    rows = _rows("power_tokens", task, "exact_match", 10**t, em, n, rng, base)
    tok_rows = _rows("power_tokens", task, "token_accuracy", 10**t, tok, n * L, rng, chance)
    for r in tok_rows:
        r["n"] = n * L
    return pd.DataFrame(rows + tok_rows), {"threshold": 10**t_star, "L": L, "alpha": alpha,
                                           "em": em, "x": 10**t}


def forecast_planted_power_tokens(rng: np.random.Generator):
    """One planted_power_tokens curve forecast (analysis/forecasting/forecast.py) from the members whose
    exact match is still below 0.1, as the tests and bench/forecast_backtests.py score it.
    Returns (forecast, truth)."""
    from .analysis.verdicts.curves import build_curves
    from .analysis.forecasting.forecast import forecast_curve

    df, truth = planted_power_tokens(rng)
    cut = truth["x"][np.argmax(truth["em"] > 0.1)]
    curves = build_curves(df, "params_nonembed")
    em = next(c for c in curves if c.metric == "exact_match")
    return forecast_curve(em, cut, group=curves, lengths=np.array([truth["L"]])), truth


def planted_pair(rng: np.random.Generator, shift: float, spacing: float, n: int = 200,
                 decades: tuple[float, float] = (6.0, 10.0)) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Two runs of one planted jump (10-90% width 0.1-0.5 decade) whose thresholds differ by
    `shift` decades; run B's ladder is offset from A's by half a spacing, each run has its own
    binomial noise. Returns both tables and the truth (threshold_a, shift)."""
    t_a = np.arange(decades[0] + rng.uniform(0, spacing), decades[1] + 1e-9, spacing)
    t_b = t_a + spacing / 2
    base, top = rng.uniform(0.0, 0.25), rng.uniform(0.6, 0.95)
    width = rng.uniform(0.1, 0.5)
    t0 = rng.uniform(decades[0] + 1, decades[1] - 1 - max(shift, 0))
    task = f"pair-{rng.integers(1 << 30)}"
    tables = [pd.DataFrame(_rows("jump", task, "exact_match", 10**t, logistic(t, base, top, t0 + s,
                                                                            width), n, rng, base))
              for t, s in ((t_a, 0.0), (t_b, shift))]
    return tables[0], tables[1], {"threshold_a": 10**t0, "shift": shift}


def planted_seeds(rng: np.random.Generator, seeds: int, spread: float, spacing: float,
                  n: int = 200, decades: tuple[float, float] = (6.0, 10.0),
                  t0: float | None = None, offset: float | None = None,
                  task: str | None = None,
                  levels: tuple[float, float] | None = None) -> tuple[pd.DataFrame, dict]:
    """One recipe trained with several seeds: each seed jumps sharply (10-90% width 0.1-0.3
    decade) at its own threshold, drawn N(t0, spread^2) around the population's t0 (log10 x);
    one ladder (every `spacing` decades from `offset`, random when None) for all seeds, each
    seed's evaluation with its own binomial noise; levels = (base, top), random when None (two
    recipes of one task share them). Returns the rows (with a seed column) and the truth: the
    population threshold and each seed's."""
    start = decades[0] + (rng.uniform(0, spacing) if offset is None else offset)
    t = np.arange(start, decades[1] + 1e-9, spacing)
    base, top = levels or (rng.uniform(0.0, 0.25), rng.uniform(0.6, 0.95))
    t0 = rng.uniform(decades[0] + 1.2, decades[1] - 1.2) if t0 is None else t0
    task = task or f"seeds-{rng.integers(1 << 30)}"
    rows, own = [], {}
    for s in range(seeds):
        ts = t0 + rng.normal(0, spread)
        own[s] = 10**ts
        p = logistic(t, base, top, ts, rng.uniform(0.1, 0.3))
        rows += _rows("seeds", task, "exact_match", 10**t, p, n, rng, base, seed=s)
    df = pd.DataFrame(rows)
    df["model_id"] = [f"m{i % len(t)}-s{s}" for i, s in enumerate(df["seed"])]
    return df, {"threshold": 10**t0, "seed_thresholds": own, "spread": spread}


def planted_recipe(rng: np.random.Generator, truth: str, seeds: int = 3, shift: float = -0.6,
                   spread: float | None = None, spacing: float | None = None,
                   n: int = 200) -> tuple[pd.DataFrame, dict]:
    """A base and a recipe of one planted task, each trained with `seeds` seeds (planted_seeds),
    scored on three sets: in distribution (variant "plain"), fresh items ("plain-fresh") and a
    surface format ("plain-surface"). truth: "transfers" (every set moves by `shift` decades),
    "test_taking" (only the in-distribution set moves) or "no_effect" (nothing moves). One ladder
    for the base, the recipe's offset by half a spacing; the surface format emerges a little
    later than the plain one. Returns the rows (families "base" and "recipe") and the truth."""
    spread = rng.uniform(0.1, 0.3) if spread is None else spread
    spacing = rng.uniform(0.2, 0.45) if spacing is None else spacing
    t0 = rng.uniform(7.2, 8.4)
    offset = rng.uniform(0, spacing)
    moves = {"transfers": (1, 1, 1), "test_taking": (1, 0, 0), "no_effect": (0, 0, 0)}[truth]
    tables = []
    for (variant, later), moved in zip((("plain", 0.0), ("plain-fresh", 0.0),
                                        ("plain-surface", rng.uniform(0, 0.3))), moves):
        levels = (rng.uniform(0.0, 0.15), rng.uniform(0.6, 0.95))
        for family, dt, off in (("base", 0.0, offset),
                                ("recipe", shift * moved, (offset + spacing / 2) % spacing)):
            df, _ = planted_seeds(rng, seeds, spread, spacing, n, t0=t0 + later + dt,
                                  offset=off, task="add", levels=levels)
            df["family"], df["variant"] = family, variant
            df["model_id"] = family + "-" + df["model_id"]
            tables.append(df)
    return pd.concat(tables, ignore_index=True), {"class": truth, "shift": shift,
                                                  "spread": spread, "spacing": spacing}


def planted_finetune(rng: np.random.Generator, flat: bool = False, n: int = 200,
                     grid: tuple[int, ...] = (64, 512, 4096),
                     chance: float = 0.005) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A run whose exact match emerges at a known size, and fine-tuning probes of its members
    below the cutoff that follow an emergence law (analysis/forecasting/emergence_law.py): the
    point moves beta decades per decade of k past k0 (beta 0.3-0.8, k0 within the grid), so the
    probes emerge among the small members while the run's own points sit at chance. flat: the
    probes never leave chance. Returns (run rows, probe rows, truth with the threshold and the
    cutoff); every value binomial of n examples."""
    mu0 = rng.uniform(4.5, 5.0)
    beta, k0 = rng.uniform(0.3, 0.8), 10 ** rng.uniform(np.log10(grid[0]), np.log10(grid[-1]))
    width = rng.uniform(0.1, 0.3)
    s = np.linspace(3.2, 5.8, 9)
    cut = 10 ** (mu0 - 0.3)  # the run's own points below it sit near chance

    def em(t, k):
        if flat:
            return np.full_like(t, chance)
        mu = mu0 - beta * np.log10(1 + k / k0)
        return chance + (1 - chance) / (1 + np.exp(-(t - mu) / width))

    run = _rows("finetune", "probed", "exact_match", 10**s, em(s, 0), n, rng, chance)
    small = s[10**s < cut]
    probes = []
    for k in grid:
        for r, t in zip(_rows("finetune", "probed", "exact_match", 10**small, em(small, k), n,
                              rng, chance), small):
            probes.append({**r, "finetune_k": k, "model_id": f"m{t:.3f}"})
    return (pd.DataFrame(run), pd.DataFrame(probes),
            {"threshold": 10**mu0, "cutoff": cut, "beta": beta, "k0": k0})
