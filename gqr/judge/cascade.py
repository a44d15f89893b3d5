"""The router + judge cascade, measured: what the judge adds on a labelled set, and which
uncertain zone earns its cost.

Everything here works on arrays of rows (pure numpy, no I/O) except ``judge_rows``, which
asks a ``JudgeClient``:

- ``Rows``: per row, the top domain probability ``p``, the group (``ID_GROUP`` for in-domain
  rows, else the OOD set or background class), whether the router was right, whether the
  judge's verdict is right (NaN where the judge was not asked) and whether the row may be
  escalated at all (invalid input never is).
- ``cascade_scores(rows, low, high)``: ID accuracy, OOD accuracy (the mean over OOD groups),
  GQR (their harmonic mean) and the escalated share when the rows with ``low <= p < high``
  go to the judge. Where the judge answered only a seeded sample of a group's escalated rows,
  the group's other escalated rows are scored at the judge's accuracy on that sample (an
  unbiased estimate; exact when every escalated row was judged).
- ``choose_band(rows, max_share)``: the band on a 0.01 grid that maximises the cascade's GQR
  with at most ``max_share`` of the rows escalated (and, among equals, escalates fewest).

Choose the band on validation rows, never on a test set. ``choose_cascade_zone`` does the
whole job for a trained router and its validation ``TrainingSet``: it judges a seeded,
stratified sample of the rows in a search region and returns the band to store as the
guard's ``uncertain_low`` / ``uncertain_high``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gqr.metrics import harmonic_mean

__all__ = [
    "ID_GROUP",
    "Rows",
    "cascade_scores",
    "choose_band",
    "choose_cascade_zone",
    "judge_rows",
    "rows_from_decisions",
    "stratified_sample",
]

#: The group of in-domain rows; every other group is an OOD set (or background class).
ID_GROUP = "in_domain"
GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)


@dataclass
class Rows:
    """One labelled set (or several) as the cascade sees it; all arrays have one entry per row."""

    p: np.ndarray
    group: np.ndarray
    router_right: np.ndarray
    judge_right: np.ndarray
    escalable: np.ndarray

    def __post_init__(self) -> None:
        self.p = np.asarray(self.p, dtype=np.float64)
        self.group = np.asarray(self.group, dtype=object)
        self.router_right = np.asarray(self.router_right, dtype=bool)
        self.judge_right = np.asarray(self.judge_right, dtype=np.float64)
        self.escalable = np.asarray(self.escalable, dtype=bool)
        n = len(self.p)
        if any(len(a) != n for a in (self.group, self.router_right, self.judge_right, self.escalable)):
            raise ValueError("every array of Rows needs one entry per row")

    def __len__(self) -> int:
        return len(self.p)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.group.tolist()))


def rows_from_decisions(decisions: Sequence[Any], truth: Sequence[str | None], group: str | Sequence[str],
                        labels: Sequence[str]) -> Rows:
    """``Rows`` from a router's plain decisions (``truth``: the domain, or None for a row that
    must be rejected); ``judge_right`` is all NaN until ``judge_rows`` fills it."""
    n = len(decisions)
    groups = [group] * n if isinstance(group, str) else list(group)
    p = [max((d.scores.get(name, 0.0) for name in labels), default=0.0) if d.scores else 0.0 for d in decisions]
    return Rows(
        p=np.asarray(p),
        group=np.asarray(groups, dtype=object),
        router_right=np.asarray([d.route == t for d, t in zip(decisions, truth)]),
        judge_right=np.full(n, np.nan),
        escalable=np.asarray([d.reason.value != "invalid_input" for d in decisions]),
    )


def _in_band(rows: Rows, low: float, high: float) -> np.ndarray:
    return rows.escalable & (rows.p >= low) & (rows.p < high)


def cascade_scores(rows: Rows, low: float, high: float, *, escalated: np.ndarray | None = None,
                   prior_weight: float = 0.0) -> dict[str, Any]:
    """The cascade with the band ``[low, high)`` escalated (or exactly the rows of the mask
    ``escalated``): accuracy per group, ID and OOD accuracy, GQR, the escalated share, and how
    sure that is (``judged``: the share of escalated rows the judge really answered; 1.0
    means no estimate).

    ``prior_weight`` > 0 shrinks the judge's estimated accuracy on a group's escalated rows
    towards its accuracy on all that group's judged rows, as if that many more rows had been
    judged at it (only where the band holds unjudged rows): with a small sample, a band
    search would otherwise chase a lucky handful of verdicts."""
    band = _in_band(rows, low, high) if escalated is None else np.asarray(escalated, dtype=bool)
    judged = band & ~np.isnan(rows.judge_right)
    answered = ~np.isnan(rows.judge_right)
    per_group: dict[str, float] = {}
    router_group: dict[str, float] = {}
    for g in rows.groups:
        mine = rows.group == g
        n = int(mine.sum())
        outside = float(rows.router_right[mine & ~band].sum())
        in_band = int((mine & band).sum())
        sample = rows.judge_right[mine & judged]
        if in_band and sample.size == in_band:
            inside = float(sample.sum())
        elif in_band and (sample.size or prior_weight > 0) and (mine & answered).any():
            prior = float(rows.judge_right[mine & answered].mean())
            inside = in_band * (float(sample.sum()) + prior_weight * prior) / (sample.size + prior_weight)
        else:  # nothing escalated, or no verdict: the router's own call
            inside = float(rows.router_right[mine & band].sum())
        per_group[g] = (outside + inside) / n if n else float("nan")
        router_group[g] = float(rows.router_right[mine].mean()) if n else float("nan")
    return {
        "low": float(low), "high": float(high),
        **_summary(per_group),
        "router": _summary(router_group),
        "groups": per_group,
        "escalated": int(band.sum()),
        "escalated_share": float(band.mean()) if len(rows) else 0.0,
        "judged": float(judged.sum() / band.sum()) if band.any() else 1.0,
    }


def _summary(per_group: Mapping[str, float]) -> dict[str, float]:
    id_acc = per_group.get(ID_GROUP, float("nan"))
    ood = [v for g, v in per_group.items() if g != ID_GROUP]
    ood_acc = float(np.mean(ood)) if ood else float("nan")
    return {"id_accuracy": id_acc, "ood_accuracy": ood_acc, "gqr_score": harmonic_mean(id_acc, ood_acc)}


def choose_band(rows: Rows, max_share: float = 0.10, *, region: tuple[float, float] = (0.0, 1.0),
                min_gain: float = 0.0, prior_weight: float = 10.0) -> dict[str, Any]:
    """The band ``[low, high)`` (0.01 grid, inside ``region``) that maximises the cascade's GQR
    on ``rows`` with at most ``max_share`` of them escalated; ties go to the band that
    escalates fewer rows. When no band beats the router alone by more than ``min_gain`` GQR,
    the empty band (0, 0) is returned: the judge does not earn its cost there.

    Rows in a candidate band without a verdict are scored at the judge's accuracy on the
    judged rows of the same group in that band, shrunk towards the judge's accuracy on all the
    group's judged rows by ``prior_weight`` (see ``cascade_scores``); give every row of
    ``region`` a verdict, or a seeded stratified sample of them (``stratified_sample``).
    """
    if not 0 < max_share <= 1:
        raise ValueError(f"max_share={max_share!r}: expected a fraction in (0, 1]")
    lo_r, hi_r = region
    grid = GRID[(GRID >= lo_r - 1e-9) & (GRID <= hi_r + 1e-9)]
    base = cascade_scores(rows, 0.0, 0.0)
    best = base
    limit = max_share * len(rows)
    order = np.sort(rows.p[rows.escalable])
    count = np.searchsorted(order, grid, side="left")
    for i in range(len(grid)):
        for j in range(i + 1, len(grid)):
            if count[j] - count[i] > limit:
                break
            if count[j] == count[i]:
                continue
            s = cascade_scores(rows, float(grid[i]), float(grid[j]), prior_weight=prior_weight)
            if (s["gqr_score"] > best["gqr_score"] + 1e-12
                    or (abs(s["gqr_score"] - best["gqr_score"]) <= 1e-12 and s["escalated"] < best["escalated"])):
                best = s
    if best["gqr_score"] - base["gqr_score"] <= min_gain:
        best = base
    return {**best, "max_share": max_share, "region": [float(lo_r), float(hi_r)], "prior_weight": prior_weight,
            "gain": best["gqr_score"] - base["gqr_score"]}


def stratified_sample(rows: Rows, per_group: int | Mapping[str, int], *, region: tuple[float, float] = (0.0, 1.0),
                      seed: int = 0) -> np.ndarray:
    """Indices of a seeded sample of the escalable rows inside ``region``: ``per_group`` rows of
    each group (or, from a mapping, the number it gives each group it names; all of them when a
    group has fewer), in a seeded random order (a run cut short still leaves a random sample).

    Each group's rows are visited in one seeded permutation that does not depend on the model,
    and the first ones inside ``region`` are taken: a retrained model, whose region holds
    mostly the same rows, gets mostly the same sample (and the judge's cached answers)."""
    rng = np.random.default_rng(seed)
    inside = rows.escalable & (rows.p >= region[0]) & (rows.p < region[1])
    picked: list[int] = []
    for g in (list(per_group) if isinstance(per_group, Mapping) else rows.groups):
        order = rng.permutation(np.flatnonzero(rows.group == g))
        k = per_group.get(g, 0) if isinstance(per_group, Mapping) else per_group
        if k > 0:
            picked += order[inside[order]][:k].tolist()
    out = np.asarray(picked, dtype=np.int64)
    rng.shuffle(out)
    return out


def judge_rows(rows: Rows, indices: Sequence[int], texts: Sequence[str], truth: Sequence[str | None],
               judge: Any, progress: Callable[[int, int], None] | None = None, chunk: int = 16) -> dict[str, int]:
    """Ask ``judge`` (a ``JudgeClient``) about ``texts[i]`` for each index and fill
    ``rows.judge_right`` (1.0 when its verdict equals ``truth[i]``: the domain, or None for a
    rejection). A row the judge failed on stays NaN. Returns counts of asked, answered and failed."""
    idx = [int(i) for i in indices]
    answered = failed = 0
    for start in range(0, len(idx), chunk):
        part = idx[start:start + chunk]
        for i, verdict in zip(part, judge.judge_batch([texts[i] for i in part])):
            if isinstance(verdict, Exception):
                failed += 1
                continue
            rows.judge_right[i] = float(verdict.label == truth[i])
            answered += 1
        if progress is not None:
            progress(min(start + chunk, len(idx)), len(idx))
    return {"asked": len(idx), "answered": answered, "failed": failed}


#: Validation rows judged per group by ``choose_cascade_zone``: in-domain rows and the larger
#: background classes; other_language is rarely uncertain.
ZONE_SAMPLE = {ID_GROUP: 80, "other_language": 4, "out_of_domain": 45, "unsafe": 30}


def choose_cascade_zone(router: Any, validation: Any, judge: Any, *, max_share: float = 0.10,
                        region: tuple[float, float] = (0.10, 0.90),
                        per_group: int | Mapping[str, int] = ZONE_SAMPLE, max_calls: int | None = None,
                        seed: int = 0, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The uncertain band for ``router`` + ``judge``, chosen on ``validation`` (a
    ``gqr.training.TrainingSet``: its domain rows are the ID group, each background class an
    OOD group). The judge answers a seeded sample of the rows of each group inside ``region``
    (``per_group``: a count for every group, or a mapping; give the judge a persistent cache,
    ``JudgeConfig(cache_path=...)``, and ``max_concurrency=1`` for a local llama.cpp server).
    Sampled rows the cache already answered are always used, and at most ``max_calls`` new
    calls are made (None: the whole sample; 0: the cache only). The band maximises the
    cascade's validation GQR with at most ``max_share`` of the validation rows escalated.

    Returns ``choose_band``'s result plus ``router`` (the router alone), ``current`` (the
    cascade with the router's own uncertain zone: its error model, or its band) and ``calls``.
    Store the band with ``dataclasses.replace(guard, uncertain_low=..., uncertain_high=...,
    error_model=None)`` at training time.
    """
    say = progress or (lambda m: None)
    texts: list[str] = []
    truth: list[str | None] = []
    groups: list[str] = []
    for domain, items in validation.domains.items():
        texts += items
        truth += [domain] * len(items)
        groups += [ID_GROUP] * len(items)
    for name, items in validation.background.items():
        texts += items
        truth += [None] * len(items)
        groups += [name] * len(items)
    plain = router.with_options(uncertain="model", judge=None) if hasattr(router, "with_options") else router
    decisions = plain.route_batch(texts)
    rows = rows_from_decisions(decisions, truth, groups, router.labels)
    sample = stratified_sample(rows, per_group, region=region, seed=seed)
    hits = [judge.cached(texts[i]) is not None for i in sample]
    budget = len(sample) if max_calls is None else max_calls
    pick, new = [], 0
    for i, hit in zip(sample.tolist(), hits):
        if hit or new < budget:
            pick.append(i)
            new += 0 if hit else 1
    say(f"judging {len(pick)} of {len(sample)} sampled validation rows in [{region[0]:.2f}, {region[1]:.2f}) "
        f"({sum(hits)} from the cache)")
    calls = judge_rows(rows, pick, texts, truth, judge,
                       progress=lambda done, total: say(f"judged {done}/{total}") if done % 64 == 0 else None)
    chosen = choose_band(rows, max_share, region=region)
    own = np.asarray([d.uncertain and d.reason.value != "invalid_input" for d in decisions], dtype=bool)
    current = cascade_scores(rows, 0.0, 0.0, escalated=own, prior_weight=chosen["prior_weight"])
    return {**chosen, "current": current, "calls": calls, "rows": len(rows), "sample": len(sample),
            "per_group": dict(per_group) if isinstance(per_group, Mapping) else per_group, "seed": seed}


# -- the measurement behind ``gqr bench --judge-url`` ---------------------------------------
def measure_cascade(router: Any, scopes: Mapping[str, Mapping[str, tuple[Sequence[str], Sequence[str | None]]]],
                    id_sets: Sequence[str], judge: Any, *, band: tuple[float, float] | None = None,
                    max_calls: int | None = None, seed: int = 0, chunk: int = 32,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Router alone vs router + judge on each scope (a name -> ``{set: (texts, truth)}``; the
    sets named in ``id_sets`` are in-domain, truth a domain; the others must be rejected,
    truth None), through the serving path: a ``Router`` with ``uncertain="judge"`` on the
    same model, with the guard's uncertain zone replaced by the band ``band`` when given.

    ``judge`` is a ``JudgeClient`` for the router. Escalated rows are asked in one seeded
    random order over all scopes; rows the persistent cache already answered are always
    used, and at most ``max_calls`` new calls are made (None: every escalated row). A row not
    asked is scored at the judge's accuracy on the asked rows of its set (``cascade_scores``),
    and the result says ``estimate``. Returns, per scope, the router's and the cascade's
    scores and per-set accuracies, the escalated share, the judge's accuracy on the escalated
    rows it answered, errors fixed and right answers broken, fallbacks, calls per 1,000 queries
    and the per-set cascade decisions (``decisions``; None where a row was not asked).
    """
    from dataclasses import replace

    say = progress or (lambda m: None)
    guard = router.guard
    # an explicit band replaces the model's own zone (its error model too)
    banded = guard if band is None else replace(guard, uncertain_low=float(band[0]), uncertain_high=float(band[1]),
                                                error_model=None)
    plain = type(router)(router.scorer, banded, uncertain="model", rules=router.rules, max_chars=router.max_chars,
                         info=router.info)
    cascade = plain.with_options(uncertain="judge", judge=judge)
    state: dict[str, dict[str, Any]] = {}
    order: list[tuple[str, str, int]] = []
    for scope, sets in scopes.items():
        for name, (texts, truth) in sets.items():
            decisions = plain.route_batch(list(texts))
            group = ID_GROUP if name in id_sets else name
            rows = rows_from_decisions(decisions, truth, group, router.labels)
            esc = np.asarray([d.uncertain and d.reason.value != "invalid_input" for d in decisions], dtype=bool)
            state.setdefault(scope, {})[name] = {"texts": list(texts), "truth": list(truth), "rows": rows,
                                                 "escalated": esc, "plain": decisions,
                                                 "cascade": [None] * len(texts)}
            order += [(scope, name, int(i)) for i in np.flatnonzero(esc)]
    perm = np.random.default_rng(seed).permutation(len(order))
    order = [order[i] for i in perm]
    cached = [judge.cached(state[s][n]["texts"][i]) is not None for s, n, i in order]
    budget = len(order) if max_calls is None else max(0, int(max_calls))
    ask: list[tuple[str, str, int]] = []
    new = 0
    for item, hit in zip(order, cached):
        if hit:
            ask.append(item)
        elif new < budget:
            ask.append(item)
            new += 1
    say(f"{len(order)} escalated rows: {sum(cached)} answered by the cache, {new} to ask the judge")
    seconds: list[float] = []
    for start in range(0, len(ask), chunk):
        part = ask[start:start + chunk]
        out = cascade.route_batch([state[s][n]["texts"][i] for s, n, i in part])
        for (s, n, i), d in zip(part, out):
            st = state[s][n]
            st["cascade"][i] = d
            st["rows"].judge_right[i] = float(d.route == st["truth"][i])
            took = judge.stored_seconds(st["texts"][i])
            if took is not None:
                seconds.append(took)
        say(f"judge: {min(start + chunk, len(ask))}/{len(ask)} escalated rows decided")
    result: dict[str, Any] = {"band": None if band is None else [float(band[0]), float(band[1])], "seed": seed, "max_calls": max_calls,
                              "escalated_rows": len(order), "asked": len(ask), "new_calls": new,
                              "call_seconds": _quantiles(seconds), "scopes": {}}
    merged: dict[str, dict[str, list[Any] | None]] = {}
    for scope, sets in state.items():
        result["scopes"][scope] = _scope_summary(sets)
        merged[scope] = {name: ([c if c is not None else d for c, d in zip(st["cascade"], st["plain"])]
                                if all(c is not None for c, e in zip(st["cascade"], st["escalated"]) if e) else None)
                         for name, st in sets.items()}
    result["decisions"] = merged
    return result


def _quantiles(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "p50_s": float(np.percentile(a, 50)), "p90_s": float(np.percentile(a, 90)),
            "p99_s": float(np.percentile(a, 99)), "mean_s": float(a.mean())}


def _scope_summary(sets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    from gqr.decision import Source

    per_set_router: dict[str, float] = {}
    per_set_cascade: dict[str, float] = {}
    rows_total = escalated = answered = judge_right = router_right = fixed = broken = fallbacks = 0
    asked_total = 0
    id_name = None
    for name, st in sets.items():
        rows: Rows = st["rows"]
        esc = st["escalated"]
        s = cascade_scores(rows, 0.0, 0.0, escalated=esc)
        (group,) = set(rows.group.tolist()) or {name}
        if group == ID_GROUP:
            id_name = name
        per_set_router[name] = float(rows.router_right.mean()) if len(rows) else float("nan")
        per_set_cascade[name] = s["groups"].get(group, float("nan"))
        asked = esc & ~np.isnan(rows.judge_right)
        decided = [d for d in st["cascade"] if d is not None]
        rows_total += len(rows)
        escalated += int(esc.sum())
        asked_total += int(asked.sum())
        fallbacks += sum(1 for d in decided if d.source is Source.FALLBACK)
        answered += sum(1 for d in decided if d.source is Source.JUDGE)
        jr = rows.judge_right[asked] > 0.5
        rr = rows.router_right[asked]
        judge_right += int(jr.sum())
        router_right += int(rr.sum())
        fixed += int((jr & ~rr).sum())
        broken += int((~jr & rr).sum())
    ood = [n for n in sets if n != id_name]

    def summary(per_set: Mapping[str, float]) -> dict[str, float]:
        id_acc = per_set.get(id_name, float("nan")) if id_name else float("nan")
        ood_acc = float(np.mean([per_set[n] for n in ood])) if ood else float("nan")
        return {"id_accuracy": id_acc, "ood_accuracy": ood_acc, "gqr_score": harmonic_mean(id_acc, ood_acc)}

    scale = escalated / asked_total if asked_total else 0.0
    return {
        "rows": rows_total,
        "escalated": escalated,
        "escalated_share": escalated / rows_total if rows_total else 0.0,
        "calls_per_1000": 1000.0 * escalated / rows_total if rows_total else 0.0,
        "asked": asked_total,
        "estimate": asked_total < escalated,
        "router": {**summary(per_set_router), "sets": per_set_router},
        "cascade": {**summary(per_set_cascade), "sets": per_set_cascade},
        "judge_answered": answered,
        "fallbacks": fallbacks,
        "judge_accuracy": judge_right / asked_total if asked_total else float("nan"),
        "router_accuracy_on_escalated": router_right / asked_total if asked_total else float("nan"),
        "fixed": fixed,
        "broken": broken,
        "fixed_estimated": round(fixed * scale, 1),
        "broken_estimated": round(broken * scale, 1),
        "lowers_accuracy": {n: per_set_cascade[n] - per_set_router[n] for n in sets
                            if per_set_cascade[n] < per_set_router[n] - 1e-12},
    }
