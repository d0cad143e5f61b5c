"""How a ladder's members run. Three backends run the same `member.run_member`:

- `LocalPool` (the default): members side by side in worker processes on this machine;
- `RayCluster`: members as Ray tasks on a cluster, retried and resumed when a worker dies;
- `InProcess`: one after another in this process (debugging; the tests' reference).

Results depend on the threads per member, never on the backend or how many run at once.
"""

from __future__ import annotations

from ..errors import UserError

BACKENDS = ("local", "ray", "in-process")
_LAZY = {"InProcess": "in_process", "LocalPool": "local_pool", "RayCluster": "ray_cluster",
         "LadderJob": "member"}


def __getattr__(name: str):
    """The backends load on first use: choosing one (and its option errors) costs no torch
    import."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)


def backend_named(name: str, workers: int | None = None, threads: int | None = None,
                  address: str | None = None, retries: int | None = None):
    """The backend the CLI's --backend names, with its options (each only where it means
    something: a one-line error otherwise)."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name != "ray" and (address is not None or retries is not None):
        raise UserError("--address and --retries are options of --backend ray")
    if name != "local" and workers is not None:
        raise UserError(f"--workers is an option of the local backend (with --backend {name}, "
                        + ("Ray places members by their --threads CPUs)" if name == "ray"
                           else "members run one at a time)"))
    if name == "ray":
        from .ray_cluster import RayCluster

        return RayCluster(address, threads, 3 if retries is None else retries)
    if name == "in-process":
        from .in_process import InProcess

        return InProcess(threads)
    from .local_pool import LocalPool

    return LocalPool(workers, threads)


__all__ = ["BACKENDS", "InProcess", "LadderJob", "LocalPool", "RayCluster", "backend_named"]
