"""Which decisions to doubt: a small model of the router's own errors, fitted on held-out sources.

A band on the top domain probability flags the queries the router is unsure of, but on new
sources most errors are confident ones. ``ErrorModel`` instead estimates, from a decision's
calibrated probabilities, the chance that the decision is wrong: one logistic regression per
outcome (each domain, and "rejected"), because a law answer at 0.8 and a finance answer at 0.8
are not equally safe. It is fitted on validation rows whose sources the model never saw, and
a decision is uncertain when its estimate reaches ``cut``, chosen so that at most a given share
of validation rows is flagged. Serving needs only the stored numbers (no scikit-learn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["ErrorModel", "fit_error_model"]


@dataclass(frozen=True)
class ErrorModel:
    """``P(wrong) = sigmoid(bias[o] + weights[o] . probs)`` for a decision with outcome ``o``
    (a domain's index, or ``n_domains`` for a rejection); uncertain when it reaches ``cut``."""

    weights: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    cut: float

    def __post_init__(self) -> None:
        widths = {len(w) for w in self.weights}
        if not self.weights or len(widths) != 1 or len(self.bias) != len(self.weights):
            raise ValueError("error model: weights must be one equal-length row per outcome, with one bias each")
        numbers = [x for row in self.weights for x in row] + list(self.bias) + [self.cut]
        if not all(math.isfinite(x) for x in numbers) or not 0.0 < self.cut < 1.0:
            raise ValueError("error model: weights and bias must be finite and cut inside (0, 1)")

    @property
    def n_domains(self) -> int:
        return len(self.weights) - 1

    @property
    def n_outputs(self) -> int:
        return len(self.weights[0])

    @cached_property
    def _cut_logit(self) -> float:
        return math.log(self.cut / (1.0 - self.cut))

    def flag(self, probs_row: list[float], outcome: int) -> bool:
        """One decision (its probabilities as Python floats): is it uncertain?"""
        z = self.bias[outcome] + sum(w * p for w, p in zip(self.weights[outcome], probs_row))
        return z >= self._cut_logit

    def _logits(self, probs: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)[outcomes]
        return np.asarray(self.bias, dtype=np.float64)[outcomes] + np.einsum("ij,ij->i", w, np.asarray(probs, np.float64))

    def flags(self, probs: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
        """Which decisions are uncertain ([n] bools); ``outcomes`` as in the class docstring.
        Compared in logit space, as ``flag`` is."""
        return self._logits(probs, outcomes) >= self._cut_logit

    def p_wrong(self, probs: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
        """Estimated chance that each decision is wrong ([n] floats)."""
        return 1.0 / (1.0 + np.exp(-self._logits(probs, outcomes)))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": [list(w) for w in self.weights], "bias": list(self.bias), "cut": self.cut}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ErrorModel:
        return cls(weights=tuple(tuple(float(x) for x in row) for row in d["weights"]),
                   bias=tuple(float(b) for b in d["bias"]), cut=float(d["cut"]))


def fit_error_model(probs: np.ndarray, outcomes: np.ndarray, wrong: np.ndarray, n_domains: int,
                    max_share: float, C: float = 1.0) -> tuple[ErrorModel | None, dict[str, float]]:
    """Fit on validation rows: calibrated ``probs`` [n, outputs], each decision's outcome (a
    domain's index, or ``n_domains`` for a rejection) and whether it was ``wrong``; the cut
    flags at most ``max_share`` of the rows. Returns the model (None when there is nothing to
    learn: no error, or no right answer) and the shares of errors and of rows it flags here."""
    from sklearn.linear_model import LogisticRegression

    probs = np.asarray(probs, dtype=np.float64)
    outcomes = np.asarray(outcomes, dtype=np.int64)
    wrong = np.asarray(wrong, dtype=bool)
    if not 0 < max_share < 1 or wrong.all() or not wrong.any():
        return None, {}
    n_outcomes = n_domains + 1
    # one block [1, probs] per outcome, zero outside a row's own outcome: a logistic
    # regression per outcome, fitted jointly so that they share one regularisation
    block = np.hstack([np.ones((len(probs), 1)), probs])
    X = np.zeros((len(probs), n_outcomes * block.shape[1]))
    for k in range(n_outcomes):
        rows = outcomes == k
        X[rows, k * block.shape[1]:(k + 1) * block.shape[1]] = block[rows]
    fit = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(X, wrong)
    coef = fit.coef_[0].reshape(n_outcomes, block.shape[1])
    rate = float(wrong.mean())
    for k in range(n_outcomes):
        if not (outcomes == k).any():  # never seen on validation: the overall error rate, not 0.5
            coef[k] = 0.0
            coef[k, 0] = math.log(rate / (1.0 - rate))
    cut = _cut(fit.predict_proba(X)[:, 1], max_share)
    model = ErrorModel(weights=tuple(tuple(float(x) for x in row[1:]) for row in coef),
                       bias=tuple(float(row[0]) for row in coef), cut=cut)
    flagged = model.flags(probs, outcomes)
    return model, {"errors_flagged": float(flagged[wrong].mean()), "flagged": float(flagged.mean())}


def _cut(p_wrong: np.ndarray, max_share: float) -> float:
    """The lowest cut that flags (``p >= cut``) at most ``max_share`` of the rows, ties included."""
    values, counts = np.unique(p_wrong, return_counts=True)
    flagged = np.cumsum(counts[::-1])[::-1]  # rows at or above each value
    allowed = values[flagged <= max_share * len(p_wrong)]
    cut = float(allowed[0]) if len(allowed) else float(values[-1]) + 1e-9
    return min(max(cut, 1e-9), 1.0 - 1e-9)
