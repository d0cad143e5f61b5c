"""Fine-tuning probes (`predict --finetune`): the emergence law against planted truth, probes that
never touch the run's own tables, resume, backends that agree, and bad input."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from emergelab.analysis.forecasting.predict_source import predict
from emergelab.planted import planted_finetune

from .conftest import run_cli

TINY = """
name = "tiny"
seed = 0
[ladder]
d_models = [8, 12, 16, 24]
[train]
steps = 24
batch_size = 16
warmup_steps = 4
checkpoints = 2
val_batch = 32
precision = "fp32"
attention = "sdpa"
[eval]
bootstrap = 20
[[tasks]]
name = "add"
variant = "reversed"
options = {digits = 2}
n_eval = 30
"""
GRID = (2, 4, 8)
STEPS = 6


def test_planted_law_finds_the_threshold_and_covers_it():
    hits = covered = 0
    trials = 20
    for i in range(trials):
        run, probes, truth = planted_finetune(np.random.default_rng(i))
        f = predict(run, train_below=truth["cutoff"], probes=probes).forecasts[0]
        assert f.signal == "finetune" and f.law["k"] == [64, 512, 4096]
        lo, hi = f.threshold_ci
        hits += f.threshold is not None and abs(np.log10(f.threshold / truth["threshold"])) <= 0.3
        covered += (lo or 0) <= truth["threshold"] <= (hi or np.inf)
    assert hits >= 0.8 * trials
    assert covered >= 0.85 * trials


def test_flat_probes_never_give_a_threshold():
    for i in range(10):
        run, probes, truth = planted_finetune(np.random.default_rng(100 + i), flat=True)
        f = predict(run, train_below=truth["cutoff"], probes=probes).forecasts[0]
        assert f.threshold is None and f.status == "no signal yet"
        assert "fine-tuned probes does not move" in f.note


def test_without_probes_the_forecast_says_what_it_lacks():
    run, _, truth = planted_finetune(np.random.default_rng(0))
    f = predict(run, train_below=truth["cutoff"]).forecasts[0]
    assert f.status == "no signal yet" and "predict --finetune" in f.note


def _tiny_run(tmp_path):
    from emergelab.config import load_config
    from emergelab.execute import InProcess
    from emergelab.pipeline import run_any

    (tmp_path / "tiny.toml").write_text(TINY)
    run_any(load_config(tmp_path / "tiny.toml"), tmp_path / "run", quiet=True,
            backend=InProcess(1))
    return tmp_path / "run"


def _digests(d):
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("tiny"))


def _probe(run_dir, backend):
    from emergelab.probing import predict_with_probes

    return predict_with_probes(run_dir, train_below=10000, grid=GRID, steps=STEPS,
                               backend=backend, signal="finetune")


def test_probes_run_apart_from_the_run_and_resume(tiny_run, tmp_path):
    from emergelab.execute import InProcess
    from emergelab.store import read_results

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    own = {t: _digests(run_dir / t) for t in ("results", "samples", "checkpoints")}
    p = _probe(run_dir, InProcess(1))
    assert {t: _digests(run_dir / t) for t in own} == own  # the run's tables untouched
    table = read_results(run_dir / "finetune")
    members = sorted(table["model_id"].unique())
    run_rows = read_results(run_dir)
    small = sorted(run_rows.loc[run_rows["params_nonembed"] < 10000, "model_id"].unique())
    assert members == small and len(small) == 3
    assert sorted(table["finetune_k"].unique()) == list(GRID)
    assert set(table["finetune_steps"]) == {STEPS}
    # a probe sits at its member's place on every scale axis
    for mid, g in table.groupby("model_id"):
        own_row = run_rows[(run_rows["model_id"] == mid) & run_rows["final_checkpoint"]].iloc[0]
        assert (g["params_nonembed"] == own_row["params_nonembed"]).all()
        assert (g["tokens"] == own_row["tokens"]).all()
    em = next(f for f in p.forecasts if f.metric == "exact_match")
    assert em.signal == "finetune" or "fine-tuned probes" in em.note
    # done probes are only read: nothing under finetune/ is rewritten
    before = {q: q.stat().st_mtime_ns for q in (run_dir / "finetune").rglob("*") if q.is_file()}
    _probe(run_dir, InProcess(1))
    after = {q: q.stat().st_mtime_ns for q in (run_dir / "finetune").rglob("*") if q.is_file()}
    assert before == after


def test_local_pool_probes_equal_in_process_ones(tiny_run, tmp_path):
    from emergelab.execute import InProcess, LocalPool
    from emergelab.store import read_results

    tables = []
    for name, backend in (("a", InProcess(1)), ("b", LocalPool(workers=2, threads=1))):
        shutil.copytree(tiny_run, tmp_path / name)
        _probe(tmp_path / name, backend)
        t = read_results(tmp_path / name / "finetune")
        tables.append(t.sort_values(["model_id", "finetune_k", "metric"])[["value"]]
                      .to_numpy())
    assert len(tables[0]) >= 3 * len(GRID) and np.array_equal(*tables)  # every probe, alike


def test_a_killed_probe_resumes_to_the_same_weights(tiny_run, tmp_path):
    from safetensors.torch import load_file

    from emergelab.config import load_config
    from emergelab.experiment import build_tasks, setup
    from emergelab.train.checkpoint import list_checkpoints
    from emergelab.train.finetune import finetune_member, probe_examples, probe_train_config

    cfg = load_config(tiny_run / "config.toml")
    _, _, members = setup(cfg)
    member, task = members[0], build_tasks(cfg)[0]
    start = dict(list_checkpoints(tiny_run / "checkpoints" / member.model_id))[cfg.train.steps]
    examples = probe_examples(task, 8, cfg.seed)
    ft = probe_train_config(cfg.train, 12)

    class Killed(Exception):
        pass

    def kill_at_7(step):
        if step == 7:
            raise Killed

    with pytest.raises(Killed):
        finetune_member(member, start, task, examples, ft, tmp_path / "killed", 0,
                        on_step=kill_at_7)
    resumed = finetune_member(member, start, task, examples, ft, tmp_path / "killed", 0)
    clean = finetune_member(member, start, task, examples, ft, tmp_path / "clean", 0)
    a, b = load_file(resumed / "model.safetensors"), load_file(clean / "model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not all(np.array_equal(a[k].numpy(), load_file(start / "model.safetensors")[k].numpy())
                   for k in a)  # it did train


def test_probe_examples_are_training_items_shared_across_k(tiny_run):
    from emergelab.config import load_config
    from emergelab.experiment import build_tasks
    from emergelab.tasks import TRAIN
    from emergelab.train.finetune import probe_examples

    cfg = load_config(tiny_run / "config.toml")
    task = build_tasks(cfg)[0]
    small, large = probe_examples(task, 4, 0), probe_examples(task, 16, 0)
    assert large[:4] == small and len({e.prompt for e in large}) == 16
    assert all(task.split_of(e) == TRAIN for e in large)
    held_out = {e.prompt for e in task.eval_set(cfg.tasks[0].n_eval, cfg.seed)}
    assert not held_out & {e.prompt for e in large}


@pytest.mark.parametrize("args, message", [
    (["--finetune-k", "64,512"], "at least 3 distinct values"),
    (["--finetune-k", "64,64,512"], "at least 3 distinct values"),
    (["--finetune-k", "0,4,8"], "at least 1"),
    (["--finetune-k", "a,b,c"], "whole numbers"),
    (["--finetune-steps", "0"], "at least 1"),
])
def test_bad_grids_and_steps_are_one_line(tiny_run, tmp_path, args, message):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    r = run_cli("predict", run_dir, "--train-below", "10000", "--finetune", *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (run_dir / "finetune").exists()


def test_finetune_on_a_table_without_checkpoints_is_refused(tiny_run, tmp_path):
    from emergelab.store import read_results

    csv = tmp_path / "table.csv"
    read_results(tiny_run).to_csv(csv, index=False)
    r = run_cli("predict", csv, "--train-below", "10000", "--finetune")
    assert r.returncode == 2 and "checkpoints" in r.stderr and "Traceback" not in r.stderr
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    shutil.rmtree(run_dir / "checkpoints")
    r = run_cli("predict", run_dir, "--train-below", "10000", "--finetune")
    assert r.returncode == 2 and "checkpoints" in r.stderr
    assert not (run_dir / "finetune").exists()
    r = run_cli("predict", tiny_run, "--finetune-k", "2,4,8")
    assert r.returncode == 2 and "--finetune-k is an option of --finetune" in r.stderr


def test_cli_finetune_json_names_the_signal(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    r = run_cli("predict", run_dir, "--train-below", "10000", "--finetune", "--finetune-k",
                "2,4,8", "--finetune-steps", str(STEPS), "--signal", "finetune", "--json",
                "--backend", "in-process", "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    em = next(f for f in json.loads(r.stdout) if f["metric"] == "exact_match")
    assert em["signal"] == "finetune" or "fine-tuned probes" in em["note"]


def test_a_law_forecast_plots_its_probes(tmp_path):
    from emergelab.render.forecast_plots import plot_forecasts

    run, probes, truth = planted_finetune(np.random.default_rng(1))
    f = predict(run, train_below=truth["cutoff"], probes=probes).forecasts[0]
    paths = plot_forecasts([f], tmp_path)
    assert len(paths) == 1 and paths[0].stat().st_size > 10_000


def test_memorisation_tasks_are_not_probed(tmp_path):
    """k training examples of a task that evaluates on its training items would be the test
    itself: facts is never probed, add is, for every member below the cutoff and every k."""
    from types import SimpleNamespace

    import pandas as pd

    from emergelab.config import load_config
    from emergelab.probing import choose_probes

    (tmp_path / "two.toml").write_text(TINY + '\n[[tasks]]\nname = "facts"\n'
                                       'options = {entities = 20}\n')
    cfg = load_config(tmp_path / "two.toml")
    (tmp_path / "run" / "results").mkdir(parents=True)
    pd.DataFrame({"model_id": ["a", "b", "c"], "params_nonembed": [1e3, 5e3, 2e4],
                  "step": [24, 24, 24], "final_checkpoint": [True] * 3, "task": ["add"] * 3,
                  "metric": ["exact_match"] * 3}).to_parquet(
        tmp_path / "run" / "results" / "part.parquet")
    forecasts = [SimpleNamespace(keys={"task": t, "variant": v}, metric="exact_match")
                 for t, v in (("add", "reversed"), ("facts", None))]
    probes = choose_probes(cfg, tmp_path / "run", SimpleNamespace(forecasts=forecasts,
                                                                  x="params_nonembed"),
                           train_below=1e4, grid=GRID, steps=STEPS)
    tasks = {cfg.tasks[p.task].name for p in probes}
    assert tasks == {"add"}
    assert sorted({p.model_id for p in probes}) == ["a", "b"]
    assert len(probes) == 2 * len(GRID)
