import json

import numpy as np
import pytest

from emergelab.planted import planted_table

from .conftest import run_cli

KEYS = {"task", "variant", "shots", "family", "metric", "x", "classification", "emergence",
        "threshold", "threshold_ci", "threshold_ci_kind", "width_decades", "useful_level",
        "useful_at", "linearity", "breakthroughness", "n_points"}


def _planted_csv(tmp_path, kind="jump", seed=0):
    df, truth = planted_table(kind, np.random.default_rng(seed))
    path = tmp_path / f"{kind}.csv"
    df.to_csv(path, index=False)
    return path, truth


def test_analyze_json_plot_and_backtest(tmp_path):
    path, truth = _planted_csv(tmp_path)
    proc = run_cli("analyze", path, "--json", "--backtest", "2", "--plot", tmp_path / "plots")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert KEYS | {"backtest_error", "backtest_signal"} <= set(row)
    # the jump sits among the two held-out members or before: a forecast from below either
    # misses it (a large error) or sees nothing move yet
    assert row["backtest_signal"] in ("metric", "no signal yet")
    assert row["classification"] == "emergent" and row["emergence"] == "hard"
    assert row["width_decades"] <= 1.0
    lo, hi = row["threshold_ci"]
    assert lo <= row["threshold"] <= hi
    assert abs(np.log10(row["threshold"] / truth["threshold"])) < 0.45  # one spacing
    assert list((tmp_path / "plots").glob("*.png"))


def test_analyze_parquet_and_table_output(tmp_path):

    df, _ = planted_table("smooth", np.random.default_rng(1))
    path = tmp_path / "smooth.parquet"
    df.to_parquet(path)
    proc = run_cli("analyze", path)
    assert proc.returncode == 0, proc.stderr
    assert "smooth" in proc.stdout


def _lmeval(tmp_path, name, value, new_keys):
    res = ({"lambada_openai": {"acc,none": value, "acc_stderr,none": 0.01, "alias": "lambada"}}
           if new_keys else {"lambada_openai": {"acc": value, "acc_stderr": 0.01}})
    data = {"results": res, "config": {"model_args": f"pretrained=EleutherAI/{name}",
                                       "num_fewshot": 0}}
    (tmp_path / f"{name}.json").write_text(json.dumps(data))


def test_lmeval_json_directory_both_key_styles(tmp_path):
    for i, (name, v) in enumerate([("pythia-70m", 0.18), ("pythia-160m", 0.33),
                                   ("pythia-410m", 0.51), ("pythia-1b", 0.56),
                                   ("pythia-2.8b", 0.65)]):
        _lmeval(tmp_path, name, v, new_keys=i % 2 == 0)
    proc = run_cli("analyze", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and rows[0]["x"] == "params" and rows[0]["n_points"] == 5
    assert rows[0]["family"] == "pythia" and rows[0]["classification"] == "smooth"


@pytest.mark.parametrize("content,args,needle", [
    (None, [], "no such file"),
    ("", [], "no rows"),
    ("task,metric\nt,acc\n", [], "missing column 'value'"),
    ("task,metric,value,params\nt,acc,high,1e6\n", [], "non-numeric"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--x", "flops"], "missing column 'flops'"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--where", "value >"], "bad --where"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--where", "1=1; DROP TABLE rows"],
     "one SQL expression"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--hard-width", "0"], "--hard-width"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--useful", "2"], "--useful"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--arms", "n_layer"], "--arms"),
    ("task,metric,value,params\nt,acc,0.5,1e6\n", ["--ci-level", "95"], "--ci-level"),
    ("task,metric,value,params\nt,wonder_score,0.5,1e6\n", [], "unknown metric 'wonder_score'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, args, needle):
    path = tmp_path / "r.csv"
    if content is not None:
        path.write_text(content)
    proc = run_cli("analyze", path, *args)
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_unwritable_plot_dir(tmp_path):
    path, _ = _planted_csv(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("analyze", path, "--plot", blocker / "plots")
    assert proc.returncode == 2 and "cannot write to --plot" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unreadable_parquet_and_bad_json_dir(tmp_path):
    bad = tmp_path / "r.parquet"
    bad.write_bytes(b"not parquet at all")
    proc = run_cli("analyze", bad)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    d = tmp_path / "evals"
    d.mkdir()
    (d / "x.json").write_text("{broken")
    proc = run_cli("analyze", d)
    assert proc.returncode == 2 and "neither lm-evaluation-harness" in proc.stderr


def test_rows_left_out_are_counted_in_notes(tmp_path):
    from emergelab.analysis import analyze

    rows = [{"task": "t", "metric": "exact_match", "value": v, "params": p,
             "params_nonembed": (p / 2 if i < 6 else None), "n": 100}
            for i, (p, v) in enumerate(zip([1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, -5],
                                           [0.1, 0.1, 0.1, 0.5, 0.9, 0.9, 0.9, 0.2]))]
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    notes = analyze(tmp_path / "t.csv").notes  # x = params_nonembed: two rows lack it
    # the library speaks of its own parameter; the command line of its flag
    assert notes == ["2 rows have no params_nonembed and are left out (they have params; ask "
                     "for `x`=params)"]
    proc = run_cli("analyze", tmp_path / "t.csv")
    assert "(they have params; ask for --x=params)" in " ".join(proc.stderr.split())
    notes = analyze(tmp_path / "t.csv", x="params").notes
    assert notes == ["1 rows have params <= 0 and are left out (a log scale needs positive "
                     "sizes)"]
