"""GQR-Bench runner: (routers x datasets) -> ``BenchmarkResult``.

Each router is trained once with fixed seeds (or reused from the cache when the data and
settings are unchanged), exported, loaded back through the ONNX serving path, and scored
on the ID sets and the seven OOD test sets. Latency is measured on the serving path.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from gqr import __version__
from gqr.metrics import BenchScores, confusion_matrix, id_accuracy, latency_summary, rejection_accuracy
from gqr.router import Router
from gqr.training import TrainConfig, TrainingSet, train_router

__all__ = ["BenchmarkResult", "EvalSuite", "ModelResult", "run_benchmark"]


@dataclass
class EvalSuite:
    """Evaluation data: ID sets as (texts, domains) and OOD sets as texts (all must be rejected)."""

    id_sets: dict[str, tuple[list[str], list[str]]]
    ood_sets: dict[str, list[str]]
    unsafe_sets: tuple[str, ...]


@dataclass
class ModelResult:
    name: str
    scores: BenchScores
    latency: dict[str, float]
    batch_qps: float
    size_bytes: int
    train_seconds: float
    artifact: str
    validation: dict[str, Any]
    confusion: dict[str, dict[str, int]]
    reasons: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.scores.to_dict(),
            "latency": self.latency,
            "batch_qps": self.batch_qps,
            "size_bytes": self.size_bytes,
            "train_seconds": self.train_seconds,
            "artifact": self.artifact,
            "validation": self.validation,
            "confusion": self.confusion,
            "reasons": self.reasons,
        }


@dataclass
class BenchmarkResult:
    models: list[ModelResult]
    settings: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gqr_version": __version__,
            "settings": self.settings,
            "data": self.data,
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor()},
            "models": [m.to_dict() for m in self.models],
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=float) + "\n")


def _fingerprint(train: TrainingSet, config: TrainConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": __version__, "model": config.model, "params": config.params, "seed": config.seed,
                         "frr": config.target_frr, "val": config.val_fraction, "method": config.method},
                        sort_keys=True, default=str).encode())
    for name in sorted(train.domains):
        h.update(f"D:{name}:{len(train.domains[name])}".encode())
        for t in train.domains[name]:
            h.update(t.encode("utf-8", "replace"))
    for name in sorted(train.background):
        h.update(f"B:{name}:{len(train.background[name])}".encode())
        for t in train.background[name]:
            h.update(t.encode("utf-8", "replace"))
    return h.hexdigest()[:16]


def _train_or_reuse(
    train: TrainingSet, val: TrainingSet | None, config: TrainConfig, cache: Path, say: Callable[[str], None]
) -> tuple[Path, float, dict[str, Any]]:
    key = _fingerprint(train, config) + (_fingerprint(val, config)[:8] if val is not None else "")
    target = cache / f"{config.model}-{key}"
    if (target / "manifest.json").exists():
        try:
            router = Router.load(target)
            info = router.info.get("training", {})
            say(f"{config.model}: reusing cached model {target}")
            return target, float(info.get("train_seconds", 0.0)), info.get("validation", {})
        except Exception as exc:  # a broken cache entry is rebuilt, never trusted
            say(f"{config.model}: cache entry unusable ({exc}); retraining")
    trained = train_router(train, config, progress=lambda m: say(f"{config.model}: {m}"), validation=val)
    trained.export(target)
    return target, trained.train_seconds, trained.metrics


def _latency(router: Router, queries: Sequence[str], repeats: int) -> tuple[dict[str, float], float]:
    for q in queries[:50]:
        router.route(q)  # warm-up
    times = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            router.route(q)
            times.append(time.perf_counter() - t0)
    batch = list(queries)[:1000]
    t0 = time.perf_counter()
    router.route_batch(batch)
    qps = len(batch) / (time.perf_counter() - t0)
    return latency_summary(times), qps


def evaluate(router: Router, suite: EvalSuite) -> tuple[BenchScores, dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Accuracy of ``router`` on every set, plus the confusion matrix and rejection reasons."""
    id_scores: dict[str, float] = {}
    preds: list[str | None] = []
    truth: list[str | None] = []
    reasons: dict[str, dict[str, int]] = {}
    for name, (texts, labels) in suite.id_sets.items():
        decisions = router.route_batch(texts)
        routes = [d.route for d in decisions]
        id_scores[name] = id_accuracy(routes, labels)
        preds += routes
        truth += labels
    ood_scores: dict[str, float] = {}
    for name, texts in suite.ood_sets.items():
        decisions = router.route_batch(texts)
        routes = [d.route for d in decisions]
        ood_scores[name] = rejection_accuracy(routes)
        preds += routes
        truth += [None] * len(routes)
        counts: dict[str, int] = {}
        for d in decisions:
            key = d.reason.value
            counts[key] = counts.get(key, 0) + 1
        reasons[name] = counts
    scores = BenchScores(id_scores, ood_scores, suite.unsafe_sets)
    return scores, confusion_matrix(preds, truth, router.labels), reasons


def run_benchmark(
    models: Sequence[str],
    train: TrainingSet,
    suite: EvalSuite,
    *,
    validation: TrainingSet | None = None,
    cache_dir: str | Path = ".cache/gqr-bench",
    seed: int = 0,
    params: dict[str, dict[str, Any]] | None = None,
    latency_queries: int = 500,
    latency_repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Train (or reuse) each router, then score it on ``suite`` through the ONNX runtime."""
    say = progress or (lambda m: None)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    pool = [t for texts, _ in suite.id_sets.values() for t in texts] + [t for ts in suite.ood_sets.values() for t in ts]
    queries = random.Random(seed).sample(pool, min(latency_queries, len(pool)))
    results: list[ModelResult] = []
    for name in models:
        config = TrainConfig(model=name, seed=seed, params=(params or {}).get(name, {}))
        path, train_seconds, val_metrics = _train_or_reuse(train, validation, config, cache, say)
        router = Router.load(path)
        say(f"{name}: evaluating")
        scores, confusion, reasons = evaluate(router, suite)
        say(f"{name}: timing")
        latency, qps = _latency(router, queries, latency_repeats)
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        results.append(ModelResult(name, scores, latency, qps, size, train_seconds, str(path), val_metrics, confusion, reasons))
    settings = {"models": list(models), "seed": seed, "latency_queries": len(queries), "latency_repeats": latency_repeats,
                "threads": 1, "params": params or {}}
    return BenchmarkResult(results, settings)


def leaderboard(result: BenchmarkResult) -> str:
    """The leaderboard as a plain-text table (columns as in the GQR paper)."""
    if not result.models:
        return "(no models)"
    ood_names = list(result.models[0].scores.ood_sets)
    id_names = list(result.models[0].scores.id_sets)
    head = ["model", *ood_names, "unsafe_avg", "ood_acc", *id_names, "gqr", "p50_us", "p99_us", "qps", "MB"]
    rows = [head]
    for m in result.models:
        s = m.scores
        rows.append([
            m.name, *[f"{s.ood_sets[n]:.3f}" for n in ood_names], f"{s.unsafe_average:.3f}", f"{s.ood_accuracy:.3f}",
            *[f"{s.id_sets[n]:.3f}" for n in id_names], f"{s.gqr_score:.3f}",
            f"{m.latency.get('p50_us', float('nan')):.0f}", f"{m.latency.get('p99_us', float('nan')):.0f}",
            f"{m.batch_qps:.0f}", f"{m.size_bytes / 1e6:.1f}",
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))) for r in rows)




def benchmark_inputs(benchmark: Any, seed: int = 0) -> tuple[TrainingSet, TrainingSet, EvalSuite, dict[str, Any]]:
    """Leak-free training, validation and evaluation data from a ``gqr.datasets.Benchmark``.

    Every evaluation text (exact ID sample, OOD test sets) is removed from the training pools;
    ``id_heldout`` is the pools' own test split, reported beside the exact ID sample.
    """
    from gqr.datasets import assert_no_leak, make_splits

    splits = make_splits(benchmark, validation=0.1, test=0.1, seed=seed, exclude=benchmark)
    assert_no_leak(splits, benchmark)
    train = TrainingSet(dict(splits.train.domains), dict(splits.train.background))
    val = TrainingSet(dict(splits.validation.domains), dict(splits.validation.background))
    held_texts = [t for d in benchmark.domains for t in splits.test.domains.get(d, [])]
    held_labels = [d for d in benchmark.domains for _ in splits.test.domains.get(d, [])]
    suite = EvalSuite(
        id_sets={
            "id_exact": (list(benchmark.id_test.texts), list(benchmark.id_test.labels)),
            "id_heldout": (held_texts, held_labels),
        },
        ood_sets={s.name: list(s.texts) for s in benchmark.ood_sets},
        unsafe_sets=tuple(s.name for s in benchmark.ood_sets if s.unsafe),
    )
    return train, val, suite, {"splits": splits.summary(), "benchmark": benchmark.info(top=3)}
