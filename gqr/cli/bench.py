"""``gqr bench``: the GQR-Bench leaderboard for one or more routers, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gqr.cli._common import (
    DataDir,
    JudgeFallback,
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
    models: Annotated[
        Optional[str],
        typer.Option(help=f"Comma-separated routers to train (or reuse) and score (default: {ALL_MODELS}, "
                     "or none when --artifact is given)."),
    ] = None,
    artifact: Annotated[
        Optional[list[Path]],
        typer.Option("--artifact", help="An exported model directory to score as it is, e.g. models/default (repeatable)."),
    ] = None,
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
    judge_timeout: Annotated[float, typer.Option(help="Seconds per judge HTTP attempt (a local CPU judge under load needs 60).")] = 60.0,
    judge_fallback: JudgeFallback = "model",
    judge_cache: Annotated[
        Optional[Path],
        typer.Option(help="Persistent judge answer cache (SQLite; default: CACHE_DIR/judge-verdicts.sqlite): a re-run "
                     "only asks about rows it has not seen."),
    ] = None,
    judge_band: Annotated[
        Optional[str],
        typer.Option(help="Escalate this band of top domain probability: LOW,HIGH, or 'auto' to choose it on the "
                     "validation split (best validation GQR of router + judge with at most 10% escalated); default: "
                     "the model's own uncertain zone (its error model, or its band)."),
    ] = None,
    judge_max_calls: Annotated[
        Optional[int],
        typer.Option(help="At most this many new judge calls (the rest of the escalated rows are scored at the judge's "
                     "measured accuracy and reported as an estimate; default: no limit)."),
    ] = None,
    judge_zone_max_calls: Annotated[
        Optional[int],
        typer.Option(help="With --judge-band auto: at most this many new judge calls on the validation sample "
                     "(0: only what the answer cache holds; default: the whole sample)."),
    ] = None,
    judge_heldout_rows: Annotated[
        int, typer.Option(help="Rows sampled per held-out set (the training pools' test split) for the cascade; 0 skips.")
    ] = 1000,
    judge_latency_queries: Annotated[
        int, typer.Option(help="Queries timed one at a time with the judge in the loop, no cache (0 skips).")
    ] = 200,
    judge_concurrency: Annotated[
        int, typer.Option(help="Judge requests in flight (a local llama.cpp server answers one at a time).")
    ] = 1,
) -> None:
    """Train or load routers, score them on GQR-Bench and print the leaderboard.

    With --judge-url and --judge-model, each router also gets a "router+judge" row whose
    uncertain queries are sent to that OpenAI-compatible LLM server, measured on GQR-Bench
    and on the held-out sources of the training pools (the cascade table is printed).
    """
    from gqr.bench import benchmark_inputs, checks_table, leaderboard, run_benchmark
    from gqr.classifiers import BACKENDS

    artifacts = list(artifact or [])
    if models is None:
        models = "" if artifacts else ALL_MODELS
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in BACKENDS]
    if unknown or not (names or artifacts):
        what = f"unknown model(s) {unknown}" if unknown else "--models is empty"
        raise usage_error(f"{what}; choose from {', '.join(BACKENDS)}")
    for a in artifacts:
        if not (a / "manifest.json").is_file():
            raise usage_error(f"--artifact {a}: not an exported model directory (no manifest.json)")
    if names:
        require_training()
    judge = _judge_run(judge_config(judge_url, judge_model, judge_timeout, fallback=judge_fallback), cache_dir,
                       judge_cache, judge_band, judge_max_calls, judge_heldout_rows, judge_latency_queries,
                       judge_concurrency, judge_zone_max_calls)
    prepare_outputs(json_out, report)  # fail before the long run, not after it
    benchmark = load_bench(data_dir, train_dir)
    train, val, suite, data_info = benchmark_inputs(benchmark, seed)
    result = run_benchmark(names, train, suite, validation=val, cache_dir=cache_dir, seed=seed,
                           latency_queries=latency_queries, judge=judge, progress=say, artifacts=artifacts)
    result.data = data_info
    typer.echo(leaderboard(result))
    typer.echo(checks_table(result))
    if judge is not None:
        from gqr.report import cascade_table

        typer.echo(cascade_table(result.to_dict()))
    write_outputs(result.to_dict(), json_out, report)


def _judge_run(config: Any, cache_dir: Path, cache: Path | None, band: str | None, max_calls: int | None,
               heldout_rows: int, latency_queries: int, concurrency: int, zone_max_calls: int | None = None) -> Any:
    """The bench's ``JudgeRun`` (None without a judge); usage errors for bad values."""
    if config is None:
        return None
    from dataclasses import replace

    from gqr.bench import JudgeRun

    bounds: Any = None
    if band == "auto":
        bounds = "auto"
    elif band is not None:
        try:
            low, high = (float(x) for x in band.split(","))
        except ValueError:
            raise usage_error(f"--judge-band {band!r}: expected LOW,HIGH such as 0.30,0.70") from None
        if not 0 <= low < high <= 1:
            raise usage_error(f"--judge-band {band!r}: expected 0 <= LOW < HIGH <= 1")
        bounds = (low, high)
    if (max_calls is not None and max_calls < 0) or (zone_max_calls is not None and zone_max_calls < 0):
        raise usage_error("--judge-max-calls and --judge-zone-max-calls must be >= 0")
    if heldout_rows < 0 or latency_queries < 0 or concurrency < 1:
        raise usage_error("--judge-heldout-rows and --judge-latency-queries must be >= 0, --judge-concurrency >= 1")
    path = cache if cache is not None else cache_dir / "judge-verdicts.sqlite"
    ensure_writable_dir(path.parent, "--judge-cache")
    config = replace(config, cache_path=str(path), max_concurrency=concurrency)
    return JudgeRun(config, band=bounds, max_calls=max_calls, heldout_rows=heldout_rows,
                    latency_queries=latency_queries, zone_max_calls=zone_max_calls)


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
