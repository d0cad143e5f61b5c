"""Peak memory of a command and every process it starts, sampled from /proc (Linux).

A run trains each member in a worker process, so the peak of the parent alone (`ru_maxrss`, `time
-v`) says little: this samples the whole process tree every --every seconds and reports the peak
of the summed RSS (pages shared between processes, like torch's libraries in the parent and in
every worker, counted once per process: an upper bound) and of the summed PSS (shared pages split
between their sharers: what the tree really holds), the largest single process, and the wall time.
Usage: python bench/peak_memory.py [--every 1] [--log FILE.csv] -- emergelab run --preset full --out DIR
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:  # the process ended while we looked
        pass
    return out


def tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children(pid)
    return pids


def rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--log", type=Path, help="write every sample to this CSV")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to measure")
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give the command to measure after --")
    t0 = time.time()
    try:
        proc = subprocess.Popen(cmd)
    except OSError as err:
        ap.error(f"cannot run {cmd[0]}: {err.strerror}")
    log = open(args.log, "w") if args.log else None
    if log:
        log.write("seconds,processes,rss_mb,pss_mb,largest_mb,largest\n")
    peak_rss = peak_pss = peak_one = 0
    peak_one_name = ""
    while proc.poll() is None:
        sample = [(pid, *rss_pss_kb(pid)) for pid in tree(proc.pid)]
        rss, pss = sum(s[1] for s in sample), sum(s[2] for s in sample)
        big = max(sample, key=lambda s: s[1])
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        if big[1] > peak_one:
            peak_one, peak_one_name = big[1], name(big[0])
        if log:
            log.write(f"{time.time() - t0:.1f},{len(sample)},{rss / 1024:.0f},{pss / 1024:.0f},"
                      f"{big[1] / 1024:.0f},{name(big[0])}\n")
            log.flush()
        time.sleep(args.every)
    wall = time.time() - t0
    print(f"exit code {proc.returncode}, wall {wall / 60:.1f} min ({wall:.0f} s)")
    print(f"peak summed RSS {peak_rss / 1024**2:.2f} GiB, peak summed PSS "
          f"{peak_pss / 1024**2:.2f} GiB, largest process {peak_one / 1024**2:.2f} GiB "
          f"({peak_one_name})")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
