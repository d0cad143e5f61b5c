"""Wall time of `emergelab demo` on this machine, scaled to the issue's reference machine speed.

The target is stated for a machine whose 1024x1024 fp32 matmul runs at 235 GFLOP/s on 2 threads,
so the same run measures that matmul here and reports wall x (GFLOP/s here / 235): a slower
machine gets proportionally more time. With --ref COMMIT the demo as it was at that commit runs
too (from a temporary git worktree, in a subprocess with that tree's sources), for before/after.
Both demos run with their own defaults, one after the other, on an otherwise idle machine.
Each demo starts with an empty machine cache of kernel choices (a first run on this machine);
--warm also times the current demo again with the cache its first run left (a later run here).
Usage: python bench/demo_time.py [--ref 71e1f88] [--reps 20] [--warm]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from worktree import ROOT, sources_at  # noqa: E402
REFERENCE_GFLOPS = 235.0


def matmul_gflops(n: int = 1024, reps: int = 20, threads: int = 2) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):  # best of three bursts: the machine is noisy
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best / 1e9


def demo_seconds(src: Path, out: Path, cache: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "EMERGELAB_CACHE_DIR": str(cache)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emergelab", "demo", "--out", str(out), "--quiet"],
                   env=env, check=True, capture_output=True, cwd=src.parent)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default=None, help="also time the demo at this commit")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warm", action="store_true",
                    help="time the current demo a second time, with its first run's kernel cache")
    args = ap.parse_args()
    speed = matmul_gflops(reps=args.reps)
    scale = speed / REFERENCE_GFLOPS
    print(f"1024x1024 fp32 matmul, 2 threads: {speed:.0f} GFLOP/s here "
          f"(reference {REFERENCE_GFLOPS:.0f}): times below x {scale:.2f} = reference-machine time")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        sides = [("now", ROOT / "src")]
        if args.ref:
            sides.insert(0, (args.ref, stack.enter_context(sources_at(args.ref))))
        if args.warm:
            sides.append(("now/warm", ROOT / "src"))
        for name, src in sides:
            cache = Path(tmp) / ("cache-now" if name.startswith("now") else f"cache-{name}")
            wall = demo_seconds(src, Path(tmp) / f"demo-{name.replace('/', '-')}", cache)
            print(f"demo at {name:>8}: {wall:6.1f} s here, {wall * scale:6.1f} s scaled")
    print(f"matmul re-measured after: {matmul_gflops(reps=args.reps):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
