"""``gqr report``: re-render a benchmark report, or compare two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gqr.cli._common import say

app = typer.Typer(help="Benchmark reports: render results.json, compare two runs.", no_args_is_help=True)


@app.command("compare")
def compare(
    old: Annotated[Path, typer.Argument(help="results.json of the earlier run.")],
    new: Annotated[Path, typer.Argument(help="results.json of the later run.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Print what changed from OLD to NEW: per model, per metric deltas; models added or removed."""
    from gqr.report import compare as compare_results
    from gqr.report import load_results

    result = compare_results(load_results(old), load_results(new), str(old), str(new))
    typer.echo(json.dumps(result.to_dict(), indent=1) if as_json else result.to_text())


@app.command("render")
def render(
    results: Annotated[Path, typer.Argument(help="A results.json from `gqr bench --report` or `--json`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for report.md, report.html and plots/.")],
) -> None:
    """Write the report (Markdown, self-contained HTML, plots) for an existing results file."""
    from gqr.report import load_results, write_report

    files = write_report(load_results(results), out)
    say(f"wrote {files.markdown}, {files.html}"
        + (f" and {len(files.plots)} plots" if files.plots else f" (no plots: {files.plots_skipped})"))
