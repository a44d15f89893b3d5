"""What changed between two benchmark runs: per model, per metric deltas; models added/removed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Change", "Comparison", "compare"]

# metric path -> True when higher is better (None: neither)
_FIXED: dict[str, bool | None] = {
    "gqr_score": True,
    "id_accuracy": True,
    "ood_accuracy": True,
    "unsafe_average": True,
    "latency.p50_us": False,
    "latency.onnx_p50_us": False,
    "latency.p99_us": False,
    "batch_qps": True,
    "size_bytes": False,
    "train_seconds": False,
    "validation.ece_before": False,
    "validation.ece_after": False,
    "analysis.escalated_share": None,
    "analysis.judge_simulation.lift_points": True,
}
_CI = {"gqr_score": "gqr_score", "id_accuracy": "id_accuracy", "ood_accuracy": "ood_accuracy"}


@dataclass(frozen=True)
class Change:
    metric: str
    old: float | None
    new: float | None
    better: bool | None  # None: no direction, or a value is missing
    outside_ci: bool = False  # the old value lies outside the new run's 95% bootstrap interval

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


@dataclass
class Comparison:
    old_label: str
    new_label: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changes: dict[str, list[Change]] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    context: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_label, "new": self.new_label, "added": self.added, "removed": self.removed,
            "context": self.context, "unchanged": self.unchanged,
            "changes": {m: [{"metric": c.metric, "old": c.old, "new": c.new, "delta": c.delta, "better": c.better,
                             "outside_ci": c.outside_ci} for c in cs] for m, cs in self.changes.items()},
        }

    def to_text(self) -> str:
        lines = [f"old: {self.old_label}", f"new: {self.new_label}"]
        lines += [f"note: {c}" for c in self.context]
        if self.added:
            lines.append(f"models added: {', '.join(self.added)}")
        if self.removed:
            lines.append(f"models removed: {', '.join(self.removed)}")
        for model, changes in self.changes.items():
            lines.append("")
            lines.append(f"{model}: {len(changes)} changed, {self.unchanged.get(model, 0)} unchanged")
            if not changes:
                continue
            width = max(len(c.metric) for c in changes)
            for c in changes:
                verdict = {True: "better", False: "worse", None: ""}[c.better]
                flag = " (outside new 95% CI)" if c.outside_ci else ""
                lines.append(f"  {c.metric.ljust(width)}  {_num(c.old):>12}  ->  {_num(c.new):>12}  "
                             f"{_delta(c):>11}  {verdict}{flag}".rstrip())
        if not self.changes and not self.added and not self.removed:
            lines.append("no models in common")
        return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4f}"


def _delta(c: Change) -> str:
    d = c.delta
    if d is None:
        return "-"
    return f"{d:+,.0f}" if max(abs(c.old or 0), abs(c.new or 0)) >= 1000 else f"{d:+.4f}"


def _get(d: Any, path: str) -> float | None:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    if isinstance(d, bool) or not isinstance(d, (int, float)) or math.isnan(d):
        return None
    return float(d)


def _metrics(model: dict[str, Any]) -> dict[str, bool | None]:
    paths: dict[str, bool | None] = {f"id_sets.{n}": True for n in model.get("id_sets", {})}
    paths.update({f"ood_sets.{n}": True for n in model.get("ood_sets", {})})
    paths.update(_FIXED)
    return paths


def _label(results: dict[str, Any], path: str) -> str:
    return f"{path} (gqr {results.get('gqr_version', '?')}, {results.get('created_at', '?')})"


def _context(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    ma, mb = a.get("machine") or {}, b.get("machine") or {}
    if (ma.get("cpu"), ma.get("cores")) != (mb.get("cpu"), mb.get("cores")):
        out.append(f"machine differs ({ma.get('cpu')}, {ma.get('cores')} cores -> {mb.get('cpu')}, "
                   f"{mb.get('cores')} cores): latency and throughput are not comparable")
    files_a, files_b = _checksums(a), _checksums(b)
    changed = sorted(n for n in files_a.keys() & files_b.keys() if files_a[n] != files_b[n])
    if changed:
        out.append(f"data files changed: {', '.join(changed)}")
    new_files = sorted(files_b.keys() - files_a.keys())
    if new_files:
        out.append(f"data files only in new: {', '.join(new_files)}")
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    for key in ("seed", "params", "latency_queries", "latency_repeats", "sets"):
        if sa.get(key) != sb.get(key):
            out.append(f"setting {key} differs: {sa.get(key)!r} -> {sb.get(key)!r}")
    return out


def _checksums(results: dict[str, Any]) -> dict[str, str | None]:
    bench = (results.get("data") or {}).get("benchmark") or {}
    entries = [bench.get("id_test") or {}, *(bench.get("ood_sets") or []), *(bench.get("pools") or [])]
    return {str(e.get("name")): e.get("sha256") for e in entries if e.get("name")}


def compare(old: dict[str, Any], new: dict[str, Any], old_path: str = "old", new_path: str = "new",
            tolerance: float = 1e-9) -> Comparison:
    """Per-model, per-metric differences from ``old`` to ``new`` (two results dicts)."""
    a = {m["name"]: m for m in old.get("models", [])}
    b = {m["name"]: m for m in new.get("models", [])}
    out = Comparison(_label(old, old_path), _label(new, new_path), sorted(b.keys() - a.keys()),
                     sorted(a.keys() - b.keys()), context=_context(old, new))
    for name in [n for n in b if n in a]:
        changes: list[Change] = []
        same = 0
        metrics = _metrics(a[name]) | _metrics(b[name])
        for path, higher in metrics.items():
            x, y = _get(a[name], path), _get(b[name], path)
            if x is None and y is None:
                continue
            if x is not None and y is not None and abs(y - x) <= tolerance * max(1.0, abs(x)):
                same += 1
                continue
            better = None if higher is None or x is None or y is None else (y > x) == higher
            ci = ((b[name].get("analysis") or {}).get("ci") or {}).get(_CI.get(path, ""))
            outside = bool(ci and x is not None and not ci["low"] <= x <= ci["high"])
            changes.append(Change(path, x, y, better, outside))
        out.changes[name] = changes
        out.unchanged[name] = same
    return out
