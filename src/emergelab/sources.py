"""Reading tables for analysis: a CSV or Parquet file, a run directory, a dataset's name or a
pandas DataFrame already in memory; optional row filter with a DuckDB SQL expression. Every
failure a user can cause is a one-line UserError."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from .errors import UserError
from .store import sql_literal


def _check_expression(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """Accept one boolean expression only: a second statement is an error, never executed."""
    try:
        statements = con.extract_statements(f"SELECT * FROM rows WHERE {where}")
    except duckdb.Error as err:
        raise UserError(f"bad `where` expression: {str(err).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UserError("`where` takes one SQL expression, not statements")
    if "SELECT" not in str(statements[0].type).upper():
        raise UserError("`where` takes one SQL expression")


def source_label(source) -> str:
    """How messages name a source: its path, or "the DataFrame"."""
    return "the DataFrame" if isinstance(source, pd.DataFrame) else str(source)


def run_source(source) -> Path | None:
    """The directory of a source that is a run or a suite on disk (samples, config, monitor
    events live there); None for a file, a dataset or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return None
    path = Path(source)
    return path if path.is_dir() else None


def _read(con: duckdb.DuckDBPyConnection, source: Path | pd.DataFrame) -> None:
    """Create view t over the source."""
    if isinstance(source, pd.DataFrame):
        con.register("given", source)
        con.execute("CREATE VIEW t AS SELECT * FROM given")
        return
    if source.is_dir():
        parts = sorted((source / "results").glob("*.parquet")) or sorted(
            source.glob("*/results/*.parquet"))  # a suite: one run dir per experiment
        if not parts:
            from .importers import read_lmeval_dir

            con.register("lmeval", read_lmeval_dir(source))
            con.execute("CREATE VIEW t AS SELECT * FROM lmeval")
            return
        files = "[" + ", ".join(sql_literal(str(p)) for p in parts) + "]"
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({files}, union_by_name = true)")
        return
    suffix = source.suffix.lower()
    if suffix == ".csv":
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_csv({sql_literal(str(source))}, header = true)")
    elif suffix == ".parquet":
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({sql_literal(str(source))})")
    else:
        raise UserError(f"{source}: expected a .csv or .parquet file or a run directory")


def our_run_dirs(source: Path) -> list[tuple[Path, str]]:
    """(run dir, family) of each EmergeLab run under source: itself, or a suite's experiments."""
    import tomllib

    out = []
    for d in [source, *sorted(p for p in source.iterdir() if p.is_dir())]:
        if (d / "samples").is_dir() and (d / "config.toml").exists():
            try:
                name = tomllib.loads((d / "config.toml").read_text()).get("name", d.name)
            except (OSError, tomllib.TOMLDecodeError):
                continue
            out.append((d, name))
        if d == source and out:
            break
    return out


def load_table(source: str | Path | pd.DataFrame, where: str | None = None) -> pd.DataFrame:
    """The rows of source (published column names mapped to ours), filtered by --where, which
    sees our column names. A DataFrame is read as a file would be (and never modified)."""
    from .datasets import missing, resolve
    from .importers import apply_aliases

    if not isinstance(source, pd.DataFrame):
        source = resolve(source)
        if not source.exists():
            raise UserError(missing(source))
    con = duckdb.connect()
    try:
        _read(con, source)
        df = apply_aliases(con.execute("SELECT * FROM t").df())
        if where:
            con.register("rows", df)
            _check_expression(con, where)
            df = con.execute(f"SELECT * FROM rows WHERE {where}").df()
    except duckdb.Error as err:
        raise UserError(f"{source_label(source)}: {str(err).splitlines()[0]}") from None
    if df.empty:
        raise UserError(f"{source_label(source)}: no rows" + (" match `where`" if where else ""))
    return df


def numeric_column(df: pd.DataFrame, name: str, source) -> pd.Series:
    source = source_label(source)
    if name not in df.columns:
        raise UserError(f"{source}: missing column {name!r} (have: {', '.join(map(str, df.columns))})")
    col = pd.to_numeric(df[name], errors="coerce")
    bad = col.isna() & df[name].notna()
    if bad.any():
        raise UserError(f"{source}: column {name!r} has a non-numeric value {df[name][bad].iloc[0]!r}")
    return col
