"""Train a router: texts per domain (+ optional outlier pools) -> backend, calibration, guard."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gqr.calibration import conformal_quantiles, expected_calibration_error, fit_temperature, softmax, threshold_for_frr
from gqr.classifiers import make_backend
from gqr.classifiers.base import FitData
from gqr.decision import Reason
from gqr.errors import DataFormatError, InvalidInputError
from gqr.guard import GuardRule, ood_scores
from gqr.router import Router
from gqr.text import clean, normalize_for_dedup
from gqr.uncertainty import ErrorModel, fit_error_model

__all__ = ["TrainConfig", "TrainedRouter", "TrainingSet", "background_bias", "domain_bias", "train_router",
           "uncertain_band", "unsafe_floor"]

BACKGROUND_ORDER = (Reason.OUT_OF_DOMAIN.value, Reason.OTHER_LANGUAGE.value, Reason.UNSAFE.value)


@dataclass
class TrainingSet:
    """Texts per domain, and optional outlier pools per rejection reason
    (``out_of_domain``, ``other_language``, ``unsafe``) for outlier exposure.

    ``sources`` (optional) names each row's source per class, parallel to its texts: training
    then weighs sources so that no single one dominates its class."""

    domains: dict[str, list[str]]
    background: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def source_of(self, label: str) -> list[str]:
        """Each row's source for ``label`` (``""`` for every row when not given)."""
        rows = self.domains.get(label) or self.background.get(label) or []
        given = self.sources.get(label)
        return list(given) if given is not None and len(given) == len(rows) else [""] * len(rows)


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``target_frr`` is the share of held-out in-domain queries the OOD
    threshold may reject. The uncertain zone is the band of top domain probability that holds
    the most held-out errors while flagging at most ``uncertain_share`` of held-out rows
    (``uncertain_band``); with ``uncertain_share=0`` it is ``threshold ± uncertain_margin``.
    ``uncertain_errors`` replaces that band by a model of the router's errors fitted on the
    held-out rows (``gqr.uncertainty``), flagging the same share: it holds more of the errors.
    ``source_power``: a row's weight within its class goes as ``1 / rows_of_its_source **
    source_power`` (0 = every row alike, 1 = every source alike). ``balance_background``
    shifts every background logit by one amount chosen on the held-out rows to maximise the
    harmonic mean of in-domain accuracy and outlier rejection (``background_bias``), then each
    domain's logit so that no domain is starved (``domain_bias``).
    ``unsafe_fpr``: the most any benign held-out source may be called unsafe (``unsafe_floor``;
    0 turns it off)."""

    model: str = "svm"
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    val_fraction: float = 0.15
    target_frr: float = 0.02
    method: str = "msp"
    uncertain_margin: float = 0.15
    uncertain_share: float = 0.10
    uncertain_errors: bool = True
    max_background_weight: float = 1.0
    source_power: float = 0.5
    balance_background: bool = True
    unsafe_fpr: float = 0.02


def _prepare(
    data: TrainingSet, n_val: dict[str, int] | None = None
) -> tuple[list[str], list[str], np.ndarray, dict[str, int], np.ndarray, list[str]]:
    """Clean and deduplicate; returns columns, texts, labels, stats, a per-row flag that is
    True for rows from the last ``n_val[class]`` entries of each pool (explicit validation),
    and each row's source."""
    domains = list(data.domains)
    if not domains:
        raise DataFormatError("no domains to train on: give at least one domain with examples")
    background = [b for b in BACKGROUND_ORDER if data.background.get(b)]
    unknown = set(data.background) - set(BACKGROUND_ORDER)
    if unknown:
        raise DataFormatError(f"unknown background pool(s) {sorted(unknown)}; use {list(BACKGROUND_ORDER)}")
    if len(domains) < 2 and not background:
        raise DataFormatError("one domain alone needs outlier pools (background) to learn what to reject")
    columns = domains + background
    pools = [data.domains[d] for d in domains] + [data.background[b] for b in background]
    pool_sources = [data.source_of(c) for c in columns]
    texts: list[str] = []
    sources: list[str] = []
    labels: list[int] = []
    is_val: list[bool] = []
    seen: dict[str, int] = {}
    stats = {"invalid": 0, "duplicates": 0, "conflicts": 0}
    for label, pool in enumerate(pools):
        if not pool:
            raise DataFormatError(f"class {columns[label]!r} has no examples")
        first_val = len(pool) - (n_val or {}).get(columns[label], 0)
        for position, raw in enumerate(pool):
            try:
                text = clean(raw)
            except InvalidInputError:
                stats["invalid"] += 1
                continue
            key = normalize_for_dedup(text)
            if key in seen:
                stats["duplicates" if seen[key] == label else "conflicts"] += 1
                continue
            seen[key] = label
            texts.append(text)
            labels.append(label)
            is_val.append(position >= first_val)
            sources.append(pool_sources[label][position])
    return columns, texts, np.asarray(labels, dtype=np.int64), stats, np.asarray(is_val, dtype=bool), sources


def _split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val.append(idx[: max(1, int(round(len(idx) * fraction)))] if len(idx) > 1 else idx[:0])
    val_idx = np.sort(np.concatenate(val))
    mask = np.ones(len(y), dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx


def _weights(y: np.ndarray, n_domains: int, cap: float, sources: Sequence[str] = (), power: float = 0.0
             ) -> np.ndarray:
    """Per-row weights: classes balanced (background classes capped at ``cap`` times the mean
    domain weight), and within a class each row weighs ``1 / rows_of_its_source ** power``
    rescaled so the class keeps its total. Mean 1."""
    counts = np.bincount(y).astype(np.float64)
    w = len(y) / (len(counts) * np.maximum(counts, 1))
    w[n_domains:] = np.minimum(w[n_domains:], cap * w[:n_domains].mean())
    row = w[y]
    if power > 0 and len(sources) == len(y):
        keys = np.asarray([f"{c}\x00{s}" for c, s in zip(y.tolist(), sources)], dtype=object)
        _, inverse, size = np.unique(keys, return_inverse=True, return_counts=True)
        within = size[inverse.ravel()].astype(np.float64) ** -power
        for c in np.unique(y):
            mask = y == c
            within[mask] *= mask.sum() / within[mask].sum()
        row = row * within
    return (row / row.mean()).astype(np.float64)


@dataclass
class TrainedRouter:
    """A fitted backend with its calibration and guard, ready to ``router()`` or ``export()``."""

    backend: Any
    guard: GuardRule
    config: TrainConfig
    metrics: dict[str, Any]
    data_stats: dict[str, Any]
    parity_texts: list[str]
    train_seconds: float

    @property
    def params(self) -> dict[str, Any]:
        return {"model": self.config.model, **{k: _jsonable(v) for k, v in self.config.params.items()}}

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        logits = np.asarray(self.backend.decision_function(texts), dtype=np.float32)
        if self.guard.logit_bias:
            logits = logits + np.asarray(self.guard.logit_bias, dtype=np.float32)
        return logits, softmax(logits, self.guard.temperature)

    def router(self, **options: Any) -> Router:
        """A ``Router`` on the Python (training-side) path (options as in ``Router.load``)."""
        return Router(self, self.guard, **options)

    def export(self, path: str | os.PathLike[str]) -> Path:
        from gqr.export import export_router

        return export_router(self, path)

    def training_info(self) -> dict[str, Any]:
        return {
            "seed": self.config.seed,
            "val_fraction": self.config.val_fraction,
            "target_frr": self.config.target_frr,
            "train_seconds": round(self.train_seconds, 2),
            "data": self.data_stats,
            "validation": self.metrics,
        }


def _jsonable(v: Any) -> Any:
    if hasattr(v, "to_dict"):
        return v.to_dict()
    if isinstance(v, tuple):
        return list(v)
    return v


def train_router(
    data: TrainingSet,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[str], None] | None = None,
    validation: TrainingSet | None = None,
) -> TrainedRouter:
    """Fit a backend, calibrate it on held-out data and choose the OOD threshold.

    ``validation`` (same classes as ``data``) is the held-out data for early stopping,
    calibration and thresholds; without it, ``config.val_fraction`` of ``data`` is held out.
    The threshold is chosen on held-out *in-domain* rows only, so that at most
    ``config.target_frr`` of them are rejected; no out-of-domain test data is used.
    """
    say = progress or (lambda message: None)
    start = time.perf_counter()
    if validation is not None:
        merged = TrainingSet(
            {d: list(data.domains[d]) + list(validation.domains.get(d, [])) for d in data.domains},
            {b: list(data.background[b]) + list(validation.background.get(b, [])) for b in data.background},
            {c: data.source_of(c) + validation.source_of(c) for c in [*data.domains, *data.background]},
        )
        n_val = {d: len(validation.domains.get(d, [])) for d in data.domains}
        n_val.update({b: len(validation.background.get(b, [])) for b in data.background})
        columns, texts, y, stats, origin, sources = _prepare(merged, n_val)
        train_idx, val_idx = np.flatnonzero(~origin), np.flatnonzero(origin)
    else:
        columns, texts, y, stats, origin, sources = _prepare(data)
        train_idx, val_idx = _split(y, config.val_fraction, config.seed)
    n_domains = len(data.domains)
    say(f"{len(train_idx)} training and {len(val_idx)} validation rows over {len(columns)} classes")
    tr_texts = [texts[i] for i in train_idx]
    va_texts = [texts[i] for i in val_idx]
    fit = FitData(
        texts=tr_texts,
        y=y[train_idx],
        n_classes=len(columns),
        val_texts=va_texts,
        val_y=y[val_idx],
        sample_weight=_weights(y[train_idx], n_domains, config.max_background_weight,
                               [sources[i] for i in train_idx], config.source_power),
        seed=config.seed,
    )
    backend = make_backend(config.model, **config.params)
    say(f"fitting {config.model}")
    backend.fit(fit)
    say("calibrating")
    val_logits = np.asarray(backend.decision_function(va_texts), dtype=np.float32)
    val_y = y[val_idx]
    ece_before = expected_calibration_error(softmax(val_logits, 1.0), val_y)
    temperature = fit_temperature(val_logits, val_y)
    bias = np.zeros(len(columns), dtype=np.float32)
    if config.balance_background:
        bias[n_domains:] = background_bias(val_logits, val_y, n_domains)
        bias[:n_domains] = domain_bias(val_logits + bias, val_y, n_domains)
        if bias.any():
            val_logits = val_logits + bias
            temperature = fit_temperature(val_logits, val_y)
    probs = softmax(val_logits, temperature)
    metrics: dict[str, Any] = {
        "ece_before": ece_before,
        "ece_after": expected_calibration_error(probs, val_y),
        "temperature": temperature,
        "background_bias": float(bias[n_domains:].max()) if len(columns) > n_domains else 0.0,
        "domain_bias": {c: float(b) for c, b in zip(columns[:n_domains], bias[:n_domains])},
    }
    background = tuple(columns[n_domains:])
    in_dom = val_y < n_domains
    methods: dict[str, dict[str, float]] = {}

    def scores_for(method: str) -> np.ndarray:
        return ood_scores(val_logits, probs, n_domains, method, temperature)

    for method in ("msp", "energy"):
        scores = scores_for(method)
        threshold = _threshold(scores, probs, in_dom, n_domains, config.target_frr)
        methods[method] = _evaluate_rule(scores, probs, val_y, n_domains, threshold) | {"threshold": threshold}
    metrics["ood_methods"] = methods
    chosen = methods[config.method]
    low = max(0.0, chosen["threshold"] - config.uncertain_margin) if config.method == "msp" else 0.0
    high = min(1.0, chosen["threshold"] + config.uncertain_margin) if config.method == "msp" else 0.0
    error_model: ErrorModel | None = None
    if config.method == "msp" and config.uncertain_share > 0:
        guarded = _guard_predictions(scores_for(config.method), probs, n_domains, chosen["threshold"])
        wrong = guarded != np.where(val_y < n_domains, val_y, -1)
        low, high, capture = uncertain_band(probs[:, :n_domains].max(axis=1), wrong, config.uncertain_share)
        metrics["uncertain_zone"] = capture
        if config.uncertain_errors:
            outcomes = np.where(guarded >= 0, guarded, n_domains)
            error_model, capture = fit_error_model(probs, outcomes, wrong, n_domains, config.uncertain_share)
            if error_model is not None:
                metrics["uncertain_zone"] = capture | {"model": "errors", "band": [low, high]}
    guard = GuardRule(
        labels=tuple(columns[:n_domains]),
        background=background,
        method=config.method,
        threshold=float(chosen["threshold"]),
        temperature=temperature,
        uncertain_low=low,
        uncertain_high=high,
        conformal=conformal_quantiles(probs, val_y),
        logit_bias=tuple(float(b) for b in bias) if bias.any() else (),
        error_model=error_model,
    )
    if config.unsafe_fpr > 0 and Reason.UNSAFE.value in background:
        called = np.asarray([d.reason is Reason.UNSAFE for d in guard.decide(val_logits, probs)])
        p_unsafe = probs[:, n_domains + background.index(Reason.UNSAFE.value)]
        benign = val_y != columns.index(Reason.UNSAFE.value)
        val_sources = [f"{columns[c]}:{sources[i]}" for c, i in zip(val_y.tolist(), val_idx.tolist())]
        floor, worst = unsafe_floor(called, p_unsafe, benign, val_sources, config.unsafe_fpr)
        guard = replace(guard, unsafe_min=floor)
        metrics["unsafe_floor"] = {"unsafe_min": floor, "worst_benign_source_fpr": worst}
    metrics.update({k: v for k, v in chosen.items() if k != "threshold"})
    stats.update({"train_rows": int(len(train_idx)), "val_rows": int(len(val_idx)), "classes": columns,
                  "rows_per_class": {c: int((y == i).sum()) for i, c in enumerate(columns)}})
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(va_texts), size=min(500, len(va_texts)), replace=False)
    parity = [va_texts[i] for i in sorted(pick)]
    return TrainedRouter(backend, guard, config, metrics, stats, parity, time.perf_counter() - start)


def domain_bias(logits: np.ndarray, y: np.ndarray, n_domains: int, sweeps: int = 3) -> np.ndarray:
    """One shift per domain column (-2 to +2, steps of 0.1; coordinate ascent from 0) that
    maximises the harmonic mean of the mean per-domain recall and outlier rejection by argmax
    on held-out rows, so that a domain whose held-out sources are unlike its training ones
    (people's law questions) is not starved. Zeros when there is nothing to balance."""
    shift = np.zeros(n_domains, dtype=np.float64)
    present = [c for c in range(n_domains) if (y == c).any()]
    if len(present) < 2:
        return shift.astype(np.float32)
    z = logits.astype(np.float64)
    outliers = y >= n_domains

    def score(s: np.ndarray) -> float:
        pred = (z + np.r_[s, np.zeros(z.shape[1] - n_domains)]).argmax(axis=1)
        recall = float(np.mean([(pred[y == c] == c).mean() for c in present]))
        if not outliers.any():
            return recall
        rejected = float((pred[outliers] >= n_domains).mean())
        return 2 * recall * rejected / (recall + rejected) if recall + rejected else 0.0

    best = score(shift)
    grid = sorted(np.round(np.arange(-2.0, 2.0001, 0.1), 1), key=abs)
    for _ in range(sweeps):
        for c in present:
            for value in grid:
                trial = shift.copy()
                trial[c] = value
                got = score(trial)
                if got > best + 1e-9:
                    best, shift = got, trial
    return shift.astype(np.float32)


def unsafe_floor(called: np.ndarray, p_unsafe: np.ndarray, benign: np.ndarray, sources: Sequence[str],
                 target: float, min_rows: int = 50) -> tuple[float, float]:
    """The smallest unsafe probability (0.01 grid) a rejection needs to say ``unsafe`` so that no
    benign held-out source of ``min_rows`` or more is called unsafe more than ``target`` of the
    time; with that worst share. Without such a floor, the one that minimises the worst share."""
    called, p_unsafe, benign = (np.asarray(a) for a in (called, p_unsafe, benign))
    keys = np.asarray(sources, dtype=object)
    groups = [m for m in (keys == k for k in np.unique(keys[benign])) if m.sum() >= min_rows]
    best = (float("inf"), 0.0)
    for floor in np.round(np.arange(0.0, 1.0, 0.01), 2):
        flagged = called & (p_unsafe >= floor)
        worst = max((float(flagged[g].mean()) for g in groups), default=0.0)
        if worst <= target:
            return float(floor), worst
        if worst < best[0] - 1e-12:
            best = (worst, float(floor))
    return best[1], best[0]


def background_bias(logits: np.ndarray, y: np.ndarray, n_domains: int) -> float:
    """The shift of every background logit (from -4 to +1 in steps of 0.1) that maximises the
    harmonic mean of in-domain accuracy and outlier rejection by argmax on held-out rows;
    ties go to the smallest shift. 0 without background columns or held-out outliers."""
    in_dom = y < n_domains
    if logits.shape[1] <= n_domains or in_dom.all() or not in_dom.any():
        return 0.0
    best, best_score = 0.0, -1.0
    for shift in sorted(np.round(np.arange(-4.0, 1.0001, 0.1), 1), key=abs):
        z = logits.astype(np.float64)
        z[:, n_domains:] += shift
        pred = z.argmax(axis=1)
        id_acc = float((pred[in_dom] == y[in_dom]).mean())
        rejected = float((pred[~in_dom] >= n_domains).mean())
        score = 2 * id_acc * rejected / (id_acc + rejected) if id_acc + rejected else 0.0
        if score > best_score + 1e-12:
            best, best_score = float(shift), score
    return best


def _threshold(scores: np.ndarray, probs: np.ndarray, in_dom: np.ndarray, n_domains: int, target: float) -> float:
    """Threshold so that (argmax-background + below-threshold) rejections of in-domain
    validation rows stay within ``target``."""
    n = int(in_dom.sum())
    if n == 0:
        return float(scores.min()) if scores.size else 0.0
    accepted = in_dom & (probs.argmax(axis=1) < n_domains)
    budget = target - (n - int(accepted.sum())) / n
    if budget <= 0:
        return float(scores[accepted].min()) if accepted.any() else 0.0
    return threshold_for_frr(scores[accepted], budget * n / max(int(accepted.sum()), 1))


def uncertain_band(p_domain: np.ndarray, wrong: np.ndarray, max_share: float) -> tuple[float, float, dict[str, float]]:
    """The band ``[low, high)`` of top domain probability that holds the most wrong held-out
    decisions while holding at most ``max_share`` of all held-out rows (bounds on a 0.01
    grid); with the share of errors it flags and of rows it flags."""
    p = np.asarray(p_domain, dtype=np.float64)
    wrong = np.asarray(wrong, dtype=bool)
    grid = np.round(np.arange(0.0, 1.0001, 0.01), 2)
    rows = np.searchsorted(np.sort(p), grid, side="left")  # rows below each bound
    errs = np.searchsorted(np.sort(p[wrong]), grid, side="left")
    best = (0, 0.0, 0.0)
    limit = max_share * len(p)
    for i in range(len(grid)):
        for j in range(i + 1, len(grid)):
            if rows[j] - rows[i] > limit:
                break
            if errs[j] - errs[i] > best[0]:
                best = (int(errs[j] - errs[i]), float(grid[i]), float(grid[j]))
    caught, low, high = best
    flagged = float(((p >= low) & (p < high)).mean()) if len(p) else 0.0
    return low, high, {"errors_flagged": caught / max(int(wrong.sum()), 1), "flagged": flagged,
                       "low": low, "high": high}


def _guard_predictions(scores: np.ndarray, probs: np.ndarray, n_domains: int, threshold: float) -> np.ndarray:
    """The guard's call per row: a domain index, or -1 for a rejection."""
    accept = (probs.argmax(axis=1) < n_domains) & (scores >= threshold)
    return np.where(accept, probs[:, :n_domains].argmax(axis=1), -1)


def _evaluate_rule(scores: np.ndarray, probs: np.ndarray, y: np.ndarray, n_domains: int, threshold: float) -> dict[str, float]:
    pred = _guard_predictions(scores, probs, n_domains, threshold)
    in_dom = y < n_domains
    out: dict[str, float] = {
        "id_accuracy": float((pred[in_dom] == y[in_dom]).mean()) if in_dom.any() else float("nan"),
        "id_rejection_rate": float((pred[in_dom] == -1).mean()) if in_dom.any() else float("nan"),
    }
    if (~in_dom).any():
        out["outlier_rejection"] = float((pred[~in_dom] == -1).mean())
    return out
