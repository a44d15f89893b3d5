"""Scores -> calibrated probabilities, calibration error, and threshold selection."""

from __future__ import annotations

import numpy as np

__all__ = ["conformal_quantiles", "expected_calibration_error", "fit_temperature", "softmax", "threshold_for_frr"]

COVERAGE_LEVELS = (0.8, 0.85, 0.9, 0.95, 0.975, 0.99)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def logsumexp(z: np.ndarray) -> np.ndarray:
    """``log(sum(exp(z)))`` over each row, in float64, without overflow."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1)
    return np.asarray(m + np.log(np.exp(z - m[:, None]).sum(axis=1)))


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``log(softmax(logits / temperature))`` in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    return np.asarray(z - logsumexp(z)[:, None])


def _nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    return float(-np.mean(log_softmax(logits, t)[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 1e-2, hi: float = 1e2) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` (golden-section search
    over log T, deterministic)."""
    if len(y) == 0:
        return 1.0
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(logits, y, np.exp(c)), _nll(logits, y, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(logits, y, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(logits, y, np.exp(d))
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins."""
    if len(y) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def threshold_for_frr(in_domain_scores: np.ndarray, target_frr: float) -> float:
    """The largest threshold that rejects at most ``target_frr`` of in-domain scores
    (reject when score < threshold)."""
    if in_domain_scores.size == 0:
        return 0.0
    s = np.sort(in_domain_scores.astype(np.float64))
    k = int(np.floor(target_frr * s.size))  # number of rows allowed below the threshold
    return float(s[k]) if k < s.size else float(s[-1])


def conformal_quantiles(probs: np.ndarray, y: np.ndarray, levels: tuple[float, ...] = COVERAGE_LEVELS) -> tuple[tuple[float, float], ...]:
    """Split-conformal thresholds: for each coverage level, the finite-sample-corrected
    quantile of the non-conformity ``1 - p(true column)`` on held-out rows. A column with
    ``p >= 1 - q`` enters the prediction set; the set covers the truth with that probability."""
    if len(y) == 0:
        return ()
    scores = np.sort(1.0 - probs[np.arange(len(y)), y].astype(np.float64))
    n = len(scores)
    out = []
    for level in levels:
        k = min(n - 1, int(np.ceil((n + 1) * level)) - 1)
        out.append((float(level), float(scores[k])))
    return tuple(out)
