"""Wall time of `emergelab run --preset quick` with members side by side (the default local pool)
against the same command with `--workers 1` (one member at a time, all cores to it), same run.

Both runs use their own defaults for threads (pool: the cores shared out; --workers 1: all the
cores), alternate `--rounds` times (pool first), each into a fresh directory, and report the best
of each side, the ratio, the peak memory (summed PSS) of each run's process tree, and whether
add/reversed still jumps (its exact match at the smallest and largest member).
Usage: python bench/backend_speedup.py [--preset quick] [--rounds 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from peak_memory import rss_pss_kb, tree  # noqa: E402 - the /proc sampling of bench/peak_memory.py


def timed_run(preset: str, out: Path, extra: list[str]) -> tuple[float, float]:
    """(seconds, peak MB of the process tree's summed PSS, sampled every 0.2 s)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emergelab", "run", "--preset", preset,
                             "--out", str(out), "--quiet", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(rss_pss_kb(pid)[1] for pid in tree(proc.pid)))
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"run failed: {proc.stderr.read().decode()[-400:]}")
    return time.perf_counter() - t, peak / 1024


def add_jump(out: Path) -> str:
    from emergelab.store import query

    df = query(out, "SELECT params_nonembed, value FROM results WHERE final_checkpoint AND "
                    "task = 'add' AND metric = 'exact_match' ORDER BY params_nonembed")
    return f"{df['value'].iloc[0]:.2f} -> {df['value'].iloc[-1]:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, extra in (("pool", []), ("workers 1", ["--workers", "1"])):
                out = Path(tmp) / f"{name.replace(' ', '')}-{r}"
                seconds, peak = timed_run(args.preset, out, extra)
                jump = add_jump(out)
                print(f"{name:>9}: {seconds:6.1f} s, peak {peak:6.0f} MB, add/reversed EM {jump}")
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, peak)
    print(f"pool / --workers 1 = {best['pool'][0] / best['workers 1'][0]:.2f}")


if __name__ == "__main__":
    main()
