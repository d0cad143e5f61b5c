"""The published tables that travel with EmergeLab (the repository's datasets/ folder), by name.

Each file keeps its published name and has a README beside it (source, commit, licence,
caveats). Anywhere a command or the library reads a table, a dataset's name stands for its file:
`emergelab analyze pythia` reads datasets/pythia_evals.csv."""

from __future__ import annotations

from pathlib import Path

# name -> (file under datasets/, what it holds)
DATASETS = {
    "pythia": ("pythia_evals.csv", "Pythia 70M-12B (+deduped) 0/5-shot evals over training "
                                   "checkpoints; OPT and BLOOM final models"),
    "chinchilla": ("chinchilla_points.csv", "Hoffmann et al. 2022 (N, D, loss) points as "
                                            "reconstructed by Epoch AI (Besiroglu et al. 2024)"),
    "bigbench": ("bigbench/lu2024_bigbench_tasks_scaling.csv", "25 BIG-bench-style tasks on 24 "
                 "models 60M-175B, four metrics of the same generations (Lu et al. 2024)"),
    "obs-base": ("obs_scaling/base_llm_benchmark_eval.csv", "148 open base models on 8 standard "
                 "benchmarks, with size, tokens, FLOPs (Ruan et al. 2024)"),
    "obs-emergent": ("obs_scaling/base_llm_emergent_capability_eval.csv", "83 open models on 8 "
                     "two-shot emergent BIG-bench tasks (Ruan et al. 2024)"),
}


def datasets_dir() -> Path:
    """datasets/ of the checkout this package runs from (src/emergelab/../../datasets)."""
    return Path(__file__).resolve().parents[2] / "datasets"


def missing(source: str | Path) -> str:
    """The one-line error for a source that is neither a file nor a dataset's name."""
    return f"{source}: no such file or directory, nor a dataset name ({', '.join(DATASETS)})"


def resolve(source: str | Path) -> Path:
    """source itself when it exists or names no dataset; else the named dataset's file."""
    path = Path(source)
    if path.exists() or str(source) not in DATASETS:
        return path
    return datasets_dir() / DATASETS[str(source)][0]
