"""``gqr route``: route queries given as arguments or on stdin (one a line)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gqr.decision import Decision


def _format(text: str, d: Decision) -> str:
    where = d.route if d.route is not None else "REJECTED"
    snippet = text if len(text) <= 60 else text[:57] + "..."
    return f"{where:<12} {d.reason.value:<15} {d.confidence:6.3f}  {d.source.value:<8} {snippet}"


def route(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Queries to route; none (or '-') reads stdin, one query a line.")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Model directory (default: the shipped model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per query.")] = False,
) -> None:
    """Route queries to a domain, or reject them with a reason."""
    from gqr.router import Router

    router = Router.load(model)
    if not texts or texts == ["-"]:
        if sys.stdin is None or sys.stdin.isatty():
            raise typer.BadParameter("give a query as an argument, or pipe queries on stdin (one a line)")
        raw = sys.stdin.buffer.read()
        lines: list[str | bytes] = [line for line in raw.split(b"\n") if line.strip()]
    else:
        lines = list(texts)
    for start in range(0, len(lines), 1024):
        chunk = lines[start : start + 1024]
        for text, decision in zip(chunk, router.route_batch(chunk)):
            shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            if as_json:
                typer.echo(json.dumps({"text": shown, **decision.to_dict()}, ensure_ascii=False))
            else:
                typer.echo(_format(shown, decision))
