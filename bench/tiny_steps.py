"""Steps/s of `train_member` on the quick preset's three smallest members, against the trainer as
it was at a given commit (default: 71e1f88, the trainer when issue 18 was opened), in the same run.

The old trainer is checked out into a temporary git worktree and run in a subprocess with that
tree's sources first on sys.path; both sides run this same timing code (train_member's signature
is unchanged), alternating old/new ROUNDS times, and each keeps its best round. A step is timed
from the trainer's own on_step callback between steps 20 and the last, so the untimed start
(model build, step-0 checkpoint and validation) is left out of both. The old trainer builds each
batch inside its step; the new one trains as a run does, on batches the run built once for all
its members (data/prebuilt.py): that build is timed too, and the "amortised" column charges each
member its share of it (the quick ladder's 8 members share one build).
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


SHARING_MEMBERS = 8  # members of the quick ladder that train on one set of prebuilt batches


def measure(steps: int) -> dict[str, float]:
    """Steps/s per member of whichever emergelab is first on sys.path (and, for trainers that
    take prebuilt batches, "build": seconds to build them)."""
    from emergelab.config import load_preset
    from emergelab.train.loop import train_member

    try:
        from emergelab.data import prebuilt
    except ImportError:  # trainers before prebuilt batches
        prebuilt = None

    try:
        from emergelab.experiment import setup
    except ImportError:  # sources from before experiment.py
        from emergelab.pipeline import setup

    cfg = load_preset("quick")
    tcfg = cfg.train.model_copy(update={"steps": steps, "checkpoints": 1})
    _, mixture, members = setup(cfg)
    out, extra = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        if prebuilt is not None:
            t = time.perf_counter()
            prebuilt.build(mixture, steps, tcfg.batch_size, Path(tmp) / "batches")
            out["build"] = time.perf_counter() - t
            extra["batches"] = prebuilt.PrebuiltBatches.open(Path(tmp) / "batches",
                                                              mixture.tok.pad_id)
        for i, m in enumerate(members[:3]):
            stamps = {}
            train_member(m, mixture, tcfg, Path(tmp) / f"m{i}", **extra,
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
    builds = []
    with sources_at(args.ref) as old_src:
        for _ in range(args.rounds):
            for side, src in (("old", old_src), ("new", ROOT / "src")):
                got = run_side(src, args.steps)
                if "build" in got:
                    builds.append(got.pop("build"))
                for mid, v in got.items():
                    best[side][mid] = max(best[side].get(mid, 0.0), v)
    share = min(builds) / args.steps / SHARING_MEMBERS if builds else 0.0  # s per step, per member
    print(f"reference trainer: {args.ref}; {args.steps} steps per member, best of {args.rounds}")
    if builds:
        print(f"prebuilt batches: {min(builds):.2f} s for {args.steps} batches, shared by "
              f"{SHARING_MEMBERS} members = {share * 1e3:.2f} ms per member step")
    print(f"{'member':<12} {'old steps/s':>12} {'new steps/s':>12} {'ratio':>6} {'amortised':>10}")
    for mid in best["old"]:
        o, n = best["old"][mid], best["new"][mid]
        amortised = 1 / (1 / n + share)
        print(f"{mid:<12} {o:>12.1f} {n:>12.1f} {n / o:>6.2f} {amortised / o:>10.2f}")


if __name__ == "__main__":
    main()
