"""Scaling laws and the compute planner: fit chinchilla / kaplan / bnsl, plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .common import app, console, fit_app, num, print_json, save_json


DEFAULT_FIT = "analysis/laws/chinchilla_default_fit.json"


def _fit_table(title: str, fit_json: dict, note: str = "") -> None:
    from rich.table import Table

    asked = bool(fit_json.get("ci"))
    table = Table(title=f"{title} ({fit_json['n_points']} points{note})\n{fit_json['formula']}")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval" if asked else "interval", justify="right")
    for k, v in fit_json["params"].items():
        ci = fit_json.get("ci", {}).get(k)
        table.add_row(k, f"{v:.4g}", f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else
                      ("" if asked else "none asked for (--bootstrap N)"))
    console.print(table)
    for warning in fit_json.get("warnings", []):
        console.print(f"warning: {warning}", highlight=False)


CHECKPOINTS_HELP = ("final: each model's last checkpoint (where the table says which), all: "
                    "every checkpoint (intermediate checkpoints of a decaying schedule sit above "
                    "the law)")


def _xy(source: Path, where: Optional[str], x: str, y: str, checkpoints: str = "final"):
    """x and y of the rows to fit (library.fit_points), and the rows."""
    from ..library import fit_points

    df, y = fit_points(source, x, y, where, checkpoints)
    return df[x].to_numpy(), df[y].to_numpy(), df


@fit_app.command("chinchilla")
def fit_chinchilla_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet with params, tokens, loss; or a run dir"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(1000, min=0, help="bootstrap refits for intervals (0: none)"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON"),
        save: Optional[Path] = typer.Option(None, help="write the fit with its bootstrap samples "
                                                        "(input for `emergelab plan --fit`)")) -> None:
    """L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. Approach 3, Epoch's recipe).

    Example: emergelab fit chinchilla points.csv --bootstrap 1000 --save fit.json
    """
    from ..library import fit_chinchilla

    fit = fit_chinchilla(source, where, bootstrap=bootstrap, seed=seed, checkpoints=checkpoints)
    if save:
        save_json(fit.to_json(include_samples=True), save)
    if json_out:
        print_json(fit.to_json())
    else:
        _fit_table("Chinchilla fit", fit.to_json())


@fit_app.command("kaplan")
def fit_kaplan_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet or a run dir"),
        x: str = typer.Option(..., help="params, tokens or flops (any positive column)"),
        y: str = typer.Option("loss", help="the loss column (val_loss for a run dir)"),
        offset: bool = typer.Option(False, help="add an irreducible term E"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(1000, min=0, help="bootstrap resamples for intervals"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """L(x) = (x_c / x)^alpha, optionally + E (Kaplan et al. 2020).

    Example: emergelab fit kaplan emergelab-demo --x params
    """
    from ..analysis.laws.power_laws import fit_kaplan

    xs, ys, _ = _xy(source, where, x, y, checkpoints)
    fit = fit_kaplan(xs, ys, offset=offset, bootstrap=bootstrap, seed=seed).to_json()
    fit["x"] = x
    print_json(fit) if json_out else _fit_table(f"Kaplan fit of {y} against {x}", fit)


@fit_app.command("bnsl")
def fit_bnsl_cmd(
        source: Path = typer.Argument(..., help="CSV/Parquet or a run dir"),
        x: str = typer.Option(..., help="the scale column"),
        y: str = typer.Option(..., help="the positive quantity to fit"),
        where: Optional[str] = typer.Option(None, help="DuckDB SQL expression to filter rows"),
        bootstrap: int = typer.Option(0, min=0, help="bootstrap resamples for intervals (each "
                                                      "a least-squares refit: slow)"),
        seed: int = typer.Option(0, help="bootstrap seed"),
        checkpoints: str = typer.Option("final", help=CHECKPOINTS_HELP),
        json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Broken power law with one break (Caballero et al. 2022).

    Example: emergelab fit bnsl results.csv --x params --y val_loss
    """
    from ..analysis.laws.power_laws import fit_bnsl

    xs, ys, _ = _xy(source, where, x, y, checkpoints)
    fit = fit_bnsl(xs, ys, bootstrap=bootstrap, seed=seed).to_json()
    fit.update(x=x, y=y)
    print_json(fit) if json_out else _fit_table(f"Broken power law of {y} against {x}", fit)


@app.command()
def plan(compute: float = typer.Option(..., help="training compute C in FLOPs (C = 6 N D)"),
         fit: Optional[Path] = typer.Option(None, help="a fit saved by `emergelab fit chinchilla "
                                                       "--save`; default: ours on Hoffmann et al.'s points"),
         json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Compute-optimal parameters and tokens for a budget, and the cost of deviating from it.

    Example: emergelab plan --compute 1e21 --fit fit.json
    """
    import json
    from importlib import resources

    from rich.table import Table

    from ..analysis.laws.planner import plan as make_plan

    if not compute > 0 or compute != compute or compute == float("inf"):
        raise UserError("--compute must be a positive number of FLOPs")
    try:
        text = (fit.read_text() if fit else
                resources.files("emergelab").joinpath(DEFAULT_FIT).read_text())
        data = json.loads(text)
        params = {k: float(data["params"][k]) for k in ("E", "A", "B", "alpha", "beta")}
    except OSError as err:
        raise UserError(f"cannot read {fit or 'the default fit'}: {err.strerror}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UserError(f"{fit}: not a Chinchilla fit (expected params E, A, B, alpha, beta)") from None
    p = make_plan(compute, params, data.get("bootstrap"))
    if json_out:
        print_json(p.to_json())
        return

    def ci(name):
        c = p.ci.get(name)
        return f" [{num(c[0])}, {num(c[1])}]" if c else ""

    console.print(f"compute C = {compute:.3g} FLOPs; fit: {fit or 'default (Hoffmann et al. points)'}")
    console.print(f"optimal: N = {num(p.n_opt)}{ci('params')} parameters, D = {num(p.d_opt)}"
                  f"{ci('tokens')} tokens, {p.d_opt / p.n_opt:.1f}{ci('tokens_per_param')} tokens "
                  f"per parameter, predicted loss {p.loss:.4f}{ci('loss')}")
    table = Table(title="Same compute, other splits")
    for col in ("model size", "params", "tokens", "tokens/param", "loss", "vs optimal"):
        table.add_column(col, justify="right")
    for r in p.tradeoff:
        f = r["factor"]
        table.add_row(f"{f:g} x optimal" if f != 1 else "optimal", num(r['params']),
                      num(r['tokens']), f"{r['tokens_per_param']:.1f}", f"{r['loss']:.4f}",
                      f"{r['loss_vs_optimal']:+.4f}")
    console.print(table)
