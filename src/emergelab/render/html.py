"""One self-contained, offline HTML page per run (`emergelab report`, and DIR/report/index.html
after `demo` and `run`).

Plots are Bokeh figures with BokehJS inlined (only its core bundle, ~1.3 MB: Bokeh draws the log
axes, bands, hover and zoom we would otherwise hand-write, and has a documented offline mode).
Everything else — the metric switch, the sortable verdict table, the examples browser — is a few
lines of plain JavaScript in template.html that fill cells with textContent, never innerHTML.
Untrusted text (task and model names, prompts, generations) reaches the page only as JSON inside
a <script type="application/json"> element, with <, >, &, U+2028 and U+2029 escaped, so no
string can close the element or become markup.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import analyze
from ..errors import UserError
from ..evaluate.registry import REGISTRY
from ..sources import GROUP_KEYS, final_rows, load_table, our_run_dirs, run_source, source_label
from ..store import write_atomic
from .plots import CURVE_METRICS, task_label, normalised

EXAMPLES_PER_TASK = 20
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def safe_json(obj) -> str:
    """JSON that is inert inside an HTML <script> element."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _clean(v):
    """JSON-safe scalars: NaN/inf -> None, numpy -> Python."""
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _metrics_present(df: pd.DataFrame) -> list[str]:
    have = set(df["metric"])
    known = [m for m in CURVE_METRICS if m in have]
    return known or sorted(m for m in have if m in REGISTRY)[:6]


def _norm_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Values and interval ends normalised between baseline (0) and best (1), as the PNGs draw
    them; raw values where a metric has no baseline or best."""
    df = df.copy()
    for col in ("baseline", "ci_low", "ci_high"):
        if col not in df.columns:
            df[col] = np.nan
    norm = normalised(df)
    ok = norm.notna() & np.isfinite(norm)
    lo = normalised(df.assign(value=df["ci_low"]))
    hi = normalised(df.assign(value=df["ci_high"]))
    df["y"] = np.where(ok, norm, df["value"])
    df["lo"] = np.where(ok, np.minimum(lo, hi), df["ci_low"])
    df["hi"] = np.where(ok, np.maximum(lo, hi), df["ci_high"])
    df["normalised"] = ok
    return df


def _panels(df: pd.DataFrame, x: str, verdicts) -> list[dict]:
    """One panel per (family, task, variant, shots): per metric, the curve over size (last
    checkpoints, seeds averaged) and over steps (one line per model)."""
    metrics = _metrics_present(df)
    df = df[df["metric"].isin(metrics)]
    keys = GROUP_KEYS
    by_verdict = {(r.family, r.task, r.variant, r.shots, r.metric): r for r in verdicts}
    final = final_rows(df)
    panels = []
    for i, (key, g) in enumerate(final.groupby(keys, dropna=False, sort=True)):
        key = tuple(None if (isinstance(v, float) and math.isnan(v)) else v for v in key)
        family, task, variant, shots = key
        panel = {"id": i, "family": _clean(family), "task": str(task),
                 "variant": _clean(variant), "shots": _clean(shots),
                 "label": " ".join(str(v) for v in (family, task_label(task, variant)) if v)
                 + (f" ({shots:g}-shot)" if isinstance(shots, (int, float)) and shots else ""),
                 "size": {}, "steps": {}, "verdict": {}, "seeds": {}}
        for metric, gm in g.groupby("metric"):
            gm = _norm_frame(gm[gm[x].notna() & (gm[x] > 0)])
            if gm.empty:
                continue
            model_col = "model_id" if "model_id" in gm.columns else None
            agg = gm.groupby(x).agg(y=("y", "mean"), lo=("lo", "mean"), hi=("hi", "mean"),
                                    raw=("value", "mean"), normalised=("normalised", "all"))
            models = (gm.groupby(x)[model_col].agg(lambda s: ", ".join(sorted(map(str, set(s)))))
                      if model_col else pd.Series("", index=agg.index))
            panel["size"][metric] = {
                "x": [float(v) for v in agg.index], "y": [_clean(v) for v in agg["y"]],
                "lo": [_clean(v) for v in agg["lo"]], "hi": [_clean(v) for v in agg["hi"]],
                "raw": [_clean(v) for v in agg["raw"]], "model": list(models),
                "normalised": bool(agg["normalised"].all())}
            if "seed" in gm.columns and gm["seed"].nunique() > 1:  # each seed a thin line
                lines = [gs.groupby(x)["y"].mean() for _, gs in gm.groupby("seed")]
                panel["seeds"][metric] = {"xs": [[float(v) for v in ln.index] for ln in lines],
                                          "ys": [[_clean(v) for v in ln] for ln in lines]}
            r = by_verdict.get((family, task, variant, shots, metric))
            if r is not None:
                panel["verdict"][metric] = {
                    "classification": r.classification, "emergence": r.emergence,
                    "threshold": _clean(r.threshold),
                    "ci": [_clean(v) for v in r.threshold_ci] if r.threshold_ci else None,
                    "ci_kind": r.threshold_ci_kind,
                    "seeds": max((c["count"] for c in r.seeds or []), default=1),
                    "seed_variance": r.seed_variance,
                    "seed_spread": _clean(r.seed_spread_decades)}
        if "step" in df.columns and df["step"].notna().any():
            mine = df[(df["family"].astype(str) == str(family)) & (df["task"] == task)
                      & (df["variant"].astype(str) == str(variant))
                      & (df["shots"].astype(str) == str(shots)) & (df["step"] > 0)]
            for metric, gm in mine.groupby("metric"):
                gm = _norm_frame(gm)
                lines = []
                for (size, model), gl in gm.groupby([x, "model_id"] if "model_id" in gm.columns
                                                     else [x, x]):
                    gl = gl.sort_values("step")
                    if len(gl) >= 2:
                        lines.append({"model": str(model), "size": float(size),
                                      "x": [float(v) for v in gl["step"]],
                                      "y": [_clean(v) for v in gl["y"]]})
                if lines:
                    panel["steps"][metric] = lines
        if panel["size"]:
            panels.append(panel)
    return panels


def _examples(source: Path, df: pd.DataFrame, x: str) -> dict[str, list[dict]]:
    """For our runs: per panel label, a few held-out examples with each size's generation at its
    last checkpoint and whether exact match scored it right."""
    from ..config import load_config
    from ..evaluate.runner import sample_metrics
    from ..store import has_table, read_samples
    from ..tasks import build_task

    out: dict[str, list[dict]] = {}
    for run_dir, family in our_run_dirs(source):
        if not has_table(run_dir, "samples"):
            continue
        cfg = load_config(run_dir / "config.toml")
        tasks = {}
        for t in cfg.tasks:
            task = build_task(t.name, t.variant, **t.options)
            tasks[(task.name, task.variant)] = task
            for kind in task.transfer_sets:  # a recipe study's transfer sets
                tasks[(task.name, f"{task.variant}-{kind}")] = \
                    task if kind == "fresh" else task.transfer_task(kind)
        samples = read_samples(run_dir)
        finals = final_rows(df[df["family"] == family])
        finals = finals[["model_id", "step", x]].drop_duplicates()
        samples = samples.merge(finals, on=["model_id", "step"]).sort_values(x)
        samples = samples[samples["example_id"] < EXAMPLES_PER_TASK]
        for (task_name, variant, shots), g in samples.groupby(["task", "variant", "shots"]):
            task = tasks.get((task_name, variant))
            label = " ".join(str(v) for v in (family, task_label(task_name, variant)) if v)
            if shots:
                label += f" ({shots:g}-shot)"
            items = []
            for ex_id, ge in g.groupby("example_id"):
                first = ge.iloc[0]
                rows = []
                for r in ge.itertuples(index=False):
                    ok = None
                    if task is not None:
                        ok = bool(sample_metrics(task, r.generated, r.target, r.answer,
                                                 r.token_logprobs, r.token_hits,
                                                 getattr(r, "choice_logprobs", None),
                                                 getattr(r, "choice_scores", None))
                                  .get("exact_match", 0.0) == 1.0)
                    rows.append({"model": str(r.model_id), "size": float(getattr(r, x)),
                                 "generated": str(r.generated), "correct": ok})
                items.append({"id": int(ex_id), "prompt": str(first.prompt),
                              "target": str(first.target), "rows": rows})
            out[label] = items
    return out


def _alerts(source: Path) -> list[dict]:
    from ..store import monitor_events

    if not source.is_dir():
        return []
    keep = ("experiment", "model_id", "step", "task", "metric", "value", "threshold")
    return [{k: _clean(ev.get(k)) for k in keep}
            for ev in monitor_events(source / "monitor.jsonl") if ev.get("alert")]


def _shot_gains(source: Path, where: str | None = None) -> list[dict]:
    """In-context learning (analysis/verdicts/in_context.py) when the source holds two or more shot
    counts: each model's gain over 0-shot at every k; empty otherwise."""
    from ..analysis.verdicts.in_context import shot_gains

    try:
        gains = shot_gains(source, where)
    except UserError:  # zero-shot only: no section
        return []
    return [{k: (_clean(v) if not isinstance(v, (list, tuple)) else [_clean(u) for u in v])
             for k, v in g.to_json().items()} for g in gains]


def _comparisons(source: Path, a) -> list[dict]:
    """For a suite: every pair of experiments that share a task, read as `compare` reads them."""
    from ..analysis.verdicts.compare import compare_thresholds

    runs = our_run_dirs(source) if source.is_dir() else []
    if len(runs) < 2:
        return []
    by_family: dict[str, list] = {}
    for c in a.curves:
        by_family.setdefault(str(c.keys.get("family")), []).append(c)
    rows = []
    names = [f for _, f in runs if f in by_family]
    for i, fa in enumerate(names):
        for fb in names[i + 1:]:
            for r in compare_thresholds(by_family[fa], by_family[fb]):
                if r["shift_decades"] is not None:
                    rows.append({"a": fa, "b": fb, **{k: _clean(v) if not isinstance(v, list)
                                                      else [_clean(u) for u in v]
                                                      for k, v in r.items()}})
    return rows


def _induction(source: Path) -> dict | None:
    """For a recipe study: each recipe's shifts against the base, the reasons, the mixtures, and
    the shifts' picture (a PNG as a data: URL)."""
    import base64

    from ..induce import STUDY_FILE, read_induction
    from .induction import induction_notes, induction_png

    if not (source.is_dir() and (source / STUDY_FILE).exists()):
        return None
    try:
        result = read_induction(source)
    except UserError:  # a study still training: its runs are reported, the verdicts not yet
        return None
    png = induction_png(result)
    return {"records": [{k: (_clean(v) if not isinstance(v, list) else [_clean(u) for u in v])
                         for k, v in r.to_json().items()} for r in result.records],
            "notes": induction_notes(result),
            "png": "data:image/png;base64," + base64.b64encode(png).decode() if png else None}


def _steps_data(p: dict, metric: str) -> dict:
    lines = p["steps"].get(metric, [])
    sizes = sorted({ln["size"] for ln in lines})
    return {"xs": [ln["x"] for ln in lines], "ys": [ln["y"] for ln in lines],
            "model": [ln["model"] for ln in lines],
            "color": [PALETTE[sizes.index(ln["size"]) % len(PALETTE)] for ln in lines]}


def _figures(panels: list[dict], x: str, first: str):
    """Bokeh figures (size and steps) for every panel, drawn with the first metric's data; their
    sources and marks are named so the page's script can swap in another metric's."""
    from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Span
    from bokeh.plotting import figure

    figs = {}
    for p in panels:
        size = figure(width=460, height=300, x_axis_type="log", x_axis_label=x,
                      y_axis_label="normalised (0 = baseline, 1 = best)",
                      tools="pan,wheel_zoom,box_zoom,reset,save", name=f"size-fig-{p['id']}")
        d = p["size"].get(first) or next(iter(p["size"].values()))
        src = ColumnDataSource({k: d[k] for k in ("x", "y", "lo", "hi", "raw", "model")},
                               name=f"size-{p['id']}")
        seeds = p["seeds"].get(first, {"xs": [], "ys": []})
        size.multi_line(xs="xs", ys="ys", source=ColumnDataSource(dict(seeds),
                                                                  name=f"seeds-{p['id']}"),
                        line_width=1, line_alpha=0.45, color="grey")
        size.varea(x="x", y1="lo", y2="hi", source=src, fill_alpha=0.25, fill_color=PALETTE[0])
        size.line(x="x", y="y", source=src, line_width=2, color=PALETTE[0])
        dots = size.scatter(x="x", y="y", source=src, size=7, color=PALETTE[0])
        size.add_tools(HoverTool(renderers=[dots], tooltips=[
            ("model", "@model"), (x, "@x{0.000a}"), ("value", "@raw{0.000}"),
            ("normalised", "@y{0.00} [@lo{0.00}, @hi{0.00}]")]))
        size.add_layout(Span(location=0, dimension="width", line_dash="dotted", line_color="red",
                             name=f"base-{p['id']}"))
        size.add_layout(BoxAnnotation(left=min(d["x"]), right=max(d["x"]), fill_alpha=0.18,
                                      fill_color="orange", visible=False,
                                      name=f"thrbox-{p['id']}"))
        size.add_layout(Span(location=0, dimension="height", line_color="orange", line_width=2,
                             visible=False, name=f"thr-{p['id']}"))
        figs[f"size-{p['id']}"] = size
        if p["steps"]:
            steps = figure(width=460, height=300, x_axis_type="log", x_axis_label="step",
                           y_axis_label="normalised", tools="pan,wheel_zoom,box_zoom,reset,save",
                           name=f"steps-fig-{p['id']}")
            ssrc = ColumnDataSource(_steps_data(p, first if first in p["steps"]
                                                else next(iter(p["steps"]))),
                                    name=f"steps-{p['id']}")
            lines = steps.multi_line(xs="xs", ys="ys", line_color="color", source=ssrc,
                                     line_width=2, legend_field="model")
            steps.legend.location = "top_left"
            steps.legend.label_text_font_size = "8pt"
            steps.legend.background_fill_alpha = 0.6
            steps.add_tools(HoverTool(renderers=[lines], tooltips=[("model", "@model")]))
            figs[f"steps-{p['id']}"] = steps
    return figs


def _one_document(figs: dict) -> dict:
    """The figures as roots of one Bokeh document, added under one freeze: Bokeh re-walks every
    model of a document each time a root is added, which made a page of hundreds of panels take
    minutes (quadratic); `components` then uses this document as it is."""
    from bokeh.document import Document

    doc = Document()
    with doc.models.freeze():
        for fig in figs.values():
            doc.add_root(fig)
    return figs


def _panel_html(i: int, divs: dict, steps: bool) -> str:
    """A panel's skeleton: ids and Bokeh's own divs only (names and text are filled in by the
    page's script, as text)."""
    plots = f'<div class="plot size">{divs[f"size-{i}"]}</div>'
    if steps:
        plots += f'<div class="plot steps">{divs[f"steps-{i}"]}</div>'
    return (f'<section class="panel" id="panel-{i}" data-panel="{i}"><h3 class="label"></h3>'
            f'<p class="verdict"></p><div class="plots">{plots}</div>'
            '<div class="examples"></div></section>')


def build_report(source: str | Path | pd.DataFrame, out: str | Path, title: str | None = None,
                 where: str | None = None) -> Path:
    """Analyse source (its rows matching `where`, a DuckDB SQL expression) and write the page to
    out (atomically); returns out. A run directory adds what only it holds: sample answers,
    capability alerts, a suite's comparisons, a recipe study."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    out = Path(out)
    run_dir = run_source(source)
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name such as report.html")
    if not out.parent.exists():
        raise UserError(f"cannot write {out}: no directory {out.parent}")
    a = analyze(source, where=where)
    df = load_table(source, where)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df[a.x] = pd.to_numeric(df[a.x], errors="coerce")
    if "step" in df.columns:
        df["step"] = pd.to_numeric(df["step"], errors="coerce")
    panels = _panels(df, a.x, a.results)
    if not panels:
        raise UserError(f"{source_label(source)}: no curve to report")
    ours = run_dir is not None and bool(our_run_dirs(run_dir))
    data = {
        "title": title or (Path(source).name if a.source else "results"),
        "source": source_label(source), "x": a.x,
        "metrics": [m for m in CURVE_METRICS if any(m in p["size"] for p in panels)]
        or sorted({m for p in panels for m in p["size"]}),
        "palette": PALETTE, "panels": panels,
        "verdicts": [{k: (_clean(v) if not isinstance(v, list) else [_clean(u) for u in v])
                      for k, v in r.to_json().items()} for r in a.results],
        "examples": _examples(run_dir, df, a.x) if ours else {},
        "alerts": _alerts(run_dir) if run_dir else [],
        "comparisons": _comparisons(run_dir, a) if run_dir else [],
        "shot_gains": _shot_gains(source, where),
        "notes": a.notes,
        "induction": _induction(run_dir) if run_dir and where is None else None,
    }
    script, divs = components(_one_document(_figures(panels, a.x, data["metrics"][0])))
    # the page skeleton holds ids and Bokeh's own divs only; every name and text is filled in
    # by the page's script from the JSON, as text
    skeleton = "\n".join(_panel_html(p["id"], divs, bool(p["steps"])) for p in panels)
    bokeh_js = "\n".join(Resources(mode="inline", components=["bokeh"]).js_raw)
    parts = {"BOKEH_JS": bokeh_js.replace("</script", "<\\/script"), "DATA": safe_json(data),
             "PANELS": skeleton, "BOKEH_SCRIPT": script}
    template = resources.files("emergelab.render").joinpath("template.html").read_text()
    # one pass: a substituted part is never scanned again for placeholders
    page = re.sub(r"\{\{(BOKEH_JS|DATA|PANELS|BOKEH_SCRIPT)\}\}", lambda m: parts[m.group(1)],
                  template)
    try:
        write_atomic(out, page)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror}") from None
    return out
