"""End to end: the micro preset through the CLI, then the stored samples re-scored without a
model must reproduce the results table."""

import pytest

from emergelab.config import load_preset
from emergelab.evaluate.metrics import aggregate
from emergelab.evaluate.registry import GENERATIVE
from emergelab.evaluate.runner import sample_metrics
from emergelab.store import RESULT_COLUMNS, query, read_results, read_samples
from emergelab.tasks import build_task

from .conftest import run_cli


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "micro"
    proc = run_cli("run", "--preset", "micro", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_micro_run_writes_every_artefact(micro_run):
    out, proc = micro_run
    assert (out / "config.toml").exists() and (out / "run.log").exists()
    assert (out / "report" / "emergence_size.png").stat().st_size > 10_000
    assert "exact match" in proc.stdout
    res = read_results(out)
    assert set(RESULT_COLUMNS) <= set(res.columns)
    cfg = load_preset("micro")
    n_models = len(cfg.ladder.d_models)
    assert res.model_id.nunique() == n_models
    assert set(res.metric) >= set(GENERATIVE)
    assert res.groupby("model_id").step.max().eq(cfg.train.steps).all()
    assert (res.params_nonembed < res.params).all() and res.n_layer.notna().all()
    assert not list(out.rglob(".tmp-*"))


def test_samples_rescore_to_the_results(micro_run):
    out, _ = micro_run
    res, samples = read_results(out), read_samples(out)
    tasks = {t.name: build_task(t.name, t.variant, **t.options) for t in load_preset("micro").tasks}
    for (model_id, step, task), grp in samples.groupby(["model_id", "step", "task"]):
        per = [sample_metrics(tasks[task], r.generated, r.target, r.answer, r.token_logprobs,
                              r.token_hits) for r in grp.itertuples()]
        for metric in GENERATIVE:
            agg = aggregate(metric, [p[metric] for p in per], seed=0, n_boot=100)
            row = res[(res.model_id == model_id) & (res.step == step) & (res.task == task)
                      & (res.metric == metric)]
            assert len(row) == 1
            assert row.value.iloc[0] == pytest.approx(agg.value)
            assert row.ci_low.iloc[0] == pytest.approx(agg.ci_low)


def test_results_are_queryable_with_duckdb(micro_run):
    out, _ = micro_run
    df = query(out, "SELECT model_id, max(step) AS last FROM results GROUP BY model_id")
    assert len(df) == 2 and (df["last"] == 24).all()


def test_rerun_resumes_without_redoing_work(micro_run):
    out, _ = micro_run
    before = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*.parquet")}
    proc = run_cli("run", "--preset", "micro", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*.parquet")}
    assert before == after


def test_analyze_reads_our_run_dir(micro_run):
    import json

    out, _ = micro_run
    proc = run_cli("analyze", out, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["task"] for r in rows} == {"add", "facts"}
    assert all(r["n_points"] == 2 and r["classification"] == "insufficient" for r in rows)


def test_resume_compares_config_values_not_text(tmp_path):
    # a run dir written before a defaulted field existed (no [eval] level, no ladder arms, keys
    # in another order, a comment) is the same run: it resumes; another value is not
    from emergelab.config import to_toml
    from emergelab.errors import UserError
    from emergelab.pipeline import prepare_out_dir

    cfg = load_preset("micro")
    text = to_toml(cfg).replace("level = 0.95\n", "").replace("seed = 0\n", "")
    text = "# written by an older EmergeLab\nseed = 0\n" + text
    assert "level" not in text and "arms" not in text
    (tmp_path / "config.toml").write_text(text)
    prepare_out_dir(tmp_path, cfg)  # no error: same values
    assert (tmp_path / "config.toml").read_text() == text  # left as it was
    changed = cfg.model_copy(update={"seed": 1})
    with pytest.raises(UserError, match="different config"):
        prepare_out_dir(tmp_path, changed)


def test_query_reads_a_run_dir_whose_path_has_a_quote(tmp_path):
    from emergelab.store import write_partition

    run = tmp_path / "it's a run"
    write_partition([{"task": "t", "value": 1.0}], run / "results", "p0")
    assert query(run, "SELECT value FROM results")["value"].tolist() == [1.0]
