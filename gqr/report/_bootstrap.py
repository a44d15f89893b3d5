"""Seeded bootstrap confidence intervals for ID accuracy, OOD accuracy and the GQR score."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gqr.metrics import harmonic_mean

__all__ = ["bootstrap_scores"]


def _resampled_means(correct: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Accuracy of ``n_resamples`` resamples (rows drawn with replacement) of a 0/1 vector.

    For 0/1 outcomes the number of correct rows in a resample of size n is exactly
    Binomial(n, observed accuracy), so we draw that instead of n indices per resample.
    """
    n = int(correct.size)
    if n == 0:
        return np.full(n_resamples, np.nan)
    return rng.binomial(n, float(correct.mean()), size=n_resamples) / n


def bootstrap_scores(
    id_correct: np.ndarray,
    ood_correct: Mapping[str, np.ndarray],
    *,
    unsafe_sets: tuple[str, ...] = (),
    extra_id: Mapping[str, np.ndarray] | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Percentile intervals, resampling rows within each set independently.

    ``id_correct`` is the primary ID set (it enters the GQR score); each OOD set is resampled
    on its own and the OOD accuracy is the mean over sets, exactly as the benchmark defines it.
    ``extra_id`` adds intervals for other ID sets (e.g. the held-out split).
    Returns ``{metric: {"estimate", "low", "high"}}``.
    """
    rng = np.random.default_rng(seed)
    id_b = _resampled_means(np.asarray(id_correct, dtype=np.float64), n_resamples, rng)
    per_set = {name: _resampled_means(np.asarray(c, dtype=np.float64), n_resamples, rng) for name, c in ood_correct.items()}
    ood_b = np.mean(list(per_set.values()), axis=0) if per_set else np.full(n_resamples, np.nan)
    total = id_b + ood_b
    gqr_b = np.divide(2 * id_b * ood_b, total, out=np.zeros_like(total), where=total > 0)
    samples = {"id_accuracy": id_b, "ood_accuracy": ood_b, "gqr_score": gqr_b}
    unsafe = [per_set[s] for s in unsafe_sets if s in per_set]
    if unsafe:
        samples["unsafe_average"] = np.mean(unsafe, axis=0)
    for name, c in (extra_id or {}).items():
        samples[name] = _resampled_means(np.asarray(c, dtype=np.float64), n_resamples, rng)

    id_hat = float(np.mean(id_correct)) if len(id_correct) else float("nan")
    ood_hat = float(np.mean([np.mean(c) for c in ood_correct.values()])) if ood_correct else float("nan")
    estimates = {
        "id_accuracy": id_hat,
        "ood_accuracy": ood_hat,
        "gqr_score": harmonic_mean(id_hat, ood_hat),
    }
    if unsafe:
        estimates["unsafe_average"] = float(np.mean([np.mean(ood_correct[s]) for s in unsafe_sets if s in ood_correct]))
    for name, c in (extra_id or {}).items():
        estimates[name] = float(np.mean(c)) if len(c) else float("nan")
    tail = (1.0 - level) / 2 * 100
    out: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        low, high = np.nanpercentile(values, [tail, 100 - tail]) if np.isfinite(values).any() else (np.nan, np.nan)
        out[name] = {"estimate": estimates[name], "low": float(low), "high": float(high)}
    return out
