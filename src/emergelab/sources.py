"""Reading tables for analysis: a CSV or Parquet file, a run directory, a dataset's name or a
pandas DataFrame already in memory; optional row filter with a DuckDB SQL expression. Every
failure a user can cause is a one-line UserError.

The rules every reader shares live here, once: `normalise` (the final-checkpoint mark as a
boolean whatever the file wrote, group keys present with None for missing, seeds as integers)
and `final_rows` (each model's final checkpoint)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
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
    return normalise(df)


GROUP_KEYS = ["family", "task", "variant", "shots"]  # with the metric, they name a curve
_TRUE = {"true", "1", "1.0"}


def as_flag(col: pd.Series) -> pd.Series:
    """A yes/no column as a nullable boolean, whatever wrote it: True/False, 1/0, or the text
    "true"/"True"/"1" a CSV keeps; missing stays missing."""
    flag = col.astype(str).str.lower().isin(_TRUE).astype("boolean")
    flag[col.isna()] = pd.NA
    return flag


def seed_column(col: pd.Series) -> pd.Series:
    """The seed column as integers (missing stays missing); anything else is the user's error."""
    num = pd.to_numeric(col, errors="coerce")
    bad = col.notna() & (num.isna() | (num % 1 != 0))
    if bad.any():
        raise UserError(f"the seed column must hold integers; it holds {col[bad].iloc[0]!r}")
    return num.astype("Int64")


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The table every reader expects (a copy; idempotent): the group keys present, missing
    ones None (not NaN, so a missing variant groups as one key); final_checkpoint a nullable
    boolean; seed integers."""
    df = df.copy()
    for k in GROUP_KEYS:
        if k not in df.columns:
            df[k] = None
    df[GROUP_KEYS] = df[GROUP_KEYS].astype(object).where(df[GROUP_KEYS].notna(), None)
    if "final_checkpoint" in df.columns:
        df["final_checkpoint"] = as_flag(df["final_checkpoint"])
    if "seed" in df.columns:
        df["seed"] = seed_column(df["seed"])
    return df


def model_column(df: pd.DataFrame) -> str | None:
    """The column that names a model: model_id (ours), else model (published tables)."""
    return next((c for c in ("model_id", "model") if c in df.columns), None)


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Each model's final checkpoint. A model is its id within its family (a suite trains an
    L2-d32-s0 in several experiments, each with its own last step); where a model's rows mark
    final checkpoints, those; then its last step (rows without a step are kept). A table
    without a model column keeps its marked rows, when any are marked."""
    marked = as_flag(df["final_checkpoint"]).fillna(False).to_numpy(bool) \
        if "final_checkpoint" in df.columns else None
    model = model_column(df)
    if model is None:
        return df[marked] if marked is not None and marked.any() else df
    family = df["family"] if "family" in df.columns else pd.Series("", index=df.index)
    keys = [family.fillna("").astype(str).to_numpy(), df[model].to_numpy()]  # positional
    keep = np.ones(len(df), bool)
    if marked is not None and marked.any():
        has_mark = pd.Series(marked).groupby(keys, dropna=False).transform("any").to_numpy(bool)
        keep = marked | ~has_mark
    if "step" in df.columns and df["step"].notna().any():
        step = pd.Series(pd.to_numeric(df["step"], errors="coerce").to_numpy(float))
        last = step.where(keep).groupby(keys, dropna=False).transform("max").to_numpy()
        keep &= (step.to_numpy() == last) | step.isna().to_numpy()
    return df[keep]


def numeric_column(df: pd.DataFrame, name: str, source) -> pd.Series:
    source = source_label(source)
    if name not in df.columns:
        raise UserError(f"{source}: missing column {name!r} (have: {', '.join(map(str, df.columns))})")
    col = pd.to_numeric(df[name], errors="coerce")
    bad = col.isna() & df[name].notna()
    if bad.any():
        raise UserError(f"{source}: column {name!r} has a non-numeric value {df[name][bad].iloc[0]!r}")
    return col
