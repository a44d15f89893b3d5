"""``gqr bench``: the GQR-Bench leaderboard for one or more routers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gqr.cli._common import DataDir, TrainDir, load_bench, say, usage_error

ALL_MODELS = "svm,widemlp,fasttext,xgboost"


def bench(
    data_dir: DataDir = None,
    train_dir: TrainDir = None,
    models: Annotated[str, typer.Option(help="Comma-separated routers to train (or reuse) and score.")] = ALL_MODELS,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write every number to this JSON file.")] = None,
    cache_dir: Annotated[Path, typer.Option(help="Where trained routers are cached between runs.")] = Path(".cache/gqr-bench"),
    seed: Annotated[int, typer.Option(help="Random seed for splits and training.")] = 0,
    latency_queries: Annotated[int, typer.Option(help="Queries timed one at a time for p50/p99.")] = 500,
) -> None:
    """Train or load routers, score them on GQR-Bench and print the leaderboard."""
    from gqr.bench import benchmark_inputs, leaderboard, run_benchmark
    from gqr.classifiers import BACKENDS

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in BACKENDS]
    if unknown or not names:
        raise usage_error(f"unknown model(s) {unknown}; choose from {', '.join(BACKENDS)}")
    benchmark = load_bench(data_dir, train_dir)
    train, val, suite, data_info = benchmark_inputs(benchmark, seed)
    result = run_benchmark(names, train, suite, validation=val, cache_dir=cache_dir, seed=seed,
                           latency_queries=latency_queries, progress=say)
    result.data = data_info
    typer.echo(leaderboard(result))
    if json_out:
        result.write_json(json_out)
        say(f"wrote {json_out}")
