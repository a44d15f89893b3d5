"""Load a results file and write a report directory: report.md, report.html, results.json, plots/."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from gqr.errors import DataFormatError, MissingDependencyError
from gqr.report._analysis import analyze
from gqr.report._html import render_html
from gqr.report._markdown import render_markdown

__all__ = ["ReportFiles", "load_results", "write_report"]

logger = logging.getLogger("gqr.report")
RESULTS_FORMAT = "gqr-bench-results"


@dataclass
class ReportFiles:
    """What ``write_report`` wrote. ``plots_skipped`` says why there are no plots, if so."""

    directory: Path
    markdown: Path
    html: Path
    results: Path
    plots: dict[str, Path] = field(default_factory=dict)
    plots_skipped: str | None = None


def load_results(path: str | Path) -> dict[str, Any]:
    """A ``results.json`` (or ``gqr bench --json`` file), checked and with its analysis."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{p}: no such file; write one with `gqr bench --report DIR` or `--json FILE`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{p}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise DataFormatError(f"{p}: not a gqr benchmark results file (no 'models' list); "
                              "write one with `gqr bench --report DIR` or `--json FILE`")
    if data.get("format", RESULTS_FORMAT) != RESULTS_FORMAT:
        raise DataFormatError(f"{p}: format {data.get('format')!r} is not {RESULTS_FORMAT!r}")
    if any("analysis" not in m for m in data["models"]):
        return analyze(data)
    return cast("dict[str, Any]", data)


def write_report(results: dict[str, Any], directory: str | Path, *, plots: bool = True) -> ReportFiles:
    """Write the report for ``results`` (a ``BenchmarkResult.to_dict()`` or loaded file) into
    ``directory``. The analysis is recomputed from the per-row outcomes (it is deterministic).
    Without matplotlib the Markdown, HTML and JSON are still written, without plots."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    results = analyze(results)
    images: dict[str, bytes] = {}
    skipped = None if plots else "plots turned off"
    if plots:
        try:
            from gqr.report._plots import render_plots

            images = render_plots(results)
        except MissingDependencyError as exc:
            skipped = str(exc)
            logger.warning("report without plots: %s", exc)
    files = ReportFiles(out, out / "report.md", out / "report.html", out / "results.json", plots_skipped=skipped)
    if images:
        (out / "plots").mkdir(exist_ok=True)
        for name, png in images.items():
            files.plots[name] = out / "plots" / f"{name}.png"
            files.plots[name].write_bytes(png)
    files.results.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    files.markdown.write_text(render_markdown(results, set(images)), encoding="utf-8")
    files.html.write_text(render_html(results, images), encoding="utf-8")
    return files
