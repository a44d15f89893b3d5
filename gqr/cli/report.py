"""``gqr report``: re-render a benchmark report, or compare two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gqr.cli._common import Command, Group, say

app = typer.Typer(help="Benchmark reports: render results.json, compare two runs.", no_args_is_help=True, cls=Group)


@app.command("compare", cls=Command)
def compare(
    old: Annotated[Path, typer.Argument(help="results.json of the earlier run.")],
    new: Annotated[Path, typer.Argument(help="results.json of the later run.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    timing_tolerance: Annotated[
        Optional[float],
        typer.Option("--timing-tolerance", min=0.0, help="Relative difference under which timings count as "
                     "unchanged when the runs record no run-to-run spread (default 0.25)."),
    ] = None,
) -> None:
    """Print what changed from OLD to NEW: per model, per metric deltas; models added or removed.

    Differences within noise are marked unchanged: accuracies whose old value lies inside the
    new run's 95% bootstrap interval, and timings inside run-to-run spread (or within
    --timing-tolerance when no spread is recorded).
    """
    from gqr.report import compare as compare_results
    from gqr.report import load_results

    options = {} if timing_tolerance is None else {"timing_tolerance": timing_tolerance}
    result = compare_results(load_results(old), load_results(new), str(old), str(new), **options)
    typer.echo(json.dumps(result.to_dict(), indent=1) if as_json else result.to_text())


@app.command("render", cls=Command)
def render(
    results: Annotated[Path, typer.Argument(help="A results.json from `gqr bench --report` or `--json`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for report.md, report.html and plots/.")],
) -> None:
    """Write the report (Markdown, self-contained HTML, plots) for an existing results file."""
    from gqr.report import load_results, write_report

    files = write_report(load_results(results), out)
    say(f"wrote {files.markdown}, {files.html}"
        + (f" and {len(files.plots)} plots" if files.plots else f" (no plots: {files.plots_skipped})"))
