"""Cost of the capability monitor: the same member trained with and without probes, same run.

The member (the quick preset's d=48 model and mixture) trains for --steps steps twice: plain, and
with the probes below evaluated every --every steps. Reported: wall times, the monitor's own
probing time, and the overhead in percent. Alternating repeats; medians.
Usage: python bench/monitor_overhead.py [--steps 400] [--every 50] [--n 100] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from emergelab.config import load_preset
from emergelab.data.mixture import Mixture
from emergelab.experiment import block_size_for, build_eval_tasks, ladder_members
from emergelab.train.loop import train_member
from emergelab.evaluate.monitor import CapabilityMonitor, ProbeConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = load_preset("quick")
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": args.steps})})
    eval_tasks = build_eval_tasks(cfg)
    mixture = Mixture([et.task for et in eval_tasks], [t.weight for t in cfg.tasks], cfg.seed)
    member = next(m for m in ladder_members(cfg, block_size_for(mixture, eval_tasks))
                  if m.config.d_model == 48)
    probes = [ProbeConfig(task="add", variant="reversed", metric="exact_match", threshold=2.0,
                          every=args.every, n=args.n),
              ProbeConfig(task="facts", options={"entities": 200}, metric="exact_match",
                          threshold=2.0, every=args.every, n=args.n)]
    plain, watched, probing = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            train_member(member, mixture, cfg.train, Path(d) / "m")
            plain.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as d:
            mon = CapabilityMonitor(probes, Path(d) / "monitor.jsonl", alert=lambda m: None)
            t0 = time.perf_counter()
            train_member(member, mixture, cfg.train, Path(d) / "m", monitor=mon)
            watched.append(time.perf_counter() - t0)
            probing.append(mon.seconds)
    p, w, s = (statistics.median(v) for v in (plain, watched, probing))
    n_evals = args.steps // args.every
    print(f"member {member.model_id} ({member.config.params_nonembed():,} non-embedding params), "
          f"{args.steps} steps; 2 probes x {args.n} examples every {args.every} steps "
          f"({n_evals} evaluations)")
    print(f"plain {p:.1f} s, monitored {w:.1f} s (probing {s:.1f} s): overhead {100 * (w - p) / p:+.1f}% "
          f"(probing alone {100 * s / p:.1f}%)")


if __name__ == "__main__":
    main()
