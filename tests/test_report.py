"""``gqr.report``: files, self-contained HTML (also in a real headless Chromium), Markdown
without matplotlib, bootstrap intervals, the simulated judge, ``gqr report compare``."""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Corpus
from test_bench import OOD, run_tiny, shared_cache
from typer.testing import CliRunner

from gqr.cli import app
from gqr.errors import DataFormatError
from gqr.metrics import SetRows, harmonic_mean
from gqr.report import analyze, bootstrap_scores, compare, load_results, render_markdown, simulate_judge, write_report
from gqr.report.paper import CAVEAT, QUOTED, RETRAINING

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_plots = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                 reason="plots need the report extra: pip install 'gqr[report]'")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def results(bench_dir: Path, small_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny real benchmark run with the real data manifest."""
    from gqr.datasets import load_benchmark

    result = run_tiny(bench_dir, small_corpus, shared_cache(tmp_path_factory))
    result.data = {"benchmark": load_benchmark(bench_dir).info(top=3)}
    return result.to_dict()


@pytest.fixture(scope="module")
def report_dir(results: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(results, out)
    return out


@needs_plots
def test_report_files_and_plots(report_dir: Path) -> None:
    names = {"accuracy_latency", "heatmap", "confusion", "reliability", "tradeoff"}
    assert {p.stem for p in (report_dir / "plots").glob("*.png")} == names
    for png in (report_dir / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report_dir / "report.md").read_text()
    assert all(f"(plots/{n}.png)" in md for n in names)


@needs_plots
def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert "<style>" in html and "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 5
    for _, data in images:
        assert base64.b64decode(data)[:4] == b"\x89PNG"
    assert 'id="table-leaderboard"' in html and 'class="quoted"' in html


def test_leaderboard_in_the_papers_layout(report_dir: Path, results: dict[str, Any]) -> None:
    md = (report_dir / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| router | jigsaw"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[1:8] == OOD
    assert cols[8:] == ["unsafe avg", "OOD acc", "ID acc (id_exact)", "ID acc (id_heldout)", "GQR score", "p50 ms",
                        "ONNX p50 ms", "p99 ms", "batch q/s", "size MB", "train s", "source"]
    svm_row = next(line for line in md.splitlines() if line.startswith("| svm |"))
    assert f"{results['models'][0]['gqr_score']:.3f}" in svm_row and svm_row.endswith("| measured |")
    assert md.count("†* |") == len(QUOTED) and "quoted: retraining" in md and CAVEAT in md
    for heading in ("Bootstrap 95% confidence intervals", "Calibration", "Accuracy by zone",
                    "Simulated judge on the most uncertain 5%", "New sources, reasons and the uncertain zone",
                    "Data manifest", "Reproduce"):
        assert heading in md
    checks = results["models"][0]["checks"]
    row = next(line for line in md.splitlines() if line.startswith("| svm |") and "right reason" not in line
               and line.count("|") > 10 and f"{checks['recall']['id_heldout']['law']:.3f}" in line)
    assert f"{checks['reason_accuracy']['safe_lookalikes']:.3f}" in row
    assert "gqr_exact_sample" in md and "gqr bench --data-dir" in md


def test_results_json_holds_every_number(report_dir: Path, results: dict[str, Any]) -> None:
    data = load_results(report_dir / "results.json")
    model = data["models"][0]
    assert model["ood_sets"] == pytest.approx(results["models"][0]["ood_sets"])
    assert data["data"]["benchmark"]["ood_sets"][0]["sha256"]
    assert data["analysis_settings"]["bootstrap"]["resamples"] == 1000
    a = model["analysis"]
    assert set(a["zones"]) == {"confident_accept", "confident_reject", "uncertain"}
    assert sum(z["rows"] for z in a["zones"].values()) == 60 + 40 * len(OOD)
    assert a["calibration"]["ece_after"] <= a["calibration"]["ece_before"]
    sim = a["judge_simulation"]
    assert sim["escalated"] == int(0.05 * (60 + 40 * len(OOD))) and isinstance(sim["lift_at_least_1_point"], bool)
    for metric in ("id_accuracy", "ood_accuracy", "gqr_score", "unsafe_average", "id_heldout_accuracy"):
        ci = a["ci"][metric]
        assert ci["low"] <= ci["estimate"] <= ci["high"]


def test_report_without_matplotlib(results: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # any import of it now fails
    files = write_report(results, tmp_path)
    assert files.plots == {} and "gqr[report]" in (files.plots_skipped or "")
    assert "| svm |" in files.markdown.read_text() and "pip install 'gqr[report]'" in files.markdown.read_text()
    assert "<img" not in files.html.read_text() and not (tmp_path / "plots").exists()
    assert load_results(files.results)["models"][0]["gqr_score"] == results["models"][0]["gqr_score"]


def test_render_cli_redraws_a_report(report_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # plots are tested above; keep this one fast
    out = CliRunner().invoke(app, ["report", "render", str(report_dir / "results.json"), "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "no plots" in out.output and "gqr[report]" in out.output

    def svm_row(md: Path) -> str:
        return next(line for line in md.read_text().splitlines() if line.startswith("| svm |"))

    assert svm_row(tmp_path / "report.md") == svm_row(report_dir / "report.md")
    assert "<img" not in (tmp_path / "report.html").read_text()


def test_bootstrap_shortcut_matches_literal_resampling() -> None:
    rng = np.random.default_rng(3)
    correct = rng.random(300) < 0.8
    ours = bootstrap_scores(correct, {"a": correct}, n_resamples=4000, seed=1)["id_accuracy"]
    literal = correct[rng.integers(0, 300, size=(4000, 300))].mean(axis=1)
    low, high = np.percentile(literal, [2.5, 97.5])
    assert ours["low"] == pytest.approx(low, abs=0.01) and ours["high"] == pytest.approx(high, abs=0.01)


def test_bootstrap_is_seeded_and_narrows_with_more_rows() -> None:
    small = {"a": np.arange(50) % 4 != 0, "b": np.arange(50) % 2 == 0}
    large = {k: np.tile(v, 20) for k, v in small.items()}
    id_small, id_large = np.arange(40) % 5 != 0, np.arange(800) % 5 != 0
    a = bootstrap_scores(id_small, small, seed=7)
    assert a == bootstrap_scores(id_small, small, seed=7)
    b = bootstrap_scores(id_large, large, seed=7)
    assert a["gqr_score"]["estimate"] == pytest.approx(harmonic_mean(0.8, (37 / 50 + 0.5) / 2))
    assert b["gqr_score"]["high"] - b["gqr_score"]["low"] < a["gqr_score"]["high"] - a["gqr_score"]["low"]


def _rows(truth: np.ndarray, pred: np.ndarray, p_domain: np.ndarray) -> SetRows:
    n = truth.size
    return SetRows(truth, pred, p_domain, p_domain, np.maximum(truth, 0), np.zeros(n, bool),
                   np.abs(p_domain - 0.5) < 0.1, np.zeros(n, bool))


def test_simulated_judge_fixes_the_closest_calls() -> None:
    # ID: 80 right and far from the threshold, 20 wrong and close to it; OOD: 95 right, 5 close and wrong.
    id_rows = _rows(np.zeros(100, int), np.r_[np.zeros(80, int), -np.ones(20, int)], np.r_[np.full(80, 0.95), np.full(20, 0.48)])
    ood = {"x": _rows(-np.ones(100, int), np.r_[-np.ones(95, int), np.zeros(5, int)], np.r_[np.full(95, 0.05), np.full(5, 0.52)])}
    perfect = simulate_judge(id_rows, ood, accuracy=1.0, budget=0.125, threshold=0.5)
    assert perfect["escalated"] == 25 and perfect["escalated_router_accuracy"] == 0.0
    assert perfect["with_judge"]["gqr_score"] == pytest.approx(1.0) and perfect["lift_at_least_1_point"]
    useless = simulate_judge(id_rows, ood, accuracy=0.0, budget=0.125, threshold=0.5)
    assert useless["lift_points"] == pytest.approx(0.0)
    noisy = simulate_judge(id_rows, ood, accuracy=0.91, budget=0.125, threshold=0.5, seed=3)
    assert noisy == simulate_judge(id_rows, ood, accuracy=0.91, budget=0.125, threshold=0.5, seed=3)
    assert noisy["with_judge"]["gqr_low"] <= noisy["with_judge"]["gqr_mean"] <= noisy["with_judge"]["gqr_high"]


def test_quoted_retraining_figures_are_consistent() -> None:
    """The transcribed GQR scores are the harmonic mean of the transcribed ID and OOD accuracies."""
    rows = [q for q in QUOTED if q.source == RETRAINING]
    assert len(rows) == 8
    for q in rows:
        assert q.gqr_score == pytest.approx(harmonic_mean(q.id_accuracy, q.ood_accuracy), abs=0.002), q.label


def worsen(model: dict[str, Any], ood_set: str, share: float) -> None:
    """Make ``share`` of an OOD set's rows wrong (accepted as domain 0), as a worse run would."""
    rows = model["rows"][ood_set]
    right = [i for i, (t, p) in enumerate(zip(rows["truth"], rows["pred"])) if t == p]
    for i in right[: int(share * len(rows["pred"]))]:
        rows["pred"][i] = 0
    model["ood_sets"][ood_set] = float(np.mean([t == p for t, p in zip(rows["truth"], rows["pred"])]))


def test_compare_reports_deltas_and_model_changes(results: dict[str, Any], tmp_path: Path) -> None:
    old = analyze(results)
    new = copy.deepcopy(old)
    m = new["models"][0]
    m["gqr_score"] -= 0.2
    m["analysis"]["ci"]["gqr_score"] = {k: v - 0.2 for k, v in m["analysis"]["ci"]["gqr_score"].items()}
    worsen(m, "olid", 0.3)
    extra = copy.deepcopy(new["models"][0])
    extra["name"] = "widemlp"
    new["models"].append(extra)
    diff = compare(old, new)
    assert diff.added == ["widemlp"] and diff.removed == []
    changes = {c.metric: c for c in diff.changes["svm"]}
    assert set(changes) == {"gqr_score", "ood_sets.olid"}
    assert changes["gqr_score"].delta == pytest.approx(-0.2) and changes["gqr_score"].better is False
    assert changes["gqr_score"].verdict == "worse" and changes["gqr_score"].outside_ci
    assert changes["ood_sets.olid"].verdict == "worse" and changes["ood_sets.olid"].outside_ci
    text = diff.to_text()
    assert "models added: widemlp" in text and "-0.2000" in text and "worse" in text
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(old))
    b.write_text(json.dumps(new))
    out = CliRunner().invoke(app, ["report", "compare", str(b), str(a)])
    assert out.exit_code == 0, out.output
    assert "models removed: widemlp" in out.output and "+0.2000" in out.output


def test_compare_calls_noise_unchanged(results: dict[str, Any], tmp_path: Path) -> None:
    """Accuracy inside the new run's 95% bootstrap interval and timings inside run-to-run
    spread (or the relative tolerance) are unchanged, not better or worse."""
    old = analyze(results)
    new = copy.deepcopy(old)
    m = new["models"][0]
    ci = m["analysis"]["ci"]["gqr_score"]
    m["gqr_score"] = ci["low"] + 0.4 * (ci["high"] - ci["low"])  # old estimate stays inside the new interval
    assert m["gqr_score"] != old["models"][0]["gqr_score"]
    for name in ("id_sets.id_exact", "ood_sets.jigsaw"):  # per-set: from analysis.ci, or the set's own rows
        kind, _, set_name = name.partition(".")
        m[kind][set_name] += 0.001
    m["latency"]["p50_us"] *= 1.10  # within the 25% default tolerance
    m["batch_qps"] *= 0.5  # beyond it
    old["models"][0]["spread"] = {"latency.p99_us": [100.0, 150.0]}
    m["spread"] = {"latency.p99_us": [140.0, 200.0]}  # overlapping run-to-run ranges
    m["latency"]["p99_us"] = old["models"][0]["latency"]["p99_us"] * 1.4
    diff = compare(old, new)
    changes = {c.metric: c for c in diff.changes["svm"]}
    for metric in ("gqr_score", "id_sets.id_exact", "ood_sets.jigsaw"):
        assert changes[metric].verdict == "unchanged" and changes[metric].better is None, changes[metric]
        assert changes[metric].noise == "within new 95% CI"
    assert changes["latency.p50_us"].noise == "within 25% timing tolerance"
    assert changes["latency.p99_us"].noise == "within run-to-run spread"
    assert changes["batch_qps"].verdict == "worse" and not changes["batch_qps"].noise
    text = diff.to_text()
    assert "svm: 1 changed, " in text and "unchanged (within new 95% CI)" in text
    assert "timings within 25% of the old run count as unchanged" in text
    m["spread"] = {"latency.p99_us": [160.0, 200.0]}  # the ranges no longer overlap: a real change
    assert {c.metric: c for c in compare(old, new).changes["svm"]}["latency.p99_us"].verdict == "worse"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(old))
    b.write_text(json.dumps(new))
    strict = CliRunner().invoke(app, ["report", "compare", str(a), str(b), "--timing-tolerance", "0.05", "--json"])
    assert strict.exit_code == 0, strict.output
    verdicts = {c["metric"]: c["verdict"] for c in json.loads(strict.stdout)["changes"]["svm"]}
    assert verdicts["latency.p50_us"] == "worse" and verdicts["gqr_score"] == "unchanged"


def test_load_results_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        load_results(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(DataFormatError, match="gqr bench --report"):
        load_results(bad)


def test_markdown_renders_a_run_without_rows(results: dict[str, Any]) -> None:
    stripped = copy.deepcopy(results)
    for m in stripped["models"]:
        m.pop("rows")
    md = render_markdown(analyze(stripped))
    assert "| svm |" in md


@needs_plots
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    """Load the report in a real browser: every table is there, every image decodes, the
    console stays silent. A probe script (added to a copy; the report has none) reports the
    images' decoded widths into the DOM and logs one line, proving console capture works."""
    html = (report_dir / "report.html").read_text()
    probe = ("<script>addEventListener('load', () => { const w = [...document.images].map(i => i.naturalWidth);"
             " document.body.setAttribute('data-probe', w.join(',')); console.log('gqr-probe ' + w.length); });</script>")
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe + "</body>"))
    base = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    run = subprocess.run([*base, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    dom = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    widths = re.search(r'data-probe="([^"]*)"', dom)
    assert widths, "the page did not finish loading"
    assert [int(w) > 0 for w in widths.group(1).split(",")] == [True] * 5
    assert dom.count("<table") == html.count("<table") >= 8
    assert "Leaderboard (GQR-Bench)" in dom
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert any("gqr-probe 5" in line for line in console)
    assert [line for line in console if "gqr-probe" not in line] == []

    shot = tmp_path / "shot.png"
    subprocess.run([*base, "--hide-scrollbars", "--window-size=1400,2000", f"--screenshot={shot}",
                    (report_dir / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"))
    assert image.shape == (2000, 1400)
    assert (image < 128).mean() > 0.01  # text and plots drawn, not a blank page
