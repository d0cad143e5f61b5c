"""One run per run directory: a second run is refused while the first holds the lock, and a
lock left by a SIGKILLed run is taken over."""

import os
import signal
import subprocess
import sys
import time

HOLD = """
import sys, time
from emergelab.run_lock import run_dir_lock
with run_dir_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _emergelab(*args):
    return subprocess.run([sys.executable, "-m", "emergelab", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_a_second_run_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        p = _emergelab("run", "--preset", "micro", "--out", out, "--quiet")
        assert p.returncode == 2
        (line,) = p.stderr.strip().splitlines()
        assert "in use by another run" in line and f"pid {holder.pid}" in line
        assert holder.poll() is None            # the first goes on
        assert not (out / "config.toml").exists()  # the refused run wrote nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)     # dies holding the lock
        holder.wait()
    assert (out / ".lock").exists()             # the file stays; the kernel's lock does not
    t = time.time()
    p = _emergelab("run", "--preset", "micro", "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    assert (out / "results").is_dir() and time.time() - t < 300
