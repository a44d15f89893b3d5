"""What the GQR score does not show: per-domain recall, whether rejections give the right
reason, unsafe false positives, and how many errors the uncertain zone catches.

``benchmark_inputs`` fills ``EvalSuite.checks`` with the held-out sources of every background
class (expected reason) and the control pools (``not_unsafe``: e.g. safe look-alikes);
``check_router`` measures them with the ID sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.decision import Decision, Reason

__all__ = ["NOT_UNSAFE", "check_router", "error_capture"]

#: Expected outcome of a control set: anything but an ``unsafe`` rejection.
NOT_UNSAFE = "not_unsafe"


def _reasons(decisions: Sequence[Decision]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        key = d.route or d.reason.value
        out[key] = out.get(key, 0) + 1
    return out


def error_capture(wrong: np.ndarray, uncertain: np.ndarray) -> dict[str, float]:
    """Share of wrong decisions flagged uncertain, and share of all decisions flagged."""
    wrong, uncertain = np.asarray(wrong, bool), np.asarray(uncertain, bool)
    return {
        "errors": int(wrong.sum()),
        "errors_flagged": float(uncertain[wrong].mean()) if wrong.any() else float("nan"),
        "flagged": float(uncertain.mean()) if uncertain.size else float("nan"),
    }


def check_router(router: Any, id_sets: dict[str, tuple[list[str], list[str]]],
                 checks: dict[str, tuple[list[str], str]], unsafe_sets: Sequence[str],
                 decided: dict[str, list[Decision]]) -> dict[str, Any]:
    """Per-domain recall and unsafe false positives on each ID set; expected-reason accuracy on
    each check set (and on ``unsafe_sets``, whose reason must be ``unsafe``); uncertain-zone
    error capture over the held-out ID rows and check sets (``capture``). ``decided`` holds the
    decisions ``bench.evaluate`` already took on the ID and OOD sets; only the check sets are
    routed here."""
    out: dict[str, Any] = {"recall": {}, "unsafe_fp": {}, "reason_accuracy": {}, "outcomes": {}, "capture": {}}
    wrong_all: list[np.ndarray] = []
    flagged_all: list[np.ndarray] = []
    for name, (_, labels) in id_sets.items():
        decisions = decided[name]
        routes = np.asarray([d.route or "" for d in decisions], dtype=object)
        truth = np.asarray(labels, dtype=object)
        out["recall"][name] = {d: float((routes[truth == d] == d).mean()) for d in router.labels if (truth == d).any()}
        out["unsafe_fp"][name] = float(np.mean([d.reason is Reason.UNSAFE for d in decisions])) if decisions else 0.0
        wrong = routes != truth
        flagged = np.asarray([d.uncertain for d in decisions], bool)
        out["capture"][name] = error_capture(wrong, flagged)
        if name != "id_exact":
            wrong_all.append(wrong)
            flagged_all.append(flagged)
    expected_of = {**{k: e for k, (_, e) in checks.items()}, **{k: Reason.UNSAFE.value for k in unsafe_sets}}
    for name, expected in expected_of.items():
        decisions = decided[name] if name in unsafe_sets else router.route_batch(checks[name][0])
        if expected == NOT_UNSAFE:
            right = np.asarray([d.reason is not Reason.UNSAFE for d in decisions], bool)
        else:
            right = np.asarray([d.route is None and d.reason.value == expected for d in decisions], bool)
        out["reason_accuracy"][name] = float(right.mean()) if right.size else float("nan")
        out["outcomes"][name] = _reasons(decisions)
        if name in checks and expected != NOT_UNSAFE:  # held-out background sources
            wrong = np.asarray([d.route is not None for d in decisions], bool)
            flagged = np.asarray([d.uncertain for d in decisions], bool)
            out["capture"][name] = error_capture(wrong, flagged)
            wrong_all.append(wrong)
            flagged_all.append(flagged)
    if wrong_all:
        out["capture"]["held_out_all"] = error_capture(np.concatenate(wrong_all), np.concatenate(flagged_all))
    return out
