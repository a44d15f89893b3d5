"""What changed between two benchmark runs: per model, per metric deltas; models added/removed.

A difference within noise counts as unchanged: an accuracy whose old value lies inside the new
run's 95% bootstrap interval (from ``analysis.ci``, or resampled from the set's per-row outcomes),
and a timing inside run-to-run spread (a model's ``spread: {metric: [low, high]}`` in both runs,
when recorded) or else within a relative tolerance (``timing_tolerance``, 25% by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gqr.metrics import SetRows
from gqr.report._analysis import primary_id
from gqr.report._bootstrap import _resampled_means

__all__ = ["TIMING_TOLERANCE", "Change", "Comparison", "compare"]

#: relative difference under which two timings count as unchanged when no spread is recorded
TIMING_TOLERANCE = 0.25
_TIMINGS = ("latency.", "batch_qps", "train_seconds")
_RESAMPLES = 1000

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
_CI = ("gqr_score", "id_accuracy", "ood_accuracy", "unsafe_average")


@dataclass(frozen=True)
class Change:
    metric: str
    old: float | None
    new: float | None
    better: bool | None  # None: no direction, a value is missing, or within noise
    outside_ci: bool = False  # the old value lies outside the new run's 95% bootstrap interval
    noise: str = ""  # why the difference counts as unchanged ("" for a real change)

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``unchanged`` (within noise) or ``""`` (no direction)."""
        return "unchanged" if self.noise else {True: "better", False: "worse", None: ""}[self.better]


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
                             "verdict": c.verdict, "noise": c.noise, "outside_ci": c.outside_ci} for c in cs]
                        for m, cs in self.changes.items()},
        }

    def to_text(self) -> str:
        lines = [f"old: {self.old_label}", f"new: {self.new_label}"]
        lines += [f"note: {c}" for c in self.context]
        if self.added:
            lines.append(f"models added: {', '.join(self.added)}")
        if self.removed:
            lines.append(f"models removed: {', '.join(self.removed)}")
        for model, changes in self.changes.items():
            real = [c for c in changes if not c.noise]
            lines.append("")
            lines.append(f"{model}: {len(real)} changed, {self.unchanged.get(model, 0) + len(changes) - len(real)} unchanged")
            if not changes:
                continue
            width = max(len(c.metric) for c in changes)
            for c in sorted(changes, key=lambda c: bool(c.noise)):
                why = f" ({c.noise})" if c.noise else " (outside new 95% CI)" if c.outside_ci else ""
                lines.append(f"  {c.metric.ljust(width)}  {_num(c.old):>12}  ->  {_num(c.new):>12}  "
                             f"{_delta(c):>11}  {c.verdict}{why}".rstrip())
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


def _interval(results: dict[str, Any], model: dict[str, Any], path: str, seed: int) -> tuple[float, float] | None:
    """The 95% bootstrap interval of an accuracy in ``model`` (None when there is none)."""
    ci = (model.get("analysis") or {}).get("ci") or {}
    kind, _, name = path.partition(".")
    key = path if path in _CI else None
    if kind == "id_sets":
        key = "id_accuracy" if name == primary_id(results, model) else f"{name}_accuracy"
    bounds = [(ci.get(key) or {}).get(end) for end in ("low", "high")]
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in bounds):
        return float(bounds[0]), float(bounds[1])  # type: ignore[arg-type]
    rows = (model.get("rows") or {}).get(name) if kind in ("id_sets", "ood_sets") else None
    if not rows:
        return None
    correct = SetRows.from_dict(rows).correct.astype(np.float64)
    if correct.size == 0:
        return None
    low, high = np.percentile(_resampled_means(correct, _RESAMPLES, np.random.default_rng(seed)), [2.5, 97.5])
    return float(low), float(high)


def _spreads(a: dict[str, Any], b: dict[str, Any], path: str) -> tuple[list[float], list[float]] | None:
    """The run-to-run ``[low, high]`` of a timing in both runs, when both recorded one."""
    spread_a, spread_b = (a.get("spread") or {}).get(path), (b.get("spread") or {}).get(path)
    return (spread_a, spread_b) if spread_a and spread_b else None


def _timing_noise(a: dict[str, Any], b: dict[str, Any], path: str, x: float, y: float, tolerance: float) -> str:
    """Why two timings count as unchanged (``""``: they differ beyond the noise)."""
    spreads = _spreads(a, b, path)
    if spreads:
        (low_a, high_a), (low_b, high_b) = spreads
        return "within run-to-run spread" if max(low_a, low_b) <= min(high_a, high_b) else ""
    return f"within {tolerance:.0%} timing tolerance" if abs(y - x) <= tolerance * abs(x) else ""


def _noise(results: dict[str, Any], a: dict[str, Any], b: dict[str, Any], path: str, x: float | None,
           y: float | None, tolerance: float) -> tuple[str, bool]:
    """(why the difference is noise or "", whether the old value is outside the new 95% CI)."""
    if x is None or y is None:
        return "", False
    if path.startswith(_TIMINGS):
        return _timing_noise(a, b, path, x, y, tolerance), False
    seed = int((results.get("settings") or {}).get("seed", 0))
    interval = _interval(results, b, path, seed)
    if interval is None:
        return "", False
    inside = interval[0] <= x <= interval[1]
    return ("within new 95% CI" if inside else ""), not inside


def compare(old: dict[str, Any], new: dict[str, Any], old_path: str = "old", new_path: str = "new",
            tolerance: float = 1e-9, timing_tolerance: float = TIMING_TOLERANCE) -> Comparison:
    """Per-model, per-metric differences from ``old`` to ``new`` (two results dicts).

    Differences within noise (see the module docstring) are listed as ``unchanged``;
    ``tolerance`` is the relative difference below which two values are equal.
    """
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
            noise, outside = _noise(new, a[name], b[name], path, x, y, timing_tolerance)
            better = None if noise or higher is None or x is None or y is None else (y > x) == higher
            changes.append(Change(path, x, y, better, outside, noise))
        out.changes[name] = changes
        out.unchanged[name] = same
    if any(c.metric.startswith(_TIMINGS) and _spreads(a[m], b[m], c.metric) is None
           for m, cs in out.changes.items() for c in cs):
        out.context.append(f"timings within {timing_tolerance:.0%} of the old run count as unchanged "
                           "(no run-to-run spread recorded)")
    return out
