import sys
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[1] / "datasets"


@pytest.fixture(autouse=True)
def own_machine_cache(tmp_path_factory, monkeypatch):
    """Each test its own, empty, machine cache of kernel choices (train/kernels.py): tests never
    read the developer's, nor each other's (subprocesses inherit the variable)."""
    monkeypatch.setenv("EMERGELAB_CACHE_DIR", str(tmp_path_factory.mktemp("machine_cache")))


@pytest.fixture
def shared_data() -> Path:
    """The published tables of the repository's datasets/ (they travel with every clone)."""
    return DATASETS


def run_cli(*args, cwd=None, columns=None):
    """Run the CLI in a subprocess, as a user would (in a terminal `columns` wide, if given)."""
    import os
    import subprocess

    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "emergelab", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600, env=env)


# A two-member ladder of tiny models trained for hundreds of steps: seconds, so a kill from a
# test lands mid-training. Precision and attention pinned: nothing is timed, and every run of it
# trains with the same kernels (so results compare to the bit).
SLOW_RUN = """
name = "slow"
seed = 0
[ladder]
d_models = [8, 12]
[train]
steps = 600
batch_size = 16
warmup_steps = 4
checkpoints = 3
val_batch = 32
precision = "fp32"
attention = "sdpa"
[eval]
bootstrap = 50
[[tasks]]
name = "add"
variant = "reversed"
options = {digits = 2}
n_eval = 30
"""


@pytest.fixture(scope="session")
def slow_reference(tmp_path_factory) -> tuple[Path, Path]:
    """SLOW_RUN trained and evaluated failure-free in this process with one thread, the threads
    the kill tests' runs use: (config path, run directory). Shared by the local pool's and the
    Ray backend's kill tests."""
    from emergelab.config import load_config
    from emergelab.execute import InProcess
    from emergelab.pipeline import run_any

    d = tmp_path_factory.mktemp("slow_reference")
    (d / "slow.toml").write_text(SLOW_RUN)
    run_any(load_config(d / "slow.toml"), d / "clean", quiet=True, backend=InProcess(1))
    return d / "slow.toml", d / "clean"
