"""Numbers a report derives from the per-row outcomes of a benchmark run (numpy only)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from gqr.metrics import SetRows, primary_id_set, reliability, threshold_sweep, zone_summary
from gqr.report._bootstrap import bootstrap_scores
from gqr.report._judge_sim import simulate_judge
from gqr.report.paper import PAPER_JUDGE, PAPER_JUDGE_ACCURACY

__all__ = ["analyze", "model_rows", "primary_id"]

N_RESAMPLES = 1000
JUDGE_BUDGET = 0.05


def model_rows(model: dict[str, Any]) -> dict[str, SetRows]:
    """The per-row outcomes of one model of a results dict, by set name."""
    return {name: SetRows.from_dict(d) for name, d in (model.get("rows") or {}).items()}


def primary_id(results: dict[str, Any], model: dict[str, Any]) -> str:
    """The ID set that enters the GQR score."""
    name = results.get("settings", {}).get("primary_id")
    id_sets = list(model.get("id_sets", {}))
    if name in id_sets:
        return str(name)
    return primary_id_set(id_sets)


def _analyze_model(results: dict[str, Any], model: dict[str, Any], seed: int) -> dict[str, Any]:
    rows = model_rows(model)
    if not rows:  # per-row outcomes stripped: keep what was computed before
        return dict(model.get("analysis") or {})
    primary = primary_id(results, model)
    ood_names = [n for n in model.get("ood_sets", {}) if n in rows]
    ood = {n: rows[n] for n in ood_names}
    bench = SetRows.concat([rows[primary], *ood.values()])
    others = {f"{n}_accuracy": rows[n].correct for n in model.get("id_sets", {}) if n != primary and n in rows}
    val = model.get("validation") or {}
    rel = reliability(bench.confidence, bench.correct)
    out: dict[str, Any] = {
        "ci": bootstrap_scores(rows[primary].correct, {n: r.correct for n, r in ood.items()},
                               unsafe_sets=tuple(model.get("unsafe_sets", ())), extra_id=others,
                               n_resamples=N_RESAMPLES, seed=seed),
        "zones": zone_summary(bench),
        "escalated_share": float(bench.uncertain.mean()) if len(bench) else 0.0,
        "reliability": rel,
        "calibration": {"ece_before": val.get("ece_before"), "ece_after": val.get("ece_after"),
                        "temperature": val.get("temperature"), "ece_bench": rel["ece"]},
        "tradeoff": threshold_sweep(rows[primary], ood, np.linspace(0.0, 1.0, 51)),
        "operating_point": {"threshold": (model.get("guard") or {}).get("threshold"),
                            "method": (model.get("guard") or {}).get("method")},
    }
    if model.get("kind", "router") == "router":
        guard = model.get("guard") or {}
        center = float(guard.get("threshold", 0.5)) if guard.get("method", "msp") == "msp" else 0.5
        out["judge_simulation"] = simulate_judge(rows[primary], ood, accuracy=PAPER_JUDGE_ACCURACY,
                                                 budget=JUDGE_BUDGET, threshold=center, seed=seed)
    else:
        out["judged_share"] = float(bench.judged.mean()) if len(bench) else 0.0
    return out


def analyze(results: dict[str, Any], *, seed: int | None = None) -> dict[str, Any]:
    """A copy of ``results`` with an ``analysis`` entry per model: bootstrap intervals, zone
    accuracies, reliability bins, threshold sweep and the simulated-judge lift."""
    out = copy.copy(results)
    seed = int(results.get("settings", {}).get("seed", 0)) if seed is None else seed
    out["models"] = [dict(m, analysis=_analyze_model(results, m, seed)) for m in results.get("models", [])]
    out["analysis_settings"] = {
        "bootstrap": {"resamples": N_RESAMPLES, "level": 0.95, "seed": seed,
                      "method": "percentile; rows resampled with replacement within each set"},
        "judge_simulation": {"judge": PAPER_JUDGE, "accuracy": PAPER_JUDGE_ACCURACY, "budget": JUDGE_BUDGET,
                             "pick": "max calibrated domain probability closest to the OOD threshold (MSP rule; 0.5 otherwise)", "seed": seed},
        "benchmark_rows": "primary ID set + every OOD set",
    }
    return out
