"""Every ladder member trains in its own worker process (execute/local_pool.py): the results must be
those of an in-process run, a worker killed mid-training must end the run with one line and lose
nothing, and a killed run must not leave its worker training on."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emergelab.config import load_preset
from emergelab.execute import InProcess, LocalPool
from emergelab.pipeline import run_any
from emergelab.store import read_results, read_samples

from .conftest import SLOW_RUN

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")



def _table(run_dir: Path, read) -> "object":
    df = read(run_dir).drop(columns=["created_at"], errors="ignore")
    return df.sort_values(list(df.columns[:6])).reset_index(drop=True)


def test_members_side_by_side_give_the_in_process_results_to_the_bit(tmp_path):
    """Same threads and the same recorded kernels: the same numbers, whatever runs at once."""
    cfg = load_preset("micro")
    run_any(cfg, tmp_path / "pool", quiet=True, backend=LocalPool(2, 1))
    (tmp_path / "here").mkdir()
    shutil.copy(tmp_path / "pool" / "kernels.json", tmp_path / "here" / "kernels.json")
    run_any(cfg, tmp_path / "here", quiet=True, backend=InProcess())  # threads: the recorded 1
    for read in (read_results, read_samples):
        a, b = _table(tmp_path / "pool", read), _table(tmp_path / "here", read)
        assert len(a) > 0 and a.equals(b)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for tid in os.listdir(f"/proc/{p}/task"):
            kids = [int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split()]
            out += kids
            todo += kids
    return out


def _worker_pids(cli_pid: int) -> list[int]:
    """Processes running a member: their parent is the fork server, a child of the CLI."""
    kids = set(_descendants(cli_pid))
    return [p for p in kids if int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            in kids]


def _start_slow_run(tmp_path: Path) -> tuple[subprocess.Popen, Path, list[int]]:
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW_RUN)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "emergelab", "run", "--config", cfg, "--out",
                             out, "--quiet", "--workers", "2", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,  # its own group, as in a terminal
                            # a terminal's default Ctrl-C handling, even where pytest was started
                            # ignoring SIGINT (a background job, nohup: the child inherits SIG_IGN)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not all((out / "checkpoints" / m / "step_0").exists()  # both members are training
                  for m in ("L2-d8-s0", "L2-d12-s0")):
        assert proc.poll() is None and time.time() < deadline, "the run never started training"
        time.sleep(0.05)
    workers = _worker_pids(proc.pid)
    assert len(workers) == 2  # members side by side
    return proc, out, workers


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@linux_only
def test_killed_worker_is_one_line_and_the_rerun_loses_nothing(tmp_path, slow_reference):
    proc, out, workers = _start_slow_run(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(
        r"error: L2-d(8|12)-s0: its worker process died \(killed by SIGKILL\); rerun the same "
        r"command to resume from its last checkpoint", lines[0]), lines
    assert not any(_alive(w) for w in workers)  # the other member's worker was stopped too
    assert not (out / "results").exists() or not any((out / "results").iterdir())
    rerun = subprocess.run([sys.executable, "-m", "emergelab", "run", "--config",
                            tmp_path / "slow.toml", "--out", out, "--quiet"],  # threads: recorded
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    # the resumed run ends exactly where one that was never killed ends (same kernels, threads)
    assert _table(out, read_results).equals(_table(slow_reference[1], read_results))


@linux_only
def test_killed_run_leaves_no_worker_behind(tmp_path):
    proc, _, workers = _start_slow_run(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.time() + 30
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


@linux_only
def test_ctrl_c_stops_worker_and_run_with_one_line(tmp_path):
    proc, out, workers = _start_slow_run(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["interrupted: rerun the same command to resume"]
    deadline = time.time() + 30
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


def test_default_worker_count_fits_the_available_memory():
    from emergelab.execute.local_pool import available_memory, plan_workers

    free = available_memory()
    if free is None:
        pytest.skip("no /proc/meminfo here")
    # members that each need 60% of what is free: one at a time, with every core
    workers, threads = plan_workers(8, None, None, int(0.6 * free))
    assert workers == 1 and threads >= 1
    # small members: as many as the cores allow; an explicit count is never overridden
    assert plan_workers(8, None, None, 1 << 20)[0] == min(8, len(os.sched_getaffinity(0)))
    assert plan_workers(8, 2, None, int(0.6 * free))[0] == 2
