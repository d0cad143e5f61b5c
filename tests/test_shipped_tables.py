"""Every command on every published table we ship (and slices of them by family, shots and
step) either works or says in one line why not: never a traceback."""

import pytest

from .conftest import run_cli

BIGBENCH = "task IN ('arithmetic', 'analytic_entailment', 'anachronisms')"


def _cases(d):
    pythia = d / "pythia_evals.csv"
    points = d / "chinchilla_points.csv"
    bigbench = d / "bigbench" / "lu2024_bigbench_tasks_scaling.csv"
    base = d / "obs_scaling" / "base_llm_benchmark_eval.csv"
    target = d / "obs_scaling" / "base_llm_emergent_capability_eval.csv"
    return [
        ("analyze", pythia, "--where", "shots = 0"),
        ("analyze", pythia, "--x", "params"),
        ("shots", pythia, "--where", "family = 'pythia' AND final_checkpoint"),
        ("analyze", pythia, "--x", "step", "--where", "model = 'pythia-410m'"),
        ("predict", pythia, "--where", "family = 'pythia' AND shots = 0"),
        ("compare", pythia, pythia, "--metric", "acc", "--where", "shots = 0"),
        ("compare", pythia, pythia),
        ("report", pythia, "--where", "task = 'lambada_openai'"),
        ("report", pythia, "--where", "family = 'pythia' AND final_checkpoint"),
        ("fit", "kaplan", pythia, "--x", "params", "--y", "value"),
        ("analyze", points), ("predict", points), ("report", points),
        ("fit", "chinchilla", points, "--bootstrap", "20"),
        ("fit", "kaplan", points, "--x", "params"),
        ("fit", "bnsl", points, "--x", "params", "--y", "loss"),
        ("analyze", bigbench, "--where", BIGBENCH),
        ("predict", bigbench, "--where", BIGBENCH),
        ("report", bigbench, "--where", BIGBENCH),
        ("compare", bigbench, bigbench, "--where", BIGBENCH),
        ("analyze", base), ("report", target),
        ("obs-scaling", base, target, "--train-below", "8.4e22"),
    ]


def test_every_command_on_every_shipped_table(shared_data, tmp_path):
    failures = []
    for i, case in enumerate(_cases(shared_data)):
        args = list(case)
        if args[0] == "report":
            args += ["--out", tmp_path / f"r{i}.html"]
        proc = run_cli(*args)
        lines = proc.stderr.strip().splitlines()
        if "Traceback" in proc.stderr or proc.returncode not in (0, 2) or (
                proc.returncode == 2 and len(lines) != 1):
            failures.append((case, proc.returncode, proc.stderr[-400:]))
    assert not failures, failures
