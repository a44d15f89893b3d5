"""The guard: calibrated scores -> accept a domain, or reject with a reason.

Output columns of a router are its domains first, then optional background columns
(outlier exposure), each tied to a rejection reason. A query is rejected when a background
column wins, or when its in-domain score falls below the threshold chosen on held-out
in-domain data. Queries whose domain probability falls inside ``[uncertain_low,
uncertain_high)`` are marked uncertain (candidates for the LLM judge).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gqr.calibration import logsumexp
from gqr.decision import Decision, Reason

__all__ = ["GuardRule", "ood_scores"]

SCORE_METHODS = ("msp", "energy")


def ood_scores(logits: np.ndarray, probs: np.ndarray, n_domains: int, method: str, temperature: float) -> np.ndarray:
    """In-domain score per row (higher = more in-domain).

    ``msp``: the largest calibrated domain probability (background columns take mass away).
    ``energy``: ``T * logsumexp(domain logits / T) - T * logsumexp(background logits / T)`` when
    there are background columns, else the plain negative free energy of the domain logits.
    """
    if method == "msp":
        return np.asarray(probs[:, :n_domains].max(axis=1), dtype=np.float64)
    if method == "energy":
        z = logits.astype(np.float64) / temperature
        score = temperature * logsumexp(z[:, :n_domains])
        if logits.shape[1] > n_domains:
            score = score - temperature * logsumexp(z[:, n_domains:])
        return score
    raise ValueError(f"unknown OOD score method {method!r}; use one of {SCORE_METHODS}")


@dataclass(frozen=True)
class GuardRule:
    """Everything the guard needs; stored in the manifest as ``guard``."""

    labels: tuple[str, ...]
    background: tuple[str, ...] = ()
    method: str = "msp"
    threshold: float = 0.0
    temperature: float = 1.0
    uncertain_low: float = 0.0
    uncertain_high: float = 0.0
    conformal: tuple[tuple[float, float], ...] = ()
    logit_bias: tuple[float, ...] = ()
    """Added to the backend's raw scores, one per column, inside the graph (its ``logits``
    output already holds it): chosen on held-out sources to balance acceptance and rejection."""
    unsafe_min: float = 0.0
    """A rejection says ``unsafe`` only when the unsafe column's probability reaches this;
    below it the reason is ``out_of_domain`` (still rejected). Chosen on held-out sources so
    that benign sources are rarely called unsafe."""

    def __post_init__(self) -> None:
        if self.method not in SCORE_METHODS:
            raise ValueError(f"unknown OOD score method {self.method!r}; use one of {SCORE_METHODS}")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be a non-empty list of unique domain names")
        for reason in self.background:
            Reason(reason)  # raises ValueError for an unknown reason
        if not self.temperature > 0:
            raise ValueError("temperature must be positive")
        if self.logit_bias and (len(self.logit_bias) != self.n_outputs
                                or not all(math.isfinite(b) for b in self.logit_bias)):
            raise ValueError(f"logit_bias must hold {self.n_outputs} finite numbers, one per column")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["background"] = list(self.background)
        d["conformal"] = {f"{c:g}": q for c, q in self.conformal}
        d["logit_bias"] = list(self.logit_bias)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardRule:
        return cls(
            labels=tuple(str(x) for x in d["labels"]),
            background=tuple(str(x) for x in d.get("background", [])),
            method=str(d.get("method", "msp")),
            threshold=float(d.get("threshold", 0.0)),
            temperature=float(d.get("temperature", 1.0)),
            uncertain_low=float(d.get("uncertain_low", 0.0)),
            uncertain_high=float(d.get("uncertain_high", 0.0)),
            conformal=tuple(sorted((float(c), float(q)) for c, q in dict(d.get("conformal", {})).items())),
            logit_bias=tuple(float(b) for b in d.get("logit_bias", [])),
            unsafe_min=float(d.get("unsafe_min", 0.0)),
        )

    def conformal_threshold(self, coverage: float) -> float:
        """Probability a column needs to enter the prediction set at ``coverage``."""
        for level, qhat in self.conformal:
            if level >= coverage - 1e-9:
                return 1.0 - qhat
        levels = ", ".join(f"{c:g}" for c, _ in self.conformal) or "none"
        raise ValueError(f"coverage {coverage:g} is not calibrated in this model (available: {levels})")

    def _rejection_reason(self, row: list[float], column: int) -> Reason:
        """The reason of the strongest rejection column; ``unsafe`` below ``unsafe_min`` says
        ``out_of_domain`` instead (when the model has that column)."""
        reason = Reason(self.background[column - len(self.labels)])
        if (reason is Reason.UNSAFE and row[column] < self.unsafe_min
                and Reason.OUT_OF_DOMAIN.value in self.background):
            return Reason.OUT_OF_DOMAIN
        return reason

    @property
    def n_outputs(self) -> int:
        return len(self.labels) + len(self.background)

    def decide(self, logits: np.ndarray, probs: np.ndarray, coverage: float | None = None) -> list[Decision]:
        """One ``Decision`` per row of calibrated ``probs`` (and raw ``logits``).

        ``uncertain`` is set inside ``[uncertain_low, uncertain_high)`` of the top domain
        probability, or, with ``coverage``, when the conformal prediction set over all
        columns (domains and rejection classes) does not hold exactly one column.
        """
        d = len(self.labels)
        rows = probs.tolist()  # Python floats: per-row work without numpy calls (a query costs ~1 µs each)
        # msp's score is the top domain probability, found in the loop below (ood_scores' value)
        scores = None if self.method == "msp" else ood_scores(logits, probs, d, self.method, self.temperature).tolist()
        if coverage is not None:
            set_sizes = (probs >= self.conformal_threshold(coverage)).sum(axis=1).tolist()
        out: list[Decision] = []
        for i, row in enumerate(rows):
            domains = row[:d]
            p_domain = max(domains)
            top_domain = domains.index(p_domain)  # the first maximum, as numpy's argmax
            p_top = max(row)
            top = row.index(p_top)
            domain_scores = dict(zip(self.labels, domains))
            if coverage is not None:
                uncertain = set_sizes[i] != 1
            else:
                uncertain = self.uncertain_low <= p_domain < self.uncertain_high
            score = p_domain if scores is None else scores[i]
            if top >= d or score < self.threshold:  # a rejection column won, or too little in-domain mass
                if self.background:
                    background = row[d:]
                    reason = self._rejection_reason(row, d + background.index(max(background)))
                else:
                    reason = Reason.OUT_OF_DOMAIN
                confidence = p_top if top >= d else 1.0 - p_domain
                out.append(Decision(None, reason, confidence, domain_scores, uncertain=uncertain))
            else:
                out.append(Decision(self.labels[top_domain], Reason.IN_DOMAIN, p_domain, domain_scores, uncertain=uncertain))
        return out
