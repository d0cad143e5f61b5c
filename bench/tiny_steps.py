"""Steps/s of `train_member` on the quick preset's three smallest members, against the trainer as
it was at a given commit (default: 71e1f88, the trainer when issue 18 was opened), in the same run.

The old trainer is checked out into a temporary git worktree and run in a subprocess with that
tree's sources first on sys.path; both sides run this same timing code (train_member's signature
is unchanged), alternating old/new ROUNDS times, and each keeps its best round. A step is timed
from the trainer's own on_step callback between steps 20 and the last, so the untimed start
(model build, step-0 checkpoint and validation) is left out of both. Batch building is inside the
timer on both sides (the old trainer builds batches in the step, the new one ahead in a thread).
Usage: python bench/tiny_steps.py [--ref COMMIT] [--steps 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from worktree import ROOT, sources_at  # noqa: E402


def measure(steps: int) -> dict[str, float]:
    """Steps/s per member of whichever emergelab is first on sys.path."""
    from emergelab.config import load_preset
    from emergelab.train.loop import train_member

    try:
        from emergelab.experiment import setup
    except ImportError:  # sources from before experiment.py
        from emergelab.pipeline import setup

    cfg = load_preset("quick")
    tcfg = cfg.train.model_copy(update={"steps": steps, "checkpoints": 1})
    _, mixture, members = setup(cfg)
    out = {}
    for m in members[:3]:
        stamps = {}
        with tempfile.TemporaryDirectory() as d:
            train_member(m, mixture, tcfg, Path(d),
                         on_step=lambda s: stamps.setdefault(s, time.perf_counter()))
        out[m.model_id] = (steps - 1 - 20) / (stamps[steps - 1] - stamps[20])
    return out


def run_side(src: Path, steps: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = (f"import sys, json; sys.path.insert(0, {str(src)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r});"
            f"import tiny_steps; print(json.dumps(tiny_steps.measure({steps})))")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="71e1f88")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
    with sources_at(args.ref) as old_src:
        for _ in range(args.rounds):
            for side, src in (("old", old_src), ("new", ROOT / "src")):
                for mid, v in run_side(src, args.steps).items():
                    best[side][mid] = max(best[side].get(mid, 0.0), v)
    print(f"reference trainer: {args.ref}; {args.steps} steps per member, best of {args.rounds}")
    print(f"{'member':<12} {'old steps/s':>12} {'new steps/s':>12} {'ratio':>6}")
    for mid in best["old"]:
        o, n = best["old"][mid], best["new"][mid]
        print(f"{mid:<12} {o:>12.1f} {n:>12.1f} {n / o:>6.2f}")


if __name__ == "__main__":
    main()
