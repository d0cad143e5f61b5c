import json

import pytest

from .conftest import run_cli


def _csv(tmp_path, text):
    p = tmp_path / "points.csv"
    p.write_text(text)
    return p


GOOD = "params,tokens,loss\n" + "\n".join(
    f"{n},{d},{1.8 + 400 / n**0.34 + 2000 / d**0.37}"
    for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10, 1e11))


def test_fit_chinchilla_json_and_plan_from_saved_fit(tmp_path):
    src = _csv(tmp_path, GOOD)
    fit_path = tmp_path / "fit.json"
    proc = run_cli("fit", "chinchilla", src, "--json", "--bootstrap", "50", "--save", fit_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"} and out["n_points"] == 9
    assert out["params"]["alpha"] == pytest.approx(0.34, abs=0.01)
    assert set(out["ci"]) == set(out["params"])
    proc = run_cli("plan", "--compute", "1e21", "--fit", fit_path, "--json")
    assert proc.returncode == 0, proc.stderr
    p = json.loads(proc.stdout)
    assert p["params"] * p["tokens"] * 6 == pytest.approx(1e21)
    lo, hi = p["ci"]["params"]
    assert lo * (1 - 1e-6) <= p["params"] <= hi * (1 + 1e-6)  # noise-free: a near-point interval


def test_plan_with_default_fit_prints_tradeoff():
    proc = run_cli("plan", "--compute", "5.88e23")
    assert proc.returncode == 0, proc.stderr
    assert "tokens per parameter" in proc.stdout and "optimal" in proc.stdout


def test_fit_kaplan_on_a_column(tmp_path):
    src = _csv(tmp_path, "flops,loss\n" + "\n".join(f"{x},{(1e8 / x) ** 0.05}" for x in
                                                    (1e15, 1e16, 1e17, 1e18, 1e19)))
    proc = run_cli("fit", "kaplan", src, "--x", "flops", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["params"]["alpha"] == pytest.approx(0.05)


@pytest.mark.parametrize("text,args,needle", [
    ("params,tokens,loss\n1e8,1e9,3\n-1e8,1e9,3\n1e9,1e9,3\n1e8,1e10,3\n1e9,1e10,2.5\n1e9,1e11,2\n",
     [], "positive"),
    ("params,tokens,loss\n1e8,1e9,3\n1e8,1e9,nan\n1e9,1e9,3\n1e8,1e10,3\n1e9,1e10,2.5\n1e9,1e11,2\n",
     [], "non-finite"),
    ("params,tokens,loss\n1e8,1e9,3\n1e9,1e9,2.9\n", [], "cannot determine"),
    ("params,loss\n1e8,3\n", [], "missing column 'tokens'"),
    ("params,tokens,loss\n1e8,1e9,abc\n", [], "non-numeric"),
    (GOOD, ["--where", "params > 0; DROP TABLE t"], "one SQL expression"),
    (GOOD, ["--where", "nonsense_column > 1"], "nonsense_column"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, text, args, needle):
    proc = run_cli("fit", "chinchilla", _csv(tmp_path, text), *args)
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_missing_file_and_bad_fit_json(tmp_path):
    proc = run_cli("fit", "chinchilla", tmp_path / "none.csv")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    bad = tmp_path / "fit.json"
    bad.write_text("{}")
    proc = run_cli("plan", "--compute", "1e20", "--fit", bad)
    assert proc.returncode == 2 and "not a Chinchilla fit" in proc.stderr
    proc = run_cli("plan", "--compute", "-5")
    assert proc.returncode == 2 and "positive" in proc.stderr


def test_fits_use_final_checkpoints_say_their_formula_and_warn(tmp_path):
    """Five models, each at three checkpoints, all trained on one token count: kaplan reads the
    final checkpoints unless told otherwise; chinchilla says what one token count cannot tell."""
    import json

    import numpy as np
    import pandas as pd

    rows = []
    for i, n in enumerate(np.geomspace(1e6, 1e8, 5)):
        for step, extra in ((100, 1.0), (1000, 0.3), (2000, 0.0)):
            rows.append({"model_id": f"m{i}", "params": n, "tokens": 2e9, "step": step,
                         "final_checkpoint": step == 2000,
                         "loss": 1.7 + (4e7 / n) ** 0.3 + extra})
    path = tmp_path / "points.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    final = json.loads(run_cli("fit", "kaplan", path, "--x", "params", "--offset",
                               "--json").stdout)
    every = json.loads(run_cli("fit", "kaplan", path, "--x", "params", "--offset",
                               "--checkpoints", "all", "--json").stdout)
    assert final["n_points"] == 5 and every["n_points"] == 15
    assert final["formula"] == "L(x) = (x_c / x)^alpha + E"
    assert abs(final["params"]["alpha"] - 0.3) < 0.05  # the planted exponent, from final points
    proc = run_cli("fit", "chinchilla", path, "--bootstrap", "50")
    assert proc.returncode == 0, proc.stderr
    assert "L(N, D) = E + A / N^alpha + B / D^beta" in proc.stdout
    assert "tokens takes 1 value(s): B and beta are not identified" in " ".join(proc.stdout.split())
    proc = run_cli("fit", "bnsl", path, "--x", "params", "--y", "loss", "--checkpoints", "all")
    assert "none asked for" in proc.stdout and "(1 + (x / d1)^(1 / f1))" in proc.stdout
