"""How a ladder's members run. Three backends run the same work, a job's `run_unit(i)` (a
LadderJob's: `member.run_member`; fine-tuning probes bring a job of their own):

- `LocalPool` (the default): members side by side in worker processes on this machine;
- `RayCluster`: members as Ray tasks on a cluster, retried and resumed when a worker dies;
- `InProcess`: one after another in this process (debugging; the tests' reference).

Results depend on the threads per member, never on the backend or how many run at once.
"""

from __future__ import annotations

from ..errors import UserError

_LAZY = {"InProcess": "in_process", "LocalPool": "local_pool", "RayCluster": "ray_cluster",
         "LadderJob": "member"}


def __getattr__(name: str):
    """The backends load on first use: choosing one (and its option errors) costs no torch
    import."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)


def _ray(workers, threads, address, retries):
    from .ray_cluster import RayCluster

    return RayCluster(address, threads, 3 if retries is None else retries)


def _in_process(workers, threads, address, retries):
    from .in_process import InProcess

    return InProcess(threads)


def _local(workers, threads, address, retries):
    from .local_pool import LocalPool

    return LocalPool(workers, threads)


# name -> factory(workers, threads, address, retries); a backend elsewhere joins with
# register_backend (it then takes --threads; --workers, --address and --retries are the local
# pool's and Ray's own)
BACKENDS: dict = {"local": _local, "ray": _ray, "in-process": _in_process}


def register_backend(name: str, factory) -> None:
    """Make `--backend name` (and `emergelab.run(..., backend=name)`) build factory(threads=N):
    an object with check() and run(job, order, report) as execute/in_process.py has them."""
    if name in BACKENDS:
        raise ValueError(f"backend {name!r} is registered already")
    BACKENDS[name] = lambda workers, threads, address, retries: factory(threads=threads)


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
    return BACKENDS[name](workers, threads, address, retries)


__all__ = ["BACKENDS", "InProcess", "LadderJob", "LocalPool", "RayCluster", "backend_named",
           "register_backend"]
