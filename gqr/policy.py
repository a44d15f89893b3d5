"""What to do with uncertain queries: keep the model's call, reject, accept, or ask the judge.

A judge failure never reaches the caller: an uncertain query the judge did not answer (down,
timeout, budget, garbage) becomes a ``Source.FALLBACK`` decision, the model's own call (the
default) or a rejection, as the judge's ``on_failure`` setting (``--judge-fallback``) says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gqr.decision import Decision, Reason, Source
from gqr.errors import GQRError

__all__ = ["UNCERTAIN_POLICIES", "aresolve", "resolve"]

UNCERTAIN_POLICIES = ("model", "reject", "accept", "judge")


def _reject(d: Decision) -> Decision:
    if d.route is None:
        return d
    return replace(d, route=None, reason=Reason.OUT_OF_DOMAIN, confidence=1.0 - d.confidence)


def _accept(d: Decision) -> Decision:
    """An uncertain out-of-domain rejection goes to its top domain; ``unsafe`` and
    ``other_language`` rejections stand: accepting never overrides the safety guard."""
    if d.route is not None or d.reason is not Reason.OUT_OF_DOMAIN or not d.scores:
        return d
    label = max(d.scores, key=d.scores.__getitem__)
    return replace(d, route=label, reason=Reason.IN_DOMAIN, confidence=d.scores[label])


def _fallback(d: Decision, error: Exception, on_failure: str) -> Decision:
    base = _reject(d) if on_failure == "reject" else d
    kept = "rejected" if on_failure == "reject" else "the model's call kept"
    return replace(base, source=Source.FALLBACK, detail=f"judge unavailable ({kept}): {error}")


def _plan(decisions: Sequence[Decision], policy: str, judge: Any) -> tuple[list[Decision], list[int]]:
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f"unknown uncertain policy {policy!r}; use one of {UNCERTAIN_POLICIES}")
    out = list(decisions)
    ask: list[int] = []
    for i, d in enumerate(out):
        if not d.uncertain or d.reason is Reason.INVALID_INPUT:
            continue
        if policy == "reject":
            out[i] = _reject(d)
        elif policy == "accept":
            out[i] = _accept(d)
        elif policy == "judge":
            if judge is None:
                out[i] = _fallback(d, RuntimeError("no judge configured"), "model")
            else:
                ask.append(i)
    if judge is not None:
        judge.note_routed(sum(1 for d in decisions if d.reason is not Reason.INVALID_INPUT))
    return out, ask


def _merge(out: list[Decision], ask: list[int], results: Sequence[Any], judge: Any) -> list[Decision]:
    on_failure = getattr(getattr(judge, "config", None), "on_failure", "model")
    for i, result in zip(ask, results):
        if isinstance(result, (GQRError, Exception)):
            out[i] = _fallback(out[i], result, on_failure)
        else:
            out[i] = result.to_decision(out[i].scores)
    return out


def resolve(decisions: Sequence[Decision], texts: Sequence[str], policy: str, judge: Any = None) -> list[Decision]:
    """Apply ``policy`` to the uncertain decisions (``texts`` are the cleaned queries)."""
    out, ask = _plan(decisions, policy, judge)
    if not ask:
        return out
    try:
        results: Sequence[Any] = judge.judge_batch([texts[i] for i in ask])
    except Exception as exc:  # the judge must never take the router down
        results = [exc] * len(ask)
    return _merge(out, ask, results, judge)


async def aresolve(decisions: Sequence[Decision], texts: Sequence[str], policy: str, judge: Any = None) -> list[Decision]:
    """Async ``resolve``: judge calls run concurrently on the event loop."""
    out, ask = _plan(decisions, policy, judge)
    if not ask:
        return out
    try:
        results: Sequence[Any] = await judge.ajudge_batch([texts[i] for i in ask])
    except Exception as exc:
        results = [exc] * len(ask)
    return _merge(out, ask, results, judge)
