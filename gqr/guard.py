"""The guard: calibrated scores -> accept a domain, or reject with a reason.

Output columns of a router are its domains first, then optional background columns
(outlier exposure), each tied to a rejection reason. A query is rejected when a background
column wins, or when its in-domain score falls below the threshold chosen on held-out
in-domain data. Queries are marked uncertain (candidates for the LLM judge) when the
model of the router's own errors (``error_model``, ``gqr.uncertainty``) says so, or, without
one, when their domain probability falls inside ``[uncertain_low, uncertain_high)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from gqr.calibration import logsumexp
from gqr.decision import Decision, Reason, make_decision
from gqr.uncertainty import ErrorModel

__all__ = ["GuardRule", "ood_scores"]

SCORE_METHODS = ("msp", "energy")
_MATRIX_ROWS = 8  # from this many rows up, decide with numpy over the whole matrix


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
    error_model: ErrorModel | None = None
    """Which decisions are uncertain, from their probabilities and outcome (replaces the band
    when set; fitted on held-out sources)."""

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
        if self.error_model is not None and (self.error_model.n_domains != len(self.labels)
                                             or self.error_model.n_outputs != self.n_outputs):
            raise ValueError(f"error_model must have {len(self.labels) + 1} rows of {self.n_outputs} weights")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["background"] = list(self.background)
        d["conformal"] = {f"{c:g}": q for c, q in self.conformal}
        d["logit_bias"] = list(self.logit_bias)
        if self.error_model is None:
            del d["error_model"]
        else:
            d["error_model"] = self.error_model.to_dict()
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
            error_model=ErrorModel.from_dict(d["error_model"]) if d.get("error_model") is not None else None,
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
        reason = self._reasons[2 + column - len(self.labels)]
        if reason is Reason.UNSAFE and row[column] < self.unsafe_min and self._has_ood_column:
            return Reason.OUT_OF_DOMAIN
        return reason

    @property
    def n_outputs(self) -> int:
        return len(self.labels) + len(self.background)

    @cached_property
    def _reasons(self) -> tuple[Reason, ...]:
        """Reason codes of ``_decide_matrix``: 0 in-domain, 1 out-of-domain, 2 + j background ``j``."""
        return (Reason.IN_DOMAIN, Reason.OUT_OF_DOMAIN, *(Reason(b) for b in self.background))

    @cached_property
    def _has_ood_column(self) -> bool:
        return Reason.OUT_OF_DOMAIN.value in self.background

    def decide(self, logits: np.ndarray, probs: np.ndarray, coverage: float | None = None) -> list[Decision]:
        """One ``Decision`` per row of calibrated ``probs`` (and raw ``logits``).

        ``uncertain`` is set by the error model, or without one inside ``[uncertain_low,
        uncertain_high)`` of the top domain probability, or, with ``coverage``, when the conformal prediction set over all
        columns (domains and rejection classes) does not hold exactly one column.
        """
        d = len(self.labels)
        # msp's score is the top domain probability, found below (ood_scores' value)
        scores = None if self.method == "msp" else ood_scores(logits, probs, d, self.method, self.temperature)
        set_sizes = None if coverage is None else (probs >= self.conformal_threshold(coverage)).sum(axis=1)
        if len(probs) >= _MATRIX_ROWS and np.isfinite(probs).all():  # NaN: max() and argmax() differ
            return self._decide_matrix(probs, scores, set_sizes)
        scores_list = None if scores is None else scores.tolist()
        sizes_list = None if set_sizes is None else set_sizes.tolist()
        return [
            self.decide_row(row, None if scores_list is None else scores_list[i], None if sizes_list is None else sizes_list[i])
            for i, row in enumerate(probs.tolist())
        ]

    def decide_row(self, row: list[float], score: float | None = None, set_size: int | None = None) -> Decision:
        """``decide`` for one row of probabilities as Python floats (a query costs ~1 µs a
        numpy call, so one row is decided without any); ``score`` is the row's OOD score when
        the method is not msp, ``set_size`` its conformal set size when a coverage is set."""
        d = len(self.labels)
        domains = row[:d]
        p_domain = max(domains)
        top_domain = domains.index(p_domain)  # the first maximum, as numpy's argmax
        p_top = max(row)
        top = row.index(p_top)
        domain_scores = dict(zip(self.labels, domains))
        if score is None:
            score = p_domain
        rejected = top >= d or score < self.threshold  # a rejection column won, or too little in-domain mass
        if set_size is not None:
            uncertain = set_size != 1
        elif self.error_model is not None:
            uncertain = self.error_model.flag(row, d if rejected else top_domain)
        else:
            uncertain = self.uncertain_low <= p_domain < self.uncertain_high
        if rejected:
            if self.background:
                background = row[d:]
                reason = self._rejection_reason(row, d + background.index(max(background)))
            else:
                reason = Reason.OUT_OF_DOMAIN
            confidence = p_top if top >= d else 1.0 - p_domain
            return make_decision(None, reason, confidence, domain_scores, uncertain)
        return make_decision(self.labels[top_domain], Reason.IN_DOMAIN, p_domain, domain_scores, uncertain)

    def _decide_matrix(self, probs: np.ndarray, scores: np.ndarray | None, set_sizes: np.ndarray | None) -> list[Decision]:
        """``decide_row`` over every row at once (finite ``probs``): the same values, from
        float64 copies of the float32 probabilities, as Python floats would hold them."""
        n, d = len(probs), len(self.labels)
        p = probs.astype(np.float64)
        rows = np.arange(n)
        top_domain = p[:, :d].argmax(axis=1)
        p_domain = p[rows, top_domain]
        top = p.argmax(axis=1)
        won = top >= d  # a rejection column won
        rejected = won | ((p_domain if scores is None else scores) < self.threshold)
        if set_sizes is not None:
            uncertain = set_sizes != 1
        elif self.error_model is not None:
            uncertain = self.error_model.flags(p, np.where(rejected, d, top_domain))
        else:
            uncertain = (self.uncertain_low <= p_domain) & (p_domain < self.uncertain_high)
        reason = rejected.astype(np.int64)  # 0 in-domain, 1 out-of-domain
        if self.background:
            column = p[:, d:].argmax(axis=1)
            reason[rejected] = 2 + column[rejected]
            if self._has_ood_column:
                floor = rejected & (p[rows, d + column] < self.unsafe_min)
                for j, name in enumerate(self.background):
                    if name == Reason.UNSAFE.value:
                        reason[floor & (column == j)] = 1
        confidence = np.where(won, p[rows, top], np.where(rejected, 1.0 - p_domain, p_domain))
        route_of = (*self.labels, None)
        reasons = self._reasons
        labels = self.labels
        return [
            make_decision(route_of[r], reasons[q], c, dict(zip(labels, ds)), u)
            for r, q, c, ds, u in zip(
                np.where(rejected, d, top_domain).tolist(),
                reason.tolist(),
                confidence.tolist(),
                probs[:, :d].tolist(),
                uncertain.tolist(),
            )
        ]
