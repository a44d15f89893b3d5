"""``gqr data info``: what data there is, where it came from, and whether it is intact."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gqr.cli._common import Command, DataDir, Group, TrainDir, load_bench

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True, cls=Group)


@app.command("info", cls=Command)
def info(
    data_dir: DataDir = None,
    train_dir: TrainDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full provenance as JSON.")] = False,
) -> None:
    """Row counts per domain, training pool and OOD test set, with provenance and checksums."""
    bench = load_bench(data_dir, train_dir)
    report = bench.info(top=3)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    typer.echo(f"GQR-Bench ({report['origin']}) data: {report.get('data_dir')}  train pools: {report.get('train_dir')}")
    counts = bench.id_test.counts()
    typer.echo("\nID evaluation (exact GQR-Bench sample): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    typer.echo("\nOOD test sets (evaluation only):")
    for s in report["ood_sets"]:
        mark = "ok" if s.get("verified") else "CHECKSUM DIFFERS" if s.get("expected_sha256") else "-"
        typer.echo(f"  {s['name']:<14} {s['rows']:>6}  {'unsafe' if s['unsafe'] else 'off-topic':<9} {s.get('fidelity', ''):<10} {mark}")
    typer.echo("\nTraining pools:")
    for p in report.get("pools", []):
        mark = "ok" if p.get("verified") else "-"
        typer.echo(f"  {p['name']:<24} {p.get('label') or p.get('kind', ''):<15} {p['rows']:>6}  {p.get('fidelity', '') or '':<12} {mark}")
    for note in report.get("notes", []):
        typer.echo(f"note: {note}")
