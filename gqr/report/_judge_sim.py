"""What an LLM judge on the most uncertain queries would add: a seeded simulation.

No LLM runs here. A simulated judge answers each escalated query correctly with probability
``accuracy`` (the paper's Llama-3.1-8B scores about 0.91). At most ``budget`` of the
benchmark rows are escalated: those whose largest calibrated domain probability lies closest
to the router's threshold, i.e. the centre of the guard's uncertain band, where accepting and
rejecting are closest calls. The GQR score is then recomputed with the judge's answers in
place of the router's.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from gqr.metrics import SetRows, harmonic_mean

__all__ = ["simulate_judge"]


def _gqr(correct: np.ndarray, spans: list[tuple[int, int]]) -> tuple[float, float, float]:
    """(ID accuracy, OOD accuracy, GQR) from one 0/1 (or expected) vector; span 0 is the ID set."""
    accs = [float(correct[a:b].mean()) for a, b in spans]
    id_acc, ood_acc = accs[0], float(np.mean(accs[1:]))
    return id_acc, ood_acc, harmonic_mean(id_acc, ood_acc)


def simulate_judge(
    id_rows: SetRows,
    ood_sets: Mapping[str, SetRows],
    *,
    accuracy: float = 0.91,
    budget: float = 0.05,
    threshold: float = 0.5,
    seed: int = 0,
    repeats: int = 200,
) -> dict[str, Any]:
    """GQR score of the router alone and with a simulated judge on the escalated rows.

    Returns the seeded first run, the mean and 95% range over ``repeats`` seeded runs, the
    expected value (each escalated row counts as ``accuracy`` correct), and the lift in GQR
    points (1 point = 0.01).
    """
    parts = [id_rows, *ood_sets.values()]
    rows = SetRows.concat(parts)
    bounds = np.cumsum([0, *[len(p) for p in parts]])
    spans = [(int(a), int(b)) for a, b in pairwise(bounds)]
    correct = rows.correct.astype(np.float64)
    k = int(np.floor(budget * len(rows)))
    order = np.argsort(np.abs(rows.p_domain - threshold), kind="stable")
    picked = order[:k]
    base = _gqr(correct, spans)

    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(repeats):
        trial = correct.copy()
        trial[picked] = rng.random(k) < accuracy
        runs.append(_gqr(trial, spans)[2])
    expected = correct.copy()
    expected[picked] = accuracy
    exp_id, exp_ood, exp_gqr = _gqr(expected, spans)
    mean = float(np.mean(runs)) if runs else base[2]
    low, high = (np.percentile(runs, [2.5, 97.5]) if runs else (base[2], base[2]))
    lift = (mean - base[2]) * 100
    return {
        "judge_accuracy": accuracy,
        "budget": budget,
        "threshold": threshold,
        "seed": seed,
        "repeats": repeats,
        "rows": len(rows),
        "escalated": k,
        "escalated_share": k / len(rows) if len(rows) else 0.0,
        "escalated_router_accuracy": float(correct[picked].mean()) if k else float("nan"),
        "escalated_in_uncertain_zone": float(rows.uncertain[picked].mean()) if k else float("nan"),
        "escalated_id_rows": int((rows.truth[picked] >= 0).sum()),
        "router": {"id_accuracy": base[0], "ood_accuracy": base[1], "gqr_score": base[2]},
        "with_judge": {"id_accuracy": exp_id, "ood_accuracy": exp_ood, "gqr_score": exp_gqr,
                       "gqr_seeded_run": runs[0] if runs else base[2], "gqr_mean": mean,
                       "gqr_low": float(low), "gqr_high": float(high)},
        "lift_points": lift,
        "lift_points_low": (float(low) - base[2]) * 100,
        "lift_at_least_1_point": bool(lift >= 1.0),
    }
