"""``gqr score``: route every row of a file (JSONL, CSV/TSV, Parquet, text) or stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gqr.cli._common import (
    Coverage,
    JudgeModel,
    JudgeUrl,
    ModelOpt,
    Uncertain,
    ensure_writable_dir,
    make_router,
    say,
    usage_error,
)


def check_input(path: Path) -> None:
    """A usage error unless ``path`` is a file, saying what it is instead."""
    if path.is_dir():
        raise usage_error(f"{path} is a directory; give one input file (.jsonl .csv .tsv .parquet .txt) or '-' for stdin")
    if not path.exists():
        raise usage_error(f"{path}: no such file")
    if not path.is_file():
        raise usage_error(f"{path} is not a regular file; give one input file, or pipe it on stdin with '-'")


def check_output(output: Path, replace: bool) -> None:
    """A usage error when ``--output`` is a directory, cannot be written, or already holds rows
    that would be lost (``replace``: --resume or --overwrite was given)."""
    if output.is_dir():
        raise usage_error(f"--output {output} is a directory; give a file name")
    if not replace and output.exists() and output.stat().st_size > 0:
        raise usage_error(f"--output {output} already exists: pass --resume to continue it, --overwrite to replace it, "
                          "or give another file")
    ensure_writable_dir(output.parent, "--output")


def score(
    source: Annotated[str, typer.Argument(metavar="INPUT", help="Input file (.jsonl .csv .tsv .parquet .txt), or '-' for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write decisions here (JSONL); default stdout.")] = None,
    model: ModelOpt = None,
    format: Annotated[str | None, typer.Option("--format", help="Input format: jsonl, csv, tsv, parquet or txt (default: from the suffix; stdin: sniffed).")] = None,
    text_field: Annotated[str, typer.Option("--text-field", help="Field or column holding the query.")] = "text",
    keep: Annotated[list[str] | None, typer.Option("--keep", help="Copy this input field to the output (repeatable), e.g. --keep id.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: keep the rows already in --output, append the rest.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output file (without it, an existing output is refused).")] = False,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, max=65536, help="Rows routed per batch (memory stays constant).")] = 1024,
    scores: Annotated[bool, typer.Option("--scores", help="Add every domain's probability to each row.")] = False,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar with rows/s on stderr (default: when stderr is a terminal).")] = None,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    uncertain: Uncertain = "model",
    coverage: Coverage = None,
) -> None:
    """Route every row of INPUT and write one JSON line per row (row, route, reason, confidence, source...).

    Rows keep their order and each appears exactly once; a bad row gets reason invalid_input
    instead of stopping the run. Interrupted? Run the same command again with --resume.
    """
    from gqr.scoring import detect_format, iter_rows, resume_point
    from gqr.scoring import score as run

    if resume and output is None:
        raise usage_error("--resume needs --output FILE (the file is the checkpoint)")
    if resume and overwrite:
        raise usage_error("--resume keeps the rows in --output and --overwrite replaces them: give one")
    if source != "-":
        check_input(Path(source))
    if output is not None and source != "-" and output.resolve() == Path(source).resolve():
        raise usage_error("--output must not be the input file")
    if output is not None:
        check_output(output, resume or overwrite)  # before loading the model
    router = make_router(model, judge_url, judge_model, uncertain, coverage)
    stdin = sys.stdin.buffer if source == "-" else None
    if stdin is not None and sys.stdin.isatty():
        raise usage_error("INPUT is '-' but nothing is piped on stdin")
    fmt = detect_format(source, format, stdin)
    skip = resume_point(output) if resume and output is not None else 0
    show = progress if progress is not None else sys.stderr.isatty()
    stream = stdin if stdin is not None else (None if fmt == "parquet" else open(source, "rb"))
    try:
        rows = iter_rows(stream, None if source == "-" else Path(source), fmt, text_field, keep or [], chunk_size)
        if output is None:
            summary = run(router, rows, sys.stdout, skip=skip, chunk_size=chunk_size, with_scores=scores, progress=show)
        else:
            with output.open("a" if resume else "w", encoding="utf-8", newline="\n") as out:
                summary = run(router, rows, out, skip=skip, chunk_size=chunk_size, with_scores=scores, progress=show)
    except KeyboardInterrupt:
        say("interrupted; the rows written so far are complete: run the same command with --resume to finish")
        raise typer.Exit(code=130) from None
    finally:
        if stream is not None and stream is not stdin:
            stream.close()
    say(summary.line())
