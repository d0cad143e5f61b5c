"""Compute-optimal allocation under a fitted Chinchilla law, with C = 6 N D.

Minimising E + A/N^alpha + B/D^beta subject to 6 N D = C gives (Hoffmann et al. 2022, eq. 4)

    G = (alpha A / (beta B))^(1 / (alpha + beta))
    N_opt = G (C/6)^(beta / (alpha + beta)),   D_opt = (C/6)^(alpha / (alpha + beta)) / G
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def optimal_allocation(C, E, A, B, alpha, beta):
    """N_opt, D_opt and the loss there; array-friendly (bootstrap samples broadcast)."""
    C, E, A, B, alpha, beta = (np.asarray(v, float) for v in (C, E, A, B, alpha, beta))
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n = G * (C / 6) ** (beta / (alpha + beta))
    d = (C / 6) ** (alpha / (alpha + beta)) / G
    return n, d, E + A / n**alpha + B / d**beta


def loss_at(N, D, E, A, B, alpha, beta):
    return E + A / np.asarray(N, float) ** alpha + B / np.asarray(D, float) ** beta


@dataclass
class Plan:
    compute: float
    n_opt: float
    d_opt: float
    loss: float
    ci: dict[str, list[float]]
    tradeoff: list[dict]

    def to_json(self) -> dict:
        return {"compute": self.compute, "params": self.n_opt, "tokens": self.d_opt,
                "tokens_per_param": self.d_opt / self.n_opt, "loss": self.loss, "ci": self.ci,
                "tradeoff": self.tradeoff}


def plan(compute: float, params: dict[str, float], samples: dict[str, list[float]] | None = None,
         level: float = 0.95, factors=(1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8)) -> Plan:
    p = params
    n, d, loss = optimal_allocation(compute, p["E"], p["A"], p["B"], p["alpha"], p["beta"])
    ci: dict[str, list[float]] = {}
    if samples:
        s = {k: np.asarray(v, float) for k, v in samples.items()}
        bn, bd, bl = optimal_allocation(compute, s["E"], s["A"], s["B"], s["alpha"], s["beta"])
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        for name, arr in (("params", bn), ("tokens", bd), ("tokens_per_param", bd / bn), ("loss", bl)):
            ci[name] = [float(np.quantile(arr, lo)), float(np.quantile(arr, hi))]
    rows = []
    for f in factors:
        nn = float(n) * f
        dd = compute / (6 * nn)
        ll = float(loss_at(nn, dd, p["E"], p["A"], p["B"], p["alpha"], p["beta"]))
        rows.append({"factor": f, "params": nn, "tokens": dd, "tokens_per_param": dd / nn,
                     "loss": ll, "loss_vs_optimal": ll - float(loss)})
    return Plan(float(compute), float(n), float(d), float(loss), ci, rows)
