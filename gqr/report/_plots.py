"""Report plots with matplotlib (the ``report`` extra), drawn off-screen.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot, so no
global backend is touched (Agg renders them) and notebooks keep their own backend.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from gqr.errors import require
from gqr.report._tables import best_model, measured
from gqr.report.paper import PAPER, QUOTED

__all__ = ["PLOTS", "figure_png", "pareto_front", "plot_accuracy_latency", "plot_confusion", "plot_heatmap",
           "plot_reliability", "plot_tradeoff", "render_plots"]

MEASURED = "#0969da"
JUDGE = "#bf3989"
QUOTED_COLOR = "#8c959f"


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    require("matplotlib", "report", "Report plots")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def figure_png(fig: Any) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both lower x and higher y, by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_accuracy_latency(results: dict[str, Any], quoted: bool = True) -> Any:
    """GQR score against p50 single-query latency (log x), with the measured Pareto front."""
    fig, ax = _figure(8.5, 5.2)
    models = [m for m in measured(results) if (m.get("latency") or {}).get("p50_us")]
    pts = [(m["latency"]["p50_us"] / 1000, m["gqr_score"]) for m in models]
    if quoted:
        for q in QUOTED:
            if q.gqr_score is None or q.latency_ms is None:
                continue
            ax.scatter(q.latency_ms, q.gqr_score, s=40, facecolors="none", edgecolors=QUOTED_COLOR, zorder=2)
            label = f"{q.label}, paper" if q.source == PAPER else q.label
            ax.annotate(label, (q.latency_ms, q.gqr_score), xytext=(4, -9), textcoords="offset points",
                        fontsize=7, color=QUOTED_COLOR)
    for (x, y), m in zip(pts, models):
        color = JUDGE if m.get("kind") == "router+judge" else MEASURED
        ax.scatter(x, y, s=60, color=color, zorder=3)
        ax.annotate(m["name"], (x, y), xytext=(5, 4), textcoords="offset points", fontsize=9, color=color)
    front = pareto_front(pts)
    if len(front) > 1:
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], color=MEASURED, lw=1.2, ls="--",
                zorder=1, label="Pareto front (measured)")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query (ms, log scale)")
    ax.set_ylabel("GQR score")
    ax.set_title("Accuracy vs latency (hollow grey: quoted, not measured here)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_heatmap(results: dict[str, Any]) -> Any:
    """Accuracy per router (rows) and set (columns)."""
    models = measured(results)
    id_names = list(models[0].get("id_sets", {})) if models else []
    ood_names = list(models[0].get("ood_sets", {})) if models else []
    names = id_names + ood_names
    data = np.array([[{**m["id_sets"], **m["ood_sets"]}.get(n, np.nan) for n in names] for m in models], dtype=float)
    fig, ax = _figure(max(6.0, 0.95 * len(names) + 2), 0.5 * max(len(models), 1) + 2.2)
    if data.size:
        low = max(0.0, float(np.nanmin(data)) - 0.05)
        im = ax.imshow(data, cmap="RdYlGn", vmin=low, vmax=1.0, aspect="auto")
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                ax.text(j, i, f"{data[i, j]:.3f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8, label="accuracy")
        if id_names and ood_names:
            ax.axvline(len(id_names) - 0.5, color="black", lw=2)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(models)), [m["name"] for m in models], fontsize=9)
    ax.set_title("Accuracy per set (ID: routed right; OOD: rejected)", fontsize=10)
    return fig


def plot_confusion(results: dict[str, Any]) -> Any:
    """Row-normalised confusion matrix of the best router, annotated with counts."""
    m = best_model(results)
    table = (m or {}).get("confusion") or {}
    names = list(table)
    counts = np.array([[table[t].get(p, 0) for p in names] for t in names], dtype=float)
    fig, ax = _figure(5.6, 4.8)
    if counts.size:
        norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=9,
                        color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix: {(m or {}).get('name', '-')}", fontsize=10)
    return fig


def plot_reliability(results: dict[str, Any]) -> Any:
    """Calibrated decision confidence against accuracy, per router, with row counts per bin."""
    fig, (ax, axn) = _figure(10, 4.4, ncols=2)
    ax.plot([0, 1], [0, 1], color=QUOTED_COLOR, ls=":", lw=1)
    for m in measured(results, "router"):
        rel = (m.get("analysis") or {}).get("reliability")
        if not rel:
            continue
        bins = [b for b in rel["bins"] if b["rows"]]
        line = ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                       label=f"{m['name']} (ECE {rel['ece']:.3f})")
        axn.plot([(b["low"] + b["high"]) / 2 for b in bins], [b["rows"] for b in bins], marker="o",
                 color=line[0].get_color(), label=m["name"])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("calibrated confidence of the decision")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram (benchmark rows)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    axn.set_yscale("log")
    axn.set_xlim(0, 1)
    axn.set_xlabel("confidence bin")
    axn.set_ylabel("rows")
    axn.set_title("Rows per bin", fontsize=10)
    axn.grid(True, alpha=0.3)
    return fig


def plot_tradeoff(results: dict[str, Any]) -> Any:
    """ID accuracy vs OOD accuracy, and GQR vs threshold, as the MSP threshold moves."""
    fig, (ax, axg) = _figure(10, 4.4, ncols=2)
    for m in measured(results, "router"):
        sweep = (m.get("analysis") or {}).get("tradeoff")
        if not sweep:
            continue
        line = ax.plot(sweep["ood_accuracy"], sweep["id_accuracy"], label=m["name"])
        color = line[0].get_color()
        ax.scatter(m["ood_accuracy"], m["id_accuracy"], color=color, zorder=3)
        axg.plot(sweep["threshold"], sweep["gqr_score"], color=color, label=m["name"])
        thr = (m.get("guard") or {}).get("threshold")
        if thr is not None and (m.get("guard") or {}).get("method", "msp") == "msp":
            axg.scatter(thr, m["gqr_score"], color=color, zorder=3)
    ax.set_xlabel("OOD accuracy (share rejected, mean over sets)")
    ax.set_ylabel("ID accuracy")
    ax.set_title("Rejection vs ID accuracy as the threshold moves", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    axg.set_xlabel("threshold on max calibrated domain probability")
    axg.set_ylabel("GQR score")
    axg.set_title("GQR score vs threshold", fontsize=10)
    axg.grid(True, alpha=0.3)
    return fig


PLOTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "accuracy_latency": plot_accuracy_latency,
    "heatmap": plot_heatmap,
    "confusion": plot_confusion,
    "reliability": plot_reliability,
    "tradeoff": plot_tradeoff,
}


def render_plots(results: dict[str, Any]) -> dict[str, bytes]:
    """Every plot as PNG bytes, by name (needs the ``report`` extra)."""
    if not results.get("models"):
        return {}
    return {name: figure_png(plot(results)) for name, plot in PLOTS.items()}

