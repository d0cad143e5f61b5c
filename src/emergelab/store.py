"""The results and samples tables: Parquet partitions in a run directory, queried with DuckDB.

Each writer writes its own file (one per checkpoint evaluated) under a temporary name and links
it into place once, so a killed run never leaves a half-written partition, readers never see one,
and a retried writer never adds a second one.
"""

from __future__ import annotations

import json

import os
import socket
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import UserError

RESULT_COLUMNS = [
    "run_id", "model_id", "family", "params", "params_nonembed", "n_layer", "d_model", "n_head",
    "tokens", "flops", "val_loss", "step", "final_checkpoint", "task", "variant", "shots",
    "metric", "value", "ci_low", "ci_high", "n", "baseline", "higher_is_better", "seed",
    "created_at", "version",
]


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a file whole or not at all: a temporary name beside it, fsync, then rename, so a
    killed process never leaves half a file under the real name."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_partition(rows: list[dict] | pd.DataFrame, directory: Path, name: str) -> Path:
    """Commit one Parquet partition exactly once: written whole under a temporary name, fsynced,
    then hard-linked to its final name, which fails if that name exists. So a retried worker, or
    two workers that both finished the same member (a Ray node thought dead that was not), never
    add a second copy of rows: the first commit stands and later ones are dropped."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    final = directory / f"{name}.parquet"
    # not *.parquet: a writer killed mid-write leaves this behind, and readers glob *.parquet
    tmp = directory / f".tmp-{name}-{socket.gethostname()}-{os.getpid()}.part"
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            pass  # committed before: keep the first
        except OSError:  # a filesystem without hard links: a rename, unless already committed
            if not final.exists():
                os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def sql_literal(text: str) -> str:
    """A SQL string literal (DuckDB views cannot take prepared parameters): quotes doubled, so a
    path with a quote in it stays one string."""
    return "'" + text.replace("'", "''") + "'"


def _glob(run_dir: Path, table: str) -> str:
    return str(Path(run_dir) / table / "*.parquet")


def has_table(run_dir: Path, table: str) -> bool:
    return any((Path(run_dir) / table).glob("*.parquet"))


def query(run_dir: Path, sql: str, table: str = "results") -> pd.DataFrame:
    """Run SQL against a run's table, exposed as the view `results` (or `samples`)."""
    if not has_table(run_dir, table):
        raise UserError(f"{run_dir} has no {table} table")
    con = duckdb.connect()
    files = sql_literal(_glob(run_dir, table))
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files}, union_by_name = true)")
    return con.execute(sql).df()


def read_results(run_dir: Path) -> pd.DataFrame:
    return query(run_dir, "SELECT * FROM results ORDER BY params_nonembed, model_id, step, task, metric")


def read_samples(run_dir: Path) -> pd.DataFrame:
    return query(run_dir, "SELECT * FROM samples", table="samples")


def monitor_events(log_path: Path) -> list[dict]:
    """The events of a monitor.jsonl (none when there is no log); a line cut by a kill is
    skipped."""
    if not log_path.exists():
        return []
    events = []
    for line in log_path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
