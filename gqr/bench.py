"""GQR-Bench runner: (routers x datasets) -> ``BenchmarkResult``.

Each router is trained once with fixed seeds (or reused from the cache when the data and
settings are unchanged), exported, loaded back through the ONNX serving path, and scored
on the ID sets and the seven OOD test sets. Latency is measured on the serving path.
Every row's outcome is kept (``SetRows``) so that reports can draw reliability diagrams,
threshold sweeps and bootstrap intervals without re-running the routers.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np

from gqr import __version__
from gqr.checks import NOT_UNSAFE, check_router
from gqr.decision import Source
from gqr.errors import InvalidInputError
from gqr.metrics import (
    BenchScores,
    SetRows,
    confusion_matrix,
    id_accuracy,
    latency_summary,
    primary_id_set,
    rejection_accuracy,
)
from gqr.report._write import RESULTS_FORMAT
from gqr.router import Router
from gqr.runtime import OnnxScorer
from gqr.text import clean
from gqr.training import TrainConfig, TrainingSet, train_router

__all__ = [
    "RESULTS_FORMAT",
    "BenchmarkResult",
    "EvalSuite",
    "Evaluation",
    "JudgeRun",
    "ModelResult",
    "benchmark_inputs",
    "checks_table",
    "evaluate",
    "leaderboard",
    "machine_info",
    "package_versions",
    "run_benchmark",
    "stage_latency",
]

RESULTS_VERSION = 1
BATCH_SIZE = 1000  # rows in the one route_batch call that measures throughput
PACKAGES = ("gqr", "numpy", "scipy", "onnxruntime", "onnx", "scikit-learn", "xgboost", "xgboost-cpu",
            "fasttext-wheel", "torch", "httpx", "typer", "matplotlib")


@dataclass
class EvalSuite:
    """Evaluation data: ID sets as (texts, domains) and OOD sets as texts (all must be rejected).

    ``primary_id`` names the ID set that enters the GQR score (``metrics.primary_id_set``).
    """

    id_sets: dict[str, tuple[list[str], list[str]]]
    ood_sets: dict[str, list[str]]
    unsafe_sets: tuple[str, ...]
    checks: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    """Sets outside the score: texts and the expected reason (``gqr.checks``)."""

    @property
    def primary_id(self) -> str:
        return primary_id_set(list(self.id_sets))


@dataclass
class Evaluation:
    """What ``evaluate`` measured: scores, confusion (primary ID + OOD rows), reasons, rows, and
    every set's decisions (for ``gqr.checks``; not written to results.json)."""

    scores: BenchScores
    confusion: dict[str, dict[str, int]]
    reasons: dict[str, dict[str, int]]
    rows: dict[str, SetRows]
    decisions: dict[str, list[Any]] = field(default_factory=dict, repr=False)


@dataclass
class ModelResult:
    """One leaderboard row. ``kind`` is ``router`` or ``router+judge``; ``judge`` holds the
    judge's counters for the latter. ``batch_qps`` is ``None`` where it was not measured."""

    name: str
    scores: BenchScores
    latency: dict[str, float]
    batch_qps: float | None
    size_bytes: int
    train_seconds: float
    artifact: str
    validation: dict[str, Any]
    confusion: dict[str, dict[str, int]]
    reasons: dict[str, dict[str, int]]
    kind: str = "router"
    labels: list[str] = field(default_factory=list)
    guard: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, SetRows] = field(default_factory=dict)
    judge: dict[str, Any] | None = None
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            **self.scores.to_dict(),
            "unsafe_sets": list(self.scores.unsafe_sets),
            "latency": self.latency,
            "batch_qps": self.batch_qps,
            "size_bytes": self.size_bytes,
            "train_seconds": self.train_seconds,
            "artifact": self.artifact,
            "labels": self.labels,
            "guard": self.guard,
            "validation": self.validation,
            "confusion": self.confusion,
            "reasons": self.reasons,
            "judge": self.judge,
            "checks": self.checks,
            "rows": {name: r.to_dict() for name, r in self.rows.items()},
        }


@dataclass
class BenchmarkResult:
    models: list[ModelResult]
    settings: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Every number, the settings, the data manifest, package versions and the machine."""
        return cast("dict[str, Any]", _jsonable({
            "format": RESULTS_FORMAT,
            "format_version": RESULTS_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "gqr_version": __version__,
            "settings": self.settings,
            "data": self.data,
            "machine": machine_info(),
            "packages": package_versions(),
            "models": [m.to_dict() for m in self.models],
        }))

    def write_json(self, path: str | Path) -> None:
        """Write ``to_dict()`` plus the report's analysis (intervals, zones, judge simulation)."""
        from gqr.report import analyze

        Path(path).write_text(json.dumps(analyze(self.to_dict()), indent=1) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gb: float | None = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        memory_gb = None
    return {"os": platform.platform(), "machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": memory_gb, "python": platform.python_version()}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape the numbers (``None``: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _fingerprint(train: TrainingSet, config: TrainConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": __version__, "model": config.model, "params": config.params, "seed": config.seed,
                         "frr": config.target_frr, "val": config.val_fraction, "method": config.method,
                         "source_power": config.source_power, "margin": config.uncertain_margin,
                         "uncertain_share": config.uncertain_share,
                         "uncertain_errors": config.uncertain_errors, "bias": config.balance_background,
                         "unsafe_fpr": config.unsafe_fpr,
                         "sources": {k: hashlib.sha256("\n".join(v).encode()).hexdigest()
                                     for k, v in sorted(train.sources.items())}},
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


def _latency(router: Router, queries: Sequence[str], repeats: int,
             batch: Sequence[str] = ()) -> tuple[dict[str, float], float | None]:
    """Single-query latency over ``queries`` (``repeats`` passes), and the throughput of one
    ``route_batch`` call on ``batch`` (queries per second; None without a batch)."""
    for q in queries[:50]:
        router.route(q)  # warm-up
    times = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            router.route(q)
            times.append(time.perf_counter() - t0)
    if not batch:
        return latency_summary(times), None
    router.route_batch(list(batch[:50]))  # warm-up
    t0 = time.perf_counter()
    router.route_batch(list(batch))
    return latency_summary(times), len(batch) / (time.perf_counter() - t0)


def stage_latency(router: Router, queries: Sequence[str], repeats: int) -> dict[str, float]:
    """p50 of the two stages of one query, timed one after the other as ``route`` runs them
    (``OnnxScorer.score_one``): ``featurize_p50_us`` (numpy, text to graph inputs) and
    ``onnx_p50_us`` (the ONNX Runtime call alone). Empty for a scorer that is not an ONNX session."""
    scorer = router.scorer
    if not isinstance(scorer, OnnxScorer):
        return {}
    texts = []
    for q in queries:
        try:
            texts.append(clean(q, router.max_chars))
        except InvalidInputError:
            continue
    if not texts:
        return {}
    featurize, onnx = [], []
    for _ in range(repeats):
        for text in texts:
            t0 = time.perf_counter()
            feeds = scorer.feeds_one(text)
            t1 = time.perf_counter()
            scorer.run_feeds(feeds)
            featurize.append(t1 - t0)
            onnx.append(time.perf_counter() - t1)
    return {"featurize_p50_us": latency_summary(featurize)["p50_us"], "onnx_p50_us": latency_summary(onnx)["p50_us"]}


def _rows(router: Router, truth: Sequence[str | None], decisions: Sequence[Any], probs: np.ndarray) -> SetRows:
    index = {name: i for i, name in enumerate(router.labels)}
    d = len(router.labels)
    domain = probs[:, :d]
    valid = probs.any(axis=1)
    background = ~valid | (probs.argmax(axis=1) >= d)
    return SetRows(
        truth=np.array([index.get(t, -2) if t is not None else -1 for t in truth], dtype=np.int64),
        pred=np.array([index[x.route] if x.route is not None else -1 for x in decisions], dtype=np.int64),
        confidence=np.array([x.confidence for x in decisions], dtype=np.float64),
        p_domain=domain.max(axis=1),
        top_domain=domain.argmax(axis=1).astype(np.int64),
        background=background,
        uncertain=np.array([x.uncertain for x in decisions], dtype=bool),
        judged=np.array([x.source in (Source.JUDGE, Source.FALLBACK) for x in decisions], dtype=bool),
    )


def evaluate(router: Router, suite: EvalSuite) -> Evaluation:
    """Accuracy of ``router`` on every set, the confusion matrix over the primary ID set and
    the OOD sets, rejection reasons per OOD set, and every row's outcome."""
    id_scores: dict[str, float] = {}
    preds: list[str | None] = []
    truth: list[str | None] = []
    reasons: dict[str, dict[str, int]] = {}
    rows: dict[str, SetRows] = {}
    routed: dict[str, list[Any]] = {}
    for name, (texts, labels) in suite.id_sets.items():
        decisions, probs = router.route_batch_with_probabilities(texts)
        routed[name] = decisions
        routes = [d.route for d in decisions]
        id_scores[name] = id_accuracy(routes, labels)
        rows[name] = _rows(router, labels, decisions, probs)
        if name == suite.primary_id:
            preds += routes
            truth += labels
    ood_scores: dict[str, float] = {}
    for name, texts in suite.ood_sets.items():
        decisions, probs = router.route_batch_with_probabilities(texts)
        routed[name] = decisions
        routes = [d.route for d in decisions]
        ood_scores[name] = rejection_accuracy(routes)
        rows[name] = _rows(router, [None] * len(texts), decisions, probs)
        preds += routes
        truth += [None] * len(routes)
        counts: dict[str, int] = {}
        for d in decisions:
            counts[d.reason.value] = counts.get(d.reason.value, 0) + 1
        reasons[name] = counts
    scores = BenchScores(id_scores, ood_scores, suite.unsafe_sets)
    return Evaluation(scores, confusion_matrix(preds, truth, router.labels), reasons, rows, routed)


@dataclass(frozen=True)
class JudgeRun:
    """How ``run_benchmark`` measures the router + judge cascade (``gqr.judge.cascade``).

    ``config`` is the ``gqr.judge.JudgeConfig`` (give it a ``cache_path`` so that a re-run
    only asks about rows it has not seen). ``band`` replaces the router's uncertain band for
    the cascade; ``"auto"`` chooses it on the validation split first
    (``gqr.judge.cascade.choose_cascade_zone``: the band that maximises the cascade's
    validation GQR with at most ``max_share`` escalated; ``zone_max_calls`` caps its new
    judge calls, 0 for the cache only). ``max_calls`` caps the new judge calls of the
    measurement (None: every escalated row; the rest are scored at the judge's measured
    accuracy on their set and the row says ``estimate``).
    ``heldout_rows`` samples at most that many rows of each held-out set (the pools' test
    split: ``id_heldout`` and the background check sets) for the held-out scope; 0 skips it.
    ``latency_queries`` of the latency sample are timed with the judge in the loop and every
    cache off (0 skips the timing pass).
    """

    config: Any
    band: tuple[float, float] | str | None = None
    max_calls: int | None = None
    max_share: float = 0.10
    zone_max_calls: int | None = None
    heldout_rows: int | None = 1000
    latency_queries: int = 200


def _heldout_scope(suite: EvalSuite, limit: int | None, seed: int) -> dict[str, tuple[list[str], list[str | None]]]:
    """The pools' held-out test split: ``id_heldout`` and each background check set whose
    expected reason is a rejection class, each a seeded sample of at most ``limit`` rows."""
    from gqr.decision import Reason

    rng = random.Random(seed)

    def sample(texts: list[str], truth: list[str | None]) -> tuple[list[str], list[str | None]]:
        if limit is None or len(texts) <= limit:
            return list(texts), list(truth)
        keep = sorted(rng.sample(range(len(texts)), limit))
        return [texts[i] for i in keep], [truth[i] for i in keep]

    out: dict[str, tuple[list[str], list[str | None]]] = {}
    if "id_heldout" in suite.id_sets:
        texts, labels = suite.id_sets["id_heldout"]
        out["id_heldout"] = sample(list(texts), list(labels))
    rejections = {r.value for r in Reason if r is not Reason.IN_DOMAIN}
    for name, (texts, expected) in suite.checks.items():
        if expected in rejections:
            out[name] = sample(list(texts), [None] * len(texts))
    return out


def _judge_result(base: ModelResult, path: Path, suite: EvalSuite, run: Any, queries: Sequence[str],
                  say: Callable[[str], None], seed: int = 0, validation: TrainingSet | None = None) -> ModelResult:
    """The ``router + judge`` row, measured with a real judge over HTTP (``gqr.judge.cascade``):
    GQR-Bench (primary ID set + OOD sets) and the held-out sources of the training pools,
    with and without the judge; the escalated share; the judge's accuracy on the escalated
    rows; errors fixed and right answers broken; latency of escalated and of all decisions."""
    from gqr.judge import JudgeClient, JudgeConfig
    from gqr.judge.cascade import choose_cascade_zone, measure_cascade

    if isinstance(run, JudgeConfig):
        run = JudgeRun(run)
    plain = Router.load(path)
    zone = None
    if run.band == "auto":
        if validation is None:
            raise ValueError("choosing the judge's band (band='auto') needs the validation split")
        with JudgeClient.for_router(run.config, plain) as client:
            say(f"{base.name}+judge: choosing the uncertain band on the validation split")
            zone = choose_cascade_zone(plain, validation, client, max_share=run.max_share, max_calls=run.zone_max_calls,
                                       seed=seed, progress=lambda m: say(f"{base.name}+judge: {m}"))
        say(f"{base.name}+judge: band [{zone['low']:.2f}, {zone['high']:.2f}) on validation: GQR "
            f"{zone['router']['gqr_score']:.3f} -> {zone['gqr_score']:.3f}, {zone['escalated_share']:.1%} escalated")
        run = replace(run, band=(zone["low"], zone["high"]))
    primary = suite.primary_id
    scopes: dict[str, dict[str, tuple[Sequence[str], Sequence[str | None]]]] = {
        "gqr_bench": {primary: suite.id_sets[primary],
                      **{n: (t, [None] * len(t)) for n, t in suite.ood_sets.items()}}}
    if run.heldout_rows != 0:
        held = _heldout_scope(suite, run.heldout_rows, seed)
        if "id_heldout" in held and len(held) > 1:
            scopes["heldout"] = held  # type: ignore[assignment]
    load_before = _load()
    with JudgeClient.for_router(run.config, plain) as client:
        say(f"{base.name}+judge: judging the escalated rows")
        measured = measure_cascade(plain, scopes, [primary, "id_heldout"], client, band=run.band,
                                   max_calls=run.max_calls, seed=seed, progress=lambda m: say(f"{base.name}+judge: {m}"))
        stats = client.stats().to_dict()
        answer_format = client.answer_format
    load_after = _load()
    latency: dict[str, float] = {}
    timing: dict[str, Any] = {}
    if run.latency_queries:
        say(f"{base.name}+judge: timing {min(run.latency_queries, len(queries))} queries with the judge in the loop")
        timing = _judge_latency(plain, replace(run.config, cache_size=0, cache_path=None), measured["band"],
                                list(queries[:run.latency_queries]))
        latency = timing.pop("all")
    bench_scope = measured["scopes"]["gqr_bench"]
    cascade = bench_scope["cascade"]["sets"]
    decided = measured.pop("decisions")["gqr_bench"]
    rows: dict[str, SetRows] = {}
    if all(d is not None for d in decided.values()):  # every escalated row judged: exact per-row outcomes
        for name, (texts, truth) in scopes["gqr_bench"].items():
            _, probs = plain.route_batch_with_probabilities(list(texts))
            rows[name] = _rows(plain, truth, decided[name], probs)  # type: ignore[arg-type]
    # the held-out scope (a sample of the pools' test split) is reported in judge["scopes"] only
    scores = BenchScores({primary: cascade[primary]}, {n: cascade[n] for n in suite.ood_sets}, suite.unsafe_sets)
    cfg = run.config
    info = {"model": cfg.model, "url": cfg.base_url, "stats": stats, "answer_format": answer_format,
            "band": measured["band"], "default_band": [plain.guard.uncertain_low, plain.guard.uncertain_high],
            "budget": {"max_share": cfg.max_share, "max_calls_per_second": cfg.max_calls_per_second},
            "on_failure": cfg.on_failure, "cache_path": cfg.cache_path, "max_calls": run.max_calls,
            "escalated_rows": measured["escalated_rows"], "asked": measured["asked"], "new_calls": measured["new_calls"],
            "call_seconds": measured["call_seconds"], "load": {"before": load_before, "after": load_after},
            "zone": zone,
            "scopes": measured["scopes"], "timing": timing}
    return replace(base, name=f"{base.name}+judge", kind="router+judge", scores=scores, latency=latency,
                   batch_qps=None, confusion={}, reasons={}, rows=rows, checks={}, judge=info)


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages (what ``uptime`` shows), or [] where unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _judge_latency(plain: Router, config: Any, band: Sequence[float] | None, queries: Sequence[str]) -> dict[str, Any]:
    """Time ``route`` one query at a time with the judge in the loop and no cache: p50/p99 of
    all decisions (``all``) and of the escalated ones, with the load average around it. ``band``
    replaces the model's own uncertain zone when given."""
    from gqr.judge import JudgeClient

    guard = plain.guard if band is None else replace(plain.guard, uncertain_low=float(band[0]),
                                                     uncertain_high=float(band[1]), error_model=None)
    banded = Router(plain.scorer, guard, rules=plain.rules, max_chars=plain.max_chars, info=plain.info)
    for q in queries[:50]:
        banded.route(q)  # warm the router; the judge server was warmed by the measurement
    load_before = _load()
    times, escalated = [], []
    with JudgeClient.for_router(config, banded) as client:
        timed = banded.with_options(uncertain="judge", judge=client)
        for q in queries:
            t0 = time.perf_counter()
            d = timed.route(q)
            took = time.perf_counter() - t0
            times.append(took)
            if d.source in (Source.JUDGE, Source.FALLBACK):
                escalated.append(took)
        stats = client.stats().to_dict()
    return {"all": latency_summary(times), "escalated": latency_summary(escalated) if escalated else {},
            "queries": len(times), "escalated_queries": len(escalated), "stats": stats,
            "load": {"before": load_before, "after": _load()}}


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
    judge: Any = None,
    progress: Callable[[str], None] | None = None,
    artifacts: Sequence[str | Path] = (),
) -> BenchmarkResult:
    """Train (or reuse) each router, then score it on ``suite`` through the ONNX runtime.

    ``artifacts`` are exported model directories (e.g. ``models/default``) scored as they
    are, after the trained ``models``; each is named after its directory.
    ``judge`` (a ``JudgeRun``, or a bare ``gqr.judge.JudgeConfig``) adds a ``router+judge``
    row per router whose uncertain queries are escalated to that judge
    (``gqr.judge.cascade.measure_cascade``); its latency includes the judge calls.
    """
    say = progress or (lambda m: None)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    pool = [t for texts, _ in suite.id_sets.values() for t in texts] + [t for ts in suite.ood_sets.values() for t in ts]
    queries = random.Random(seed).sample(pool, min(latency_queries, len(pool)))
    batch = random.Random(seed + 1).sample(pool, min(BATCH_SIZE, len(pool)))
    results: list[ModelResult] = []
    if judge is not None and not isinstance(judge, JudgeRun):
        judge = JudgeRun(judge)
    jobs: list[tuple[str, TrainConfig | None, Path | None]] = [
        (name, TrainConfig(model=name, seed=seed, params=(params or {}).get(name, {})), None) for name in models]
    jobs += [(Path(a).resolve().name, None, Path(a)) for a in artifacts]
    for name, config, given in jobs:
        if config is not None:
            path, train_seconds, val_metrics = _train_or_reuse(train, validation, config, cache, say)
        else:
            path = Path(given)  # type: ignore[arg-type]
            training = Router.load(path).info.get("training", {})
            train_seconds, val_metrics = float(training.get("train_seconds", 0.0)), training.get("validation", {})
            say(f"{name}: scoring the exported model {path}")
        router = Router.load(path)
        say(f"{name}: evaluating")
        ev = evaluate(router, suite)
        say(f"{name}: timing")
        latency, qps = _latency(router, queries, latency_repeats, batch)
        latency.update(stage_latency(router, queries, latency_repeats))
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        say(f"{name}: checks (recall per domain, reasons, unsafe false positives, uncertain zone)")
        checked = check_router(router, suite.id_sets, suite.checks, suite.unsafe_sets, ev.decisions)
        result = ModelResult(name, ev.scores, latency, qps, size, train_seconds, str(path), val_metrics,
                             ev.confusion, ev.reasons, labels=router.labels, guard=router.guard.to_dict(), rows=ev.rows,
                             checks=checked)
        results.append(result)
        if judge is not None:
            results.append(_judge_result(result, path, suite, judge, queries, say, seed, validation))
    settings = {"models": list(models), "artifacts": [str(a) for a in artifacts], "seed": seed,
                "latency_queries": len(queries), "latency_repeats": latency_repeats,
                "batch_size": len(batch),
                "threads": 1, "params": params or {}, "primary_id": suite.primary_id,
                "sets": {"id": {n: len(t) for n, (t, _) in suite.id_sets.items()},
                         "ood": {n: len(t) for n, t in suite.ood_sets.items()}},
                "judge": ({"model": judge.config.model, "url": judge.config.base_url, "band": judge.band,
                           "max_calls": judge.max_calls, "zone_max_calls": judge.zone_max_calls,
                           "max_share": judge.max_share, "heldout_rows": judge.heldout_rows,
                           "latency_queries": judge.latency_queries} if judge is not None else None)}
    return BenchmarkResult(results, settings)


def checks_table(result: BenchmarkResult) -> str:
    """Per-domain recall (exact sample, held-out sources), share of each unsafe set and
    held-out background set rejected with the right reason, unsafe false positives on the
    control sets and held-out domain rows, and the uncertain zone's error capture."""
    rows: list[list[str]] = []
    for m in result.models:
        c = m.checks
        if not c:
            continue
        recall = [" ".join(f"{d}={v:.2f}" for d, v in c["recall"].get(name, {}).items())
                  for name in ("id_exact", "id_heldout")]
        cap = c["capture"].get("held_out_all", {})
        rows.append([m.name, "recall exact/held-out", " | ".join(recall)])
        rows.append(["", "right reason", " ".join(f"{k}={v:.2f}" for k, v in c["reason_accuracy"].items())])
        rows.append(["", "unsafe FP (ID)", " ".join(f"{k}={v:.3f}" for k, v in c["unsafe_fp"].items())])
        rows.append(["", "uncertain zone", f"errors flagged {cap.get('errors_flagged', float('nan')):.2f}, "
                     f"all flagged {cap.get('flagged', float('nan')):.2f} (held-out sources)"])
    if not rows:
        return ""
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0].ljust(width[0])}  {r[1].ljust(width[1])}  {r[2]}" for r in rows)


def leaderboard(result: BenchmarkResult) -> str:
    """The leaderboard as a plain-text table (columns as in the GQR paper)."""
    if not result.models:
        return "(no models)"
    ood_names = list(result.models[0].scores.ood_sets)
    id_names = list(result.models[0].scores.id_sets)
    head = ["model", *ood_names, "unsafe_avg", "ood_acc", *id_names, "gqr", "p50_us", "onnx_p50_us", "p99_us", "qps", "MB"]
    rows = [head]
    for m in result.models:
        s = m.scores
        rows.append([
            m.name, *[f"{s.ood_sets[n]:.3f}" for n in ood_names], f"{s.unsafe_average:.3f}", f"{s.ood_accuracy:.3f}",
            *[f"{s.id_sets.get(n, float('nan')):.3f}" for n in id_names], f"{s.gqr_score:.3f}",
            *[f"{m.latency.get(k, float('nan')):.0f}" for k in ("p50_us", "onnx_p50_us", "p99_us")],
            f"{m.batch_qps:.0f}" if m.batch_qps is not None else "-", f"{m.size_bytes / 1e6:.1f}",
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))) for r in rows)


def benchmark_inputs(benchmark: Any, seed: int = 0, *, controls_as_negatives: bool = True
                     ) -> tuple[TrainingSet, TrainingSet, EvalSuite, dict[str, Any]]:
    """Leak-free training, validation and evaluation data from a ``gqr.datasets.Benchmark``.

    Every evaluation text (exact ID sample, OOD test sets) is removed from the training pools;
    ``id_heldout`` is the pools' own test split (whole held-out sources where a pool has
    enough of them: ``make_splits``), reported beside the exact ID sample; the background
    pools' test split becomes ``EvalSuite.checks``. Control pools (safe look-alikes) are
    split like the others and, with ``controls_as_negatives``, their training part joins
    ``out_of_domain`` (benign text that only looks unsafe); their test split is the check
    that nothing benign is called unsafe.
    """
    from gqr.datasets import assert_no_leak, make_splits

    controls = benchmark.control_pools()
    pools = [replace(p, kind="background", label="out_of_domain") if p.kind == "control" else p
             for p in benchmark.pools if controls_as_negatives or p.kind != "control"]
    splits = make_splits(pools, validation=0.1, test=0.1, seed=seed, exclude=benchmark)
    assert_no_leak(splits, benchmark)
    train = TrainingSet(dict(splits.train.domains), dict(splits.train.background), dict(splits.train.sources))
    val = TrainingSet(dict(splits.validation.domains), dict(splits.validation.background),
                      dict(splits.validation.sources))
    held_texts = [t for d in benchmark.domains for t in splits.test.domains.get(d, [])]
    held_labels = [d for d in benchmark.domains for _ in splits.test.domains.get(d, [])]
    checks = {f"heldout_{c}": (list(texts), c) for c, texts in splits.test.background.items()}
    if controls_as_negatives:
        test_ood = list(zip(splits.test.background.get("out_of_domain", []), splits.test.sources.get("out_of_domain", [])))
        for pool in controls:
            mine = set(pool.sources)
            checks[f"{pool.name}_heldout"] = ([t for t, s in test_ood if s in mine], NOT_UNSAFE)
    else:
        checks.update({p.name: (list(p.texts), NOT_UNSAFE) for p in controls})
    suite = EvalSuite(
        id_sets={
            "id_exact": (list(benchmark.id_test.texts), list(benchmark.id_test.labels)),
            "id_heldout": (held_texts, held_labels),
        },
        ood_sets={s.name: list(s.texts) for s in benchmark.ood_sets},
        unsafe_sets=tuple(s.name for s in benchmark.ood_sets if s.unsafe),
        checks=checks,
    )
    return train, val, suite, {"splits": splits.summary(), "benchmark": benchmark.info(top=3)}
