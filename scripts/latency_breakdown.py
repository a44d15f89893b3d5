"""Where a single query's time goes: each serving stage timed alone, then interleaved as in
``Router.route`` (numpy featurisation and ONNX Runtime evict each other's caches).

Usage::

    python scripts/latency_breakdown.py [--model DIR] [--queries FILE.jsonl] [--n 400]

Prints the p50 in microseconds per stage of ``route()`` (best of five passes over the queries),
the p99 of ``route()``, and ``route_batch`` throughput on 1,000 of the queries and on 1,000 mixed
GQR-Bench rows (Jigsaw comments, WebQuestions, the exact ID sample; best of three calls). The
stages are the ones ``route()`` runs (``OnnxScorer.score_one``: one row's features, then ONNX
Runtime; ``GuardRule.decide_row``; the no-words check; the rules); the reference featurizer
(``from_spec(..., reference=True)``) is timed beside the fast one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gqr import Router
from gqr.artifact import read_artifact
from gqr.bench import stage_latency
from gqr.features import from_spec
from gqr.router import _asks_nothing, default_model_path
from gqr.runtime import OUTPUTS, session_runner
from gqr.text import clean


def p50_us(fn: Callable[[Any], Any], items: Sequence[Any], passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        times = []
        for item in items:
            start = time.perf_counter_ns()
            fn(item)
            times.append(time.perf_counter_ns() - start)
        best = min(best, float(np.percentile(times, 50)) / 1e3)
    return best


def p99_us(fn: Callable[[Any], Any], items: Sequence[Any], passes: int = 3) -> float:
    times = []
    for _ in range(passes):
        for item in items:
            start = time.perf_counter_ns()
            fn(item)
            times.append(time.perf_counter_ns() - start)
    return float(np.percentile(times, 99)) / 1e3


def batch_qps(router: Router, queries: Sequence[str], size: int = 1000) -> float:
    batch = [queries[i % len(queries)] for i in range(size)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        router.route_batch(batch)
        best = min(best, time.perf_counter() - start)
    return size / best


def mixed_rows(data: Path, size: int = 1000) -> list[str]:
    """``size`` rows of Jigsaw, WebQuestions and the exact ID sample, shuffled with seed 0."""
    rows: list[str] = []
    for name in ("ood/jigsaw.jsonl", "ood/web_questions.jsonl", "id/gqr_exact_sample.jsonl"):
        with open(data / name, encoding="utf-8") as fh:
            rows += [json.loads(line)["text"] for line in fh if line.strip()]
    random.Random(0).shuffle(rows)
    return rows[:size]


def main() -> None:
    data = Path(os.environ.get("GQR_DATA_DIR", "../shared/data/gqr-bench"))
    default_queries = data / "ood" / "web_questions.jsonl"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--queries", default=str(default_queries), help="JSONL file with a 'text' field")
    parser.add_argument("--n", type=int, default=400, help="queries to time")
    args = parser.parse_args()

    router = Router.load(args.model)
    with open(args.queries, encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh if line.strip()][: args.n]
    cleaned = [clean(q) for q in queries]
    scorer = router.scorer
    artifact = read_artifact(args.model or default_model_path())
    reference = from_spec(artifact.manifest["featurizer"], artifact.files, reference=True)
    one = getattr(scorer.featurize, "one", None)  # route()'s path: one row's (ids, values)
    featurize = one if one is not None else (lambda c: scorer.featurize([c]).onnx_feeds())
    feeds = [scorer.featurize([c]).onnx_feeds() for c in cleaned]
    run, names = session_runner(scorer.session), list(OUTPUTS)
    outputs = [run(names, f, None) for f in feeds]
    guard = router.guard
    if guard.method == "msp" and router.coverage is None:
        rows_of = [o[1].tolist()[0] for o in outputs]
        decide: Callable[[int], Any] = lambda i: guard.decide_row(outputs[i][1].tolist()[0])  # noqa: E731
        decisions = [guard.decide_row(r) for r in rows_of]
    else:
        decide = lambda i: guard.decide(outputs[i][0], outputs[i][1], router.coverage)  # noqa: E731
        decisions = [guard.decide(o[0], o[1], router.coverage)[0] for o in outputs]

    stages = stage_latency(router, queries, repeats=3)  # as gqr bench times them

    rows = {
        "route() end to end": p50_us(router.route, queries),
        "route() p99": p99_us(router.route, queries),
        "clean": p50_us(clean, queries),
        "featurize, alone": p50_us(featurize, cleaned),
        "featurize reference, alone": p50_us(lambda c: reference([c]).onnx_feeds(), cleaned),
        "ONNX Runtime, alone": p50_us(lambda f: run(names, f, None), feeds),
        "featurize + ONNX (score_one)": p50_us(getattr(scorer, "score_one", lambda c: scorer.scores([c])), cleaned),
        "featurize, interleaved": stages["featurize_p50_us"],
        "ONNX Runtime, interleaved": stages["onnx_p50_us"],
        "guard": p50_us(decide, range(len(cleaned))),
        "no words / small talk": p50_us(lambda i: _asks_nothing(cleaned[i], decisions[i]), range(len(cleaned))),
        "rules": p50_us(lambda i: router._apply_rules(cleaned[i], decisions[i]), range(len(cleaned))),
    }
    print(f"{len(queries)} queries from {args.queries}; µs (p50: best of passes); load {os.getloadavg()[0]:.2f}")
    for name, value in rows.items():
        print(f"  {name:<28}{value:8.1f}")
    print(f"  {'route_batch, 1,000 queries':<28}{batch_qps(router, queries):8.0f} queries/s")
    if (data / "ood" / "jigsaw.jsonl").is_file():
        print(f"  {'route_batch, 1,000 mixed':<28}{batch_qps(router, mixed_rows(data)):8.0f} queries/s (GQR-Bench rows)")


if __name__ == "__main__":
    main()
