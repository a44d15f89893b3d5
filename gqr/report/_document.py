"""The report as a list of sections of blocks, shared by the Markdown and HTML renderers."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from gqr.report import _tables as T
from gqr.report._tables import Table, best_model, fmt
from gqr.report.paper import CAVEAT

__all__ = ["Bullets", "Code", "Figure", "Para", "Section", "build_document", "reproduce_commands"]


@dataclass
class Para:
    text: str  # plain text; `backticks` mark code


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    key: str  # plot name (file plots/<key>.png)
    caption: str


Block = Para | Bullets | Code | Figure | Table


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)


FIGURES = {
    "accuracy_latency": "GQR score against single-query p50 latency (log scale). Filled: measured here, on the "
                        "Pareto front when joined by the line. Hollow grey: quoted from the paper and the "
                        "authors' retraining (other data and hardware).",
    "heatmap": "Accuracy of every measured router on every set.",
    "confusion": "Confusion matrix of the best router (row-normalised; numbers are counts).",
    "reliability": "Reliability diagram: calibrated confidence of each decision against its accuracy, on the "
                   "benchmark rows. The diagonal is perfect calibration.",
    "tradeoff": "What moving the in-domain threshold (max calibrated domain probability) does: ID accuracy "
                "against OOD accuracy (left) and GQR score against the threshold (right). Dots: the shipped "
                "operating point.",
}


def reproduce_commands(results: dict[str, Any]) -> list[str]:
    """Shell commands that re-create this report."""
    s = results.get("settings") or {}
    bench = (results.get("data") or {}).get("benchmark") or {}
    cmd = ["gqr", "bench"]
    if bench.get("data_dir"):
        cmd += ["--data-dir", str(bench["data_dir"])]
    if bench.get("train_dir"):
        cmd += ["--train-dir", str(bench["train_dir"])]
    artifacts = [str(a) for a in s.get("artifacts") or []]
    if s.get("models") or not artifacts:
        cmd += ["--models", ",".join(s.get("models", [])) or "svm"]
    for a in artifacts:
        cmd += ["--artifact", a]
    cmd += ["--seed", str(s.get("seed", 0)), "--latency-queries", str(s.get("latency_queries", 500))]
    j = s.get("judge")
    if j:
        cmd += ["--judge-url", str(j.get("url")), "--judge-model", str(j.get("model"))]
        if j.get("band") == "auto":
            cmd += ["--judge-band", "auto"]
        elif j.get("band"):
            cmd += ["--judge-band", ",".join(f"{b:g}" for b in j["band"])]
        if j.get("max_calls") is not None:
            cmd += ["--judge-max-calls", str(j["max_calls"])]
        if j.get("zone_max_calls") is not None:
            cmd += ["--judge-zone-max-calls", str(j["zone_max_calls"])]
        if j.get("heldout_rows") not in (None, 1000):
            cmd += ["--judge-heldout-rows", str(j["heldout_rows"])]
    cmd += ["--report", "REPORT_DIR"]
    return [
        "pip install -e '.[report]'",
        " ".join(shlex.quote(c) for c in cmd),
        "gqr report render REPORT_DIR/results.json --out REPORT_DIR   # re-draw from the numbers",
        "gqr report compare OLD/results.json REPORT_DIR/results.json  # what changed",
    ]


def _summary(results: dict[str, Any]) -> list[str]:
    best = best_model(results)
    if best is None:
        return ["No models were benchmarked."]
    a = best.get("analysis") or {}
    ci = (a.get("ci") or {}).get("gqr_score") or {}
    lat = best.get("latency") or {}
    items = [
        (f"Best router: `{best['name']}`, GQR score {fmt(best['gqr_score'])} (95% CI {fmt(ci.get('low'))}–"
         f"{fmt(ci.get('high'))}), ID accuracy {fmt(best['id_accuracy'])}, OOD accuracy {fmt(best['ood_accuracy'])}, "
         f"p50 latency {fmt((lat.get('p50_us') or 0) / 1000, 3)} ms on one CPU thread."),
    ]
    if best.get("ood_sets"):
        worst = min(best["ood_sets"], key=best["ood_sets"].get)
        items.append(f"Hardest OOD set for `{best['name']}`: {worst} ({fmt(best['ood_sets'][worst])} rejected).")
    cal = a.get("calibration") or {}
    if cal.get("ece_before") is not None:
        items.append(f"Calibration: validation ECE {fmt(cal['ece_before'])} before and {fmt(cal['ece_after'])} after "
                     f"temperature scaling; {fmt(cal.get('ece_bench'))} on the benchmark rows.")
    zones = a.get("zones") or {}
    if zones:
        u = zones.get("uncertain", {})
        items.append(f"Uncertain zone: {fmt(u.get('share'))} of benchmark rows would be escalated; the router is right "
                     f"on {fmt(u.get('accuracy'))} of them, against {fmt(zones['confident_accept']['accuracy'])} "
                     f"(confident accept) and {fmt(zones['confident_reject']['accuracy'])} (confident reject).")
    sim = a.get("judge_simulation")
    if sim:
        verdict = "at least" if sim["lift_at_least_1_point"] else "less than"
        items.append(f"A simulated judge (right {sim['judge_accuracy']:.0%} of the time) on the "
                     f"{sim['escalated_share']:.0%} most uncertain rows lifts the GQR score by "
                     f"{sim['lift_points']:+.2f} points ({verdict} +1 point).")
    for m in T.measured(results, "router+judge"):
        items.append(f"Measured with a real judge: `{m['name']}` GQR score {fmt(m['gqr_score'])}.")
    return items


def build_document(results: dict[str, Any], figures: set[str] | frozenset[str] = frozenset()) -> list[Section]:
    """The report's sections; ``figures`` names the plots that exist (others are left out)."""

    def fig(key: str) -> list[Block]:
        return [Figure(key, FIGURES[key])] if key in figures else []

    judge = T.judge_rows(results)
    confusion = T.confusion(results)
    general = T.generalisation(results)
    no_plots = [] if figures else [Para("Plots are missing: install the report extra (`pip install 'gqr[report]'`) "
                                        "and re-render with `gqr report render`.")]
    return [
        Section("summary", "Summary", [Bullets(_summary(results)), *no_plots]),
        Section("leaderboard", "Leaderboard", [T.leaderboard(results), Para(f"† {CAVEAT}"), *fig("accuracy_latency"),
                                                *fig("heatmap")]),
        Section("intervals", "Confidence intervals", [T.intervals(results)]),
        *([Section("generalisation", "New sources, reasons and the uncertain zone", [general])] if general else []),
        Section("uncertainty", "Calibration, uncertain zone and judge", [
            T.calibration(results), *fig("reliability"), T.zones(results), T.judge_simulation(results),
            *([judge] if judge else []), *fig("tradeoff")]),
        Section("errors", "Where the best router goes wrong", [*fig("confusion"), *([confusion] if confusion else []),
                                                               T.reasons(results)]),
        Section("reproduce", "Reproduce", [Para("Same data, seed and settings give the same accuracies; latency "
                                                "depends on the machine."), Code("\n".join(reproduce_commands(results)))]),
        Section("provenance", "Data and environment", [T.manifest(results), T.environment(results)]),
    ]
