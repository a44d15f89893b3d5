"""``gqr bench``: the GQR-Bench leaderboard for one or more routers, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gqr.cli._common import (
    DataDir,
    JudgeModel,
    JudgeUrl,
    TrainDir,
    ensure_writable_dir,
    judge_config,
    load_bench,
    require_training,
    say,
    usage_error,
)

ALL_MODELS = "svm-minilm,svm,widemlp,fasttext,xgboost"  # the shipped recipe, then the four families


def bench(
    data_dir: DataDir = None,
    train_dir: TrainDir = None,
    models: Annotated[str, typer.Option(help="Comma-separated routers to train (or reuse) and score.")] = ALL_MODELS,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every number to this JSON file.")] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write report.md, report.html (self-contained), results.json and plots/ here."),
    ] = None,
    cache_dir: Annotated[Path, typer.Option(help="Where trained routers are cached between runs.")] = Path(".cache/gqr-bench"),
    seed: Annotated[int, typer.Option(help="Random seed for splits and training.")] = 0,
    latency_queries: Annotated[int, typer.Option(help="Queries timed one at a time for p50/p99.")] = 500,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    judge_timeout: Annotated[float, typer.Option(help="Seconds per judge HTTP attempt.")] = 5.0,
) -> None:
    """Train or load routers, score them on GQR-Bench and print the leaderboard.

    With --judge-url and --judge-model, each router also gets a "router+judge" row whose
    uncertain queries are sent to that OpenAI-compatible LLM server.
    """
    from gqr.bench import benchmark_inputs, checks_table, leaderboard, run_benchmark
    from gqr.classifiers import BACKENDS

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in BACKENDS]
    if unknown or not names:
        what = f"unknown model(s) {unknown}" if unknown else "--models is empty"
        raise usage_error(f"{what}; choose from {', '.join(BACKENDS)}")
    require_training()
    judge = judge_config(judge_url, judge_model, judge_timeout)
    prepare_outputs(json_out, report)  # fail before the long run, not after it
    benchmark = load_bench(data_dir, train_dir)
    train, val, suite, data_info = benchmark_inputs(benchmark, seed)
    result = run_benchmark(names, train, suite, validation=val, cache_dir=cache_dir, seed=seed,
                           latency_queries=latency_queries, judge=judge, progress=say)
    result.data = data_info
    typer.echo(leaderboard(result))
    typer.echo(checks_table(result))
    write_outputs(result.to_dict(), json_out, report)


def prepare_outputs(json_out: Path | None, report: Path | None) -> None:
    """Create the parent folders of ``--json`` and the ``--report`` folder; a usage error if
    either cannot be written."""
    if json_out is not None:
        if json_out.is_dir():
            raise usage_error(f"--json {json_out} is a directory; give a file name")
        ensure_writable_dir(json_out.parent, "--json")
    if report is not None:
        ensure_writable_dir(report, "--report")


def write_outputs(results: dict[str, Any], json_out: Path | None, report: Path | None) -> None:
    """Write ``--json`` and ``--report`` outputs of a benchmark run."""
    import json

    from gqr.report import analyze, write_report

    results = analyze(results)
    if json_out:
        json_out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        say(f"wrote {json_out}")
    if report:
        files = write_report(results, report)
        say(f"wrote {files.markdown}, {files.html}, {files.results}"
            + (f" and {len(files.plots)} plots" if files.plots else f" (no plots: {files.plots_skipped})"))
