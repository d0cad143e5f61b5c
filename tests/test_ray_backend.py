"""The Ray backend on a real local Ray cluster (ray.cluster_utils.Cluster: a head with no CPUs
and two 1-CPU worker nodes). A worker killed mid-training, or a node removed mid-run: the run
finishes, every result row is there exactly once, the killed member resumed from a checkpoint
(not step 0), and the results equal a failure-free in-process run with the same threads."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from emergelab.errors import UserError  # noqa: E402
from emergelab.execute.ray_cluster import check_run_dir  # noqa: E402
from emergelab.store import read_results, read_samples  # noqa: E402
from emergelab.train.schedule import checkpoint_steps  # noqa: E402

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MEMBERS = ("L2-d8-s0", "L2-d12-s0")
FIRST_REAL_CHECKPOINT = checkpoint_steps(600, 3)[2]  # [0, 1, 24, 600]: the first after step 1
STORE = 80 * 2**20  # object store per node: members pass no big objects


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "include_dashboard": False})
    nodes = [c.add_node(num_cpus=1, object_store_memory=STORE) for _ in range(2)]
    c.wait_for_nodes()
    yield c, nodes
    c.shutdown()


def _start(cfg: Path, out: Path, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "emergelab", "run", "--config", cfg, "--out", out, "--quiet",
         "--backend", "ray", "--address", address, "--threads", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _resume_point(out: Path, model_id: str) -> int:
    try:
        state = json.loads((out / "checkpoints" / model_id / "train_state" / "state.json")
                           .read_text())
    except (OSError, ValueError):  # not written yet, or being swapped into place
        return 0
    return state["step"]


def _wait_for_checkpoint(proc, out: Path, members=MEMBERS) -> None:
    """Until each member's resume point is its first real checkpoint."""
    deadline = time.time() + 180
    while not all(_resume_point(out, m) >= FIRST_REAL_CHECKPOINT for m in members):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline, "the members never reached their first checkpoint"
        time.sleep(0.02)


def _ray_worker_of(model_id: str) -> int:
    """The Ray worker process running model_id's task (Ray titles it `ray::<task name>`)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmd.strip() == f"ray::emergelab {model_id}":
            return int(pid)
    raise AssertionError(f"no Ray worker is running {model_id}")


def _table(run_dir: Path, read):
    df = read(run_dir).drop(columns=["created_at"], errors="ignore")
    return df.sort_values(list(df.columns[:6])).reset_index(drop=True)


def _resumed_steps(out: Path, model_id: str) -> list[int]:
    log = (out / "run.log").read_text()
    return [int(s) for s in re.findall(rf"{model_id}: resuming from its checkpoint at step (\d+)",
                                       log)]


def _ends_ok(proc) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _assert_complete_and_equal(out: Path, clean: Path) -> None:
    results = read_results(out)
    keys = ["model_id", "step", "task", "variant", "metric"]
    assert not results.duplicated(keys).any()  # exactly once
    assert len(results) == len(read_results(clean))  # nothing missing
    assert len(list((out / "results").glob("*.parquet"))) == 2 * 4  # members x checkpoints
    for read in (read_results, read_samples):
        assert _table(out, read).equals(_table(clean, read))


@linux_only
def test_killed_ray_worker_is_retried_and_resumes(cluster, slow_reference, tmp_path):
    c, _ = cluster
    cfg, clean = slow_reference
    out = tmp_path / "run"
    proc = _start(cfg, out, c.address)
    _wait_for_checkpoint(proc, out, MEMBERS[1:])
    os.kill(_ray_worker_of(MEMBERS[1]), signal.SIGKILL)
    _ends_ok(proc)
    resumed = _resumed_steps(out, MEMBERS[1])
    assert resumed and min(resumed) >= FIRST_REAL_CHECKPOINT  # from a checkpoint, not step 0
    _assert_complete_and_equal(out, clean)


@linux_only
def test_removed_node_its_member_resumes_elsewhere(cluster, slow_reference, tmp_path):
    c, nodes = cluster
    cfg, clean = slow_reference
    out = tmp_path / "run"
    proc = _start(cfg, out, c.address)
    _wait_for_checkpoint(proc, out)  # both members train, one on each worker node
    c.remove_node(nodes[0])
    try:
        _ends_ok(proc)
        resumed = {m: _resumed_steps(out, m) for m in MEMBERS}
        assert any(resumed.values()) and all(s >= FIRST_REAL_CHECKPOINT
                                             for steps in resumed.values() for s in steps)
        _assert_complete_and_equal(out, clean)
    finally:
        nodes[0] = c.add_node(num_cpus=1, object_store_memory=STORE)
        c.wait_for_nodes()


@linux_only
def test_worker_dying_past_its_retries_is_one_line_and_rerun_resumes(cluster, slow_reference,
                                                                    tmp_path):
    c, _ = cluster
    cfg, clean = slow_reference
    out = tmp_path / "run"
    proc = _start(cfg, out, c.address, "--retries", "0")
    _wait_for_checkpoint(proc, out, MEMBERS[1:])
    os.kill(_ray_worker_of(MEMBERS[1]), signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {MEMBERS[1]}: its Ray worker died and 0 retries did not save it"), lines
    assert "rerun the same command to resume" in lines[0]
    _ends_ok(_start(cfg, out, c.address))  # the rerun
    assert min(_resumed_steps(out, MEMBERS[1])) >= FIRST_REAL_CHECKPOINT
    _assert_complete_and_equal(out, clean)


def test_a_worker_that_cannot_see_the_run_directory_is_one_line(tmp_path):
    with pytest.raises(UserError, match="cannot see the run directory"):
        check_run_dir(tmp_path / "elsewhere")


def test_bad_backend_options_are_one_line_and_write_nothing(tmp_path):
    from .conftest import run_cli

    out = tmp_path / "never"
    cases = [(["--backend", "rya"], "error: unknown backend 'rya': choose one of local, ray, "
                                    "in-process"),
             (["--backend", "ray", "--address", "127.0.0.1:1"],
              "error: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused"),
             (["--backend", "ray", "--workers", "2"], "error: --workers is an option of the "
              "local backend (with --backend ray, Ray places members by their --threads CPUs)")]
    for extra, line in cases:
        r = run_cli("run", "--preset", "micro", "--out", out, *extra)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [line], r.stderr
    assert not out.exists()


def test_finetune_probes_run_as_ray_tasks_and_equal_in_process_ones(cluster, tmp_path):
    from emergelab.execute import InProcess, RayCluster
    from emergelab.probing import predict_with_probes

    from .test_finetune_probes import GRID, STEPS, _tiny_run

    c, _ = cluster
    run_dir = _tiny_run(tmp_path)
    tables = []
    for name, backend in (("ray", RayCluster(c.address, threads=1)), ("local", InProcess(1))):
        d = tmp_path / name
        shutil.copytree(run_dir, d)
        predict_with_probes(d, train_below=10000, grid=GRID, steps=STEPS, backend=backend,
                            signal="finetune")
        t = read_results(d / "finetune").sort_values(["model_id", "finetune_k", "metric"])
        tables.append(t[["model_id", "finetune_k", "metric", "value"]].to_numpy())
    assert len(tables[0]) and (tables[0] == tables[1]).all()
