"""``gqr route``: route queries given as arguments or on stdin (one a line)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer

from gqr.cli._common import (
    Coverage,
    JudgeFallback,
    JudgeModel,
    JudgeTimeout,
    JudgeUrl,
    ModelOpt,
    Uncertain,
    make_router,
    usage_error,
)
from gqr.decision import Decision


def _format(text: str, d: Decision) -> str:
    where = d.route if d.route is not None else "REJECTED"
    snippet = text if len(text) <= 60 else text[:57] + "..."
    return f"{where:<12} {d.reason.value:<15} {d.confidence:6.3f}  {d.source.value:<8} {snippet}"


def stdin_lines(raw: bytes) -> list[bytes]:
    """One query per input line, blank ones included (they are answered invalid_input, so
    output line N answers input line N); the newline ending the last line opens no query."""
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line.removesuffix(b"\r") for line in lines]


def route(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Queries to route; none (or '-') reads stdin, one query a line (one output line per input line).")] = None,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per query.")] = False,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    uncertain: Uncertain = "model",
    coverage: Coverage = None,
    judge_fallback: JudgeFallback = "model",
    judge_timeout: JudgeTimeout = 5.0,
) -> None:
    """Route queries to a domain, or reject them with a reason (and say who decided)."""
    router = make_router(model, judge_url, judge_model, uncertain, coverage, judge_timeout, judge_fallback)
    if not texts or texts == ["-"]:
        if sys.stdin is None or sys.stdin.isatty():
            raise usage_error("give a query as an argument, or pipe queries on stdin (one a line)")
        lines: list[str | bytes] = list(stdin_lines(sys.stdin.buffer.read()))
    else:
        lines = list(texts)
    try:
        _route_all(router, lines, as_json)
    finally:
        if router.judge is not None:
            router.judge.close()  # free the judge's connections


def _route_all(router: Any, lines: list[str | bytes], as_json: bool) -> None:
    for start in range(0, len(lines), 1024):
        chunk = lines[start : start + 1024]
        for text, decision in zip(chunk, router.route_batch(chunk)):
            shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            if as_json:
                typer.echo(json.dumps({"text": shown, **decision.to_dict()}, ensure_ascii=False))
            else:
                typer.echo(_format(shown, decision))
