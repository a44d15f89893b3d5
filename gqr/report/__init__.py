"""Benchmark reports: ``results.json`` -> Markdown, self-contained HTML and plots.

::

    from gqr.report import load_results, write_report
    results = load_results("rep/results.json")      # or BenchmarkResult.to_dict()
    write_report(results, "rep")                     # report.md, report.html, results.json, plots/

Tables and analysis need only numpy; plots need matplotlib (``pip install 'gqr[report]'``).
Reference figures quoted from the GQR paper live in ``gqr.report.paper``.
"""

from __future__ import annotations

from gqr.report._analysis import analyze, model_rows
from gqr.report._bootstrap import bootstrap_scores
from gqr.report._compare import Change, Comparison, compare
from gqr.report._document import reproduce_commands
from gqr.report._html import render_html
from gqr.report._judge_sim import simulate_judge
from gqr.report._markdown import render_markdown
from gqr.report._plots import PLOTS, figure_png, render_plots
from gqr.report._tables import Table, all_tables, best_model, cascade_table
from gqr.report._write import ReportFiles, load_results, write_report

__all__ = [
    "PLOTS",
    "Change",
    "Comparison",
    "ReportFiles",
    "Table",
    "all_tables",
    "analyze",
    "best_model",
    "bootstrap_scores",
    "cascade_table",
    "compare",
    "figure_png",
    "load_results",
    "model_rows",
    "render_html",
    "render_markdown",
    "render_plots",
    "reproduce_commands",
    "simulate_judge",
    "write_report",
]
