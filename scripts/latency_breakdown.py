"""Where a single query's time goes: each serving stage timed alone, then interleaved as in
``Router.route`` (numpy featurisation and ONNX Runtime evict each other's caches).

Usage::

    python scripts/latency_breakdown.py [--model DIR] [--queries FILE.jsonl] [--n 400]

Prints the p50 in microseconds per stage (best of five passes over the queries), the p99 of
``route()``, and ``route_batch`` throughput on 1,000 queries (best of three calls). The
reference featurizer (``from_spec(..., reference=True)``) is timed beside the fast one.
"""

from __future__ import annotations

import argparse
import json
import os
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
from gqr.rules import match_unsafe
from gqr.runtime import OUTPUTS
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


def main() -> None:
    default_queries = Path(os.environ.get("GQR_DATA_DIR", "../shared/data/gqr-bench")) / "ood" / "web_questions.jsonl"
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
    feeds = [scorer.featurize([c]).onnx_feeds() for c in cleaned]
    outputs = [scorer.session.run(list(OUTPUTS), f) for f in feeds]
    decisions = [router.guard.decide(o[0], o[1], router.coverage)[0] for o in outputs]

    stages = stage_latency(router, queries, repeats=3)  # as gqr bench times them

    rows = {
        "route() end to end": p50_us(router.route, queries),
        "route() p99": p99_us(router.route, queries),
        "clean": p50_us(clean, queries),
        "featurize, alone": p50_us(lambda c: scorer.featurize([c]).onnx_feeds(), cleaned),
        "featurize reference, alone": p50_us(lambda c: reference([c]).onnx_feeds(), cleaned),
        "ONNX Runtime, alone": p50_us(lambda f: scorer.session.run(list(OUTPUTS), f), feeds),
        "featurize, interleaved": stages["featurize_p50_us"],
        "ONNX Runtime, interleaved": stages["onnx_p50_us"],
        "guard": p50_us(lambda o: router.guard.decide(o[0], o[1], router.coverage), outputs),
        "no words / small talk": p50_us(lambda i: _asks_nothing(cleaned[i], decisions[i]), range(len(cleaned))),
        "rules": p50_us(match_unsafe, cleaned),
    }
    print(f"{len(queries)} queries from {args.queries}; µs (p50: best of passes); load {os.getloadavg()[0]:.2f}")
    for name, value in rows.items():
        print(f"  {name:<28}{value:8.1f}")
    print(f"  {'route_batch, 1,000 queries':<28}{batch_qps(router, queries):8.0f} queries/s")


if __name__ == "__main__":
    main()
