"""The HTML report, opened in a real headless browser: Debian's Chromium driven by Playwright
(its own browser download is impossible here; .ci/run installs the `chromium` package)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergelab.planted import planted_table

from .conftest import run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, path: Path):
    """The page, loaded from file: with every other request blocked and counted, and every
    console error and page error kept."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    seen = {"errors": [], "blocked": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))

    def gate(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            seen["blocked"].append(route.request.url)
            route.abort()

    page.route("**/*", gate)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    return page, seen


@pytest.fixture(scope="module")
def micro_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    proc = run_cli("run", "--preset", "micro", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    page = out / "report" / "index.html"
    assert f"report:{page}" in "".join(proc.stdout.split())  # the path is printed (Rich may wrap it)
    return out, page


def test_run_writes_an_offline_page_that_renders(browser, micro_report):
    out, path = micro_report
    assert path.stat().st_size < 5e6
    page, seen = open_page(browser, path)
    assert seen["errors"] == [] and seen["blocked"] == []
    results = pd.concat(pd.read_parquet(p) for p in (out / "results").glob("*.parquet"))
    labels = page.locator("section.panel h3").all_text_contents()
    for task, variant in results[["task", "variant"]].drop_duplicates().itertuples(index=False):
        want = task if variant in (None, "plain") else f"{task}/{variant}"
        assert any(want in label for label in labels), (want, labels)
    plots = page.locator(".plot")
    assert plots.count() >= 2 * len(labels)  # over size and over steps
    for i in range(plots.count()):  # each drawn on a canvas of real size
        canvases = plots.nth(i).locator("canvas")
        boxes = [canvases.nth(k).bounding_box() for k in range(canvases.count())]
        assert max(b["width"] * b["height"] for b in boxes if b) > 200 * 150
    # the examples browser shows prompts and each size's generation
    assert page.locator(".examples pre").count() > 0
    page.close()


def _plotted(page) -> list:
    return page.evaluate("Array.from(Bokeh.documents[0].get_model_by_name('size-0').data.y)")


def test_metric_switch_changes_the_plotted_data(browser, micro_report):
    _, path = micro_report
    page, seen = open_page(browser, path)
    options = page.locator("#metric option").all_text_contents()
    assert {"exact_match", "token_accuracy"} <= set(options)
    page.select_option("#metric", "exact_match")
    em = _plotted(page)
    page.select_option("#metric", "token_accuracy")
    acc = _plotted(page)
    assert len(em) == len(acc) > 0 and em != acc
    assert "token_accuracy" in page.locator("#panel-0 .verdict").text_content()
    assert seen["errors"] == []
    page.close()


def test_verdict_table_sorts(browser, micro_report):
    _, path = micro_report
    page, _ = open_page(browser, path)
    header = page.locator("#verdicts th", has_text="metric")
    header.click()
    up = page.locator("#verdicts tbody tr td:nth-child(5)").all_text_contents()
    assert up == sorted(up)
    header.click()
    down = page.locator("#verdicts tbody tr td:nth-child(5)").all_text_contents()
    assert down == sorted(up, reverse=True)
    page.close()


PAYLOADS = ['<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=2</script>",
            '" onmouseover="window.__pwned=3" x="', "\u2028<b>line</b>\u2029 & {{DATA}}"]


def test_hostile_names_stay_text(browser, tmp_path):
    rng = np.random.default_rng(0)
    tables = []
    for i, payload in enumerate(PAYLOADS):
        df, _ = planted_table("jump", rng)
        tables.append(df.assign(task=payload, family=f"fam{i}{payload}",
                                model_id=[f"m{k}{payload}" for k in range(len(df))]))
    csv = tmp_path / "hostile.csv"
    pd.concat(tables).to_csv(csv, index=False)
    out = tmp_path / "hostile.html"
    proc = run_cli("report", csv, "--out", out)
    assert proc.returncode == 0, proc.stderr
    page, seen = open_page(browser, out)
    # sweep the mouse over the first plot: its hover tooltips show model names
    canvases = page.locator("#panel-0 .plot.size canvas")
    box = max((canvases.nth(k).bounding_box() for k in range(canvases.count())),
              key=lambda b: b["width"] * b["height"])
    for i in range(40):
        for j in range(12):
            page.mouse.move(box["x"] + box["width"] * i / 40, box["y"] + box["height"] * j / 12)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    table_text = page.locator("#verdicts").text_content()
    labels = " ".join(page.locator("section.panel h3").all_text_contents())
    for payload in PAYLOADS:
        assert payload.strip() in table_text or payload.strip() in labels
    assert seen["errors"] == [] and seen["blocked"] == []
    data = json.loads(page.locator("#report-data").text_content())
    assert {v["task"] for v in data["verdicts"]} == set(PAYLOADS)
    page.close()


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    empty = tmp_path / "flat.csv"
    pd.DataFrame({"task": ["t"], "metric": ["exact_match"], "value": [0.5],
                  "params": [0.0]}).to_csv(empty, index=False)
    out = tmp_path / "r.html"
    proc = run_cli("report", empty, "--out", out)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    good, _ = planted_table("jump", np.random.default_rng(1))
    good.to_csv(tmp_path / "good.csv", index=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("report", tmp_path / "good.csv", "--out", blocker / "r.html")
    assert proc.returncode == 2 and "cannot write" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "flat.csv", "good.csv"]


def test_monitor_alerts_are_listed(browser, micro_report, tmp_path):
    out, _ = micro_report
    log = out / "monitor.jsonl"
    event = {"experiment": "", "model_id": "L1-d8-s0", "step": 8, "probe": 0, "task": "add/reversed",
             "metric": "exact_match", "value": 0.5, "threshold": 0.4, "crossed": True, "alert": True}
    log.write_text(json.dumps(event) + "\n" + json.dumps({**event, "alert": False}) + '\n{"cut')
    try:
        page_path = tmp_path / "alerts.html"
        assert run_cli("report", out, "--out", page_path).returncode == 0
        page, seen = open_page(browser, page_path)
        assert page.locator("#alerts-section").is_visible()
        rows = page.locator("#alerts tbody tr")
        assert rows.count() == 1 and "L1-d8-s0" in rows.first.text_content()
        assert seen["errors"] == []
        page.close()
    finally:
        log.unlink()


def test_few_shot_gains_are_tabled_when_there_are_shot_counts(browser, tmp_path):
    """Two models scored at 0 and 4 shots: the page shows the in-context-learning table, one row
    per model, with the gain k-shot minus 0-shot; a zero-shot-only page hides the section."""
    import pandas as pd

    from emergelab.render.html import build_report

    rows = []
    for p, (zero, four) in {1e6: (0.1, 0.1), 1e8: (0.1, 0.7)}.items():
        for k, v in ((0, zero), (4, four)):
            for x in (p, p * 3):  # two sizes per shot count: a curve for the verdict table
                rows.append({"family": "f", "model_id": f"m{x:g}", "params": x, "task": "t",
                             "variant": "plain", "shots": k, "metric": "exact_match",
                             "value": v, "ci_low": v - 0.05, "ci_high": v + 0.05})
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    page, seen = open_page(browser, build_report(tmp_path / "r.csv", tmp_path / "r.html"))
    assert page.locator("#shots-section").is_visible()
    table = page.locator("#shots tbody tr")
    assert table.count() == 4
    texts = [table.nth(i).text_content() for i in range(4)]
    assert sum("+0.60" in t for t in texts) == 2 and sum("+0.00" in t for t in texts) == 2
    assert seen["errors"] == []
    page.close()


def test_report_of_a_published_harness_table(shared_data, tmp_path):
    """Pythia's zero-shot accuracy and LAMBADA perplexity (string-typed metric column, no
    baseline column): a page, no traceback."""
    df = pd.read_csv(shared_data / "pythia_evals.csv")
    df = df[(df["family"] == "pythia") & (df["shots"] == 0)
            & df["metric"].isin(["acc", "ppl"]) & df["task"].isin(["lambada_openai", "piqa"])]
    df.to_csv(tmp_path / "pythia.csv", index=False)
    proc = run_cli("report", tmp_path / "pythia.csv", "--out", tmp_path / "p.html")
    assert proc.returncode == 0, proc.stderr
    assert "lambada_openai" in (tmp_path / "p.html").read_text()
    proc = run_cli("report", tmp_path / "pythia.csv", "--out", tmp_path / "q.html", "--where",
                   "task = 'piqa'")
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "q.html").read_text()
    assert "piqa" in page and "lambada_openai" not in page
