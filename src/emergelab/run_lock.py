"""One run at a time in a run directory.

Two `run` commands on one directory would both train and evaluate (the second "resuming" the
first's checkpoints), doing the work twice. A run holds an exclusive lock on DIR/.lock for its
whole duration. The lock is the kernel's (flock), not the file's existence: it goes with the
process however that ends — a SIGKILLed run leaves the file but no lock, and the next run takes
it over. The file says who holds it, for the refusal's message. A Ray run's driver holds it like
any other (its workers write under the driver's lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import UserError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_dir_lock(out: Path):
    """Hold out/.lock (the directory is created if needed) or refuse in one line."""
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot write to --out {out}: {err.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out} is in use by another run ({_holder(fd)}); wait for it to "
                            "end, or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its owner is not recorded"
