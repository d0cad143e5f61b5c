"""What a person reads: every verdict names the rule that decided it, and the tables fit the
terminal — at 80 and 120 columns no line is longer, no cell is split across lines."""

import json

import numpy as np
import pandas as pd
import pytest

from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.planted import planted_seeds, planted_table

from .conftest import run_cli


@pytest.mark.parametrize("kind,why", [
    ("jump", {"sharp rise"}), ("gradual", {"wide rise", "line fits", "no flat start"}),
    ("flat", {"no change", "no rise"}), ("inverse", {"falls"}), ("u_shaped", {"dip"}),
    ("smooth", {"line fits", "no flat start"}),
])
def test_each_rule_names_itself(kind, why):
    """Planted curves of each kind: the class comes with the rule that decided it."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(10):
        df, _ = planted_table(kind, rng, spacing=0.25)
        (r,) = [r for r in analyze_curves(build_curves(df, "params_nonembed"))
                if r["metric"] == "exact_match"]
        assert r["reason"] and r["why"]
        hits += r["why"] in why
    assert hits >= 8, kind


def test_a_mirage_says_which_metric_is_smooth():
    rng = np.random.default_rng(3)
    for _ in range(20):
        df, _ = planted_table("mirage", rng, spacing=0.25)
        rows = analyze_curves(build_curves(df, "params_nonembed"))
        em = next(r for r in rows if r["metric"] == "exact_match")
        if em["classification"] == "metric_induced":
            assert em["why"] == "metric" and "token_accuracy" in em["reason"]
            return
    pytest.fail("no planted mirage was called metric_induced")


def test_a_rise_wider_than_the_ladder_is_marked_open():
    rng = np.random.default_rng(5)
    df, truth = planted_table("gradual", rng, n_models=6, decades=(6.0, 7.0))
    (r,) = analyze_curves(build_curves(df, "params_nonembed"))
    assert r["ladder_decades"] == pytest.approx(1.0)
    if r["width_decades"] is not None and r["width_decades"] > 1.0:
        assert r["width_open"] is True


def _table(tmp_path) -> str:
    rng = np.random.default_rng(11)
    parts = []
    for kind in ("jump", "mirage", "flat", "gradual"):
        df, _ = planted_table(kind, rng, spacing=0.3)
        parts.append(df.assign(family="a-rather-long-family-name"))
    seeds, _ = planted_seeds(rng, 3, 0.15, 0.3)
    parts.append(seeds.assign(family="seeded"))
    path = tmp_path / "rows.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("columns", [80, 120])
def test_analyze_table_fits_and_never_splits_a_cell(tmp_path, columns):
    path = _table(tmp_path)
    proc = run_cli("analyze", path, columns=columns)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    rows = json.loads(run_cli("analyze", path, "--json").stdout)
    from emergelab.evaluate.registry import short_name
    from emergelab.numbers import num

    for r in rows:  # every row's metric and threshold stand whole on one line
        if r["threshold"] is None:
            continue
        assert any(line.split()[:1] == [short_name(r["metric"])] and num(r["threshold"]) in line
                   for line in lines), r


@pytest.mark.parametrize("columns", [80, 120])
def test_compare_table_fits(tmp_path, columns):
    rng = np.random.default_rng(2)
    a, _ = planted_seeds(rng, 2, 0.1, 0.3, t0=8.0, offset=0.1, task="t", levels=(0.1, 0.9))
    b, _ = planted_seeds(rng, 2, 0.1, 0.3, t0=7.5, offset=0.2, task="t", levels=(0.1, 0.9))
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    proc = run_cli("compare", tmp_path / "a.csv", tmp_path / "b.csv", columns=columns)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= columns
    assert "…" not in proc.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_predict_table_fits_and_marks_misses(tmp_path, columns):
    path = _table(tmp_path)
    proc = run_cli("predict", path, "--train-below", "3e8", columns=columns)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    forecasts = json.loads(run_cli("predict", path, "--train-below", "3e8", "--json").stdout)
    misses = sum(not p["interval"][0] <= p["observed"] <= p["interval"][1]
                 for f in forecasts if f["status"] == "forecast" for p in f["points"]
                 if p["observed"] is not None)
    assert sum(line.rstrip().endswith("!") for line in lines) == misses
    text = " ".join(proc.stdout.split())
    for f in forecasts:  # every curve without a forecast says why
        if f["status"] != "forecast" and f["note"]:
            assert " ".join(f["note"].split()) in text


@pytest.mark.parametrize("columns", [80, 120])
def test_obs_table_fits(shared_data, columns):
    obs = shared_data / "obs_scaling"
    proc = run_cli("obs-scaling", obs / "base_llm_benchmark_eval.csv",
                   obs / "base_llm_emergent_capability_eval.csv", "--train-below", "8.4e22",
                   columns=columns)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= columns
    assert "…" not in proc.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_shots_table_fits_and_keeps_each_model_on_one_line(shared_data, columns):
    proc = run_cli("shots", shared_data / "pythia_evals.csv", "--where",
                   "family = 'pythia' AND final_checkpoint", columns=columns)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns and "…" not in proc.stdout
    # every model's row holds its name, size, both scores and the gain (and its interval where
    # the table gives standard errors)
    import re

    rows = [line for line in lines if line.strip().startswith("pythia-12b ")]
    row = re.compile(r"^\s+pythia-12b\s+11\.3B\s+-?\d+\.\d\d\s+-?\d+\.\d\d\s+[+-]\d+\.\d\d"
                     r"(\s+\[[+-]\d+\.\d\d, [+-]\d+\.\d\d\])?$")
    assert rows and all(row.match(line) for line in rows), rows
    assert any(line.endswith("]") for line in rows)


COMMANDS = ["demo", "run", "induce", "presets", "datasets", "tasks", "eval", "export hf",
            "export lmeval-tasks", "fit chinchilla", "fit kaplan", "fit bnsl", "plan", "compare",
            "report", "analyze", "shots", "predict", "obs-scaling"]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_what_to_type_and_an_example(name):
    import typer
    from click.testing import CliRunner

    from emergelab.cli import app, plain_help as _plain_help

    command = typer.main.get_command(app)
    _plain_help(command)
    out = CliRunner().invoke(command, [*name.split(), "--help"], terminal_width=100).output
    assert "Example" in out
    for python_type in ("<bool>", "<str>", "<int", "<float", "<path>", "[x>="):
        assert python_type not in out, (name, python_type)


def test_help_prose_is_reflowed_to_the_terminal_and_commands_keep_their_lines():
    from emergelab.cli.common import reflow

    text = ("First line of a paragraph that\ngoes on here.\n\n"
            "Example: emergelab run --preset quick\nemergelab analyze out\n\n- a list item\n"
            "- another")
    assert reflow(text) == ("First line of a paragraph that goes on here.\n\n"
                            "Example: emergelab run --preset quick\nemergelab analyze out\n\n"
                            "- a list item\n- another")
