"""Leak-free, deterministic train / validation / test splits of the training pools, holding out
whole sources where a pool has enough of them.

Every text is keyed by ``gqr.text.normalize_for_dedup``. A key seen in any evaluation set
(the ID test rows and the OOD test sets) is removed from every split; a key seen twice under
one label is kept once (the first pool in order wins); a key seen under two labels is dropped
everywhere (its label is ambiguous). Each key thus lands in exactly one split. Pools are split
separately (stratified by pool, hence by class) with a generator seeded by ``(seed,
crc32(pool name))``, so adding a pool does not reshuffle the others; rows keep source order.

With ``by_source`` (the default), a pool whose rows name their ``source`` sends whole sources
to test and validation, so those splits measure wording and topics the router never saw, as
a new user's queries are. A split takes sources until it holds its share of the pool, never
more than 2.5 shares; a pool with fewer than three sources, or none small enough, is split by
rows (``Splits.by_source`` says which pools were split by source).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gqr.datasets._registry import BACKGROUND_CLASSES
from gqr.datasets._types import Benchmark, LabeledData, Pool, SourceInfo
from gqr.errors import DataFormatError, InvalidInputError
from gqr.text import normalize_for_dedup

__all__ = ["SPLITS", "Removed", "SplitPart", "Splits", "assert_no_leak", "leak_report", "make_splits", "overlap"]

SPLITS = ("train", "validation", "test")
Evaluation = Benchmark | Mapping[str, Iterable[str]]


@dataclass(frozen=True)
class SplitPart:
    """One split: texts per domain and per background class (``TrainingSet``'s shape)."""

    domains: dict[str, list[str]]
    background: dict[str, list[str]]
    sources: dict[str, list[str]] = field(default_factory=dict)
    """Per label, each row's source (parallel to its texts; ``""`` when unknown)."""

    def __len__(self) -> int:
        return sum(map(len, self.domains.values())) + sum(map(len, self.background.values()))

    def texts_and_labels(self) -> tuple[list[str], list[str]]:
        """Flat texts and labels, domains first."""
        texts: list[str] = []
        labels: list[str] = []
        for group in (self.domains, self.background):
            for label, rows in group.items():
                texts += rows
                labels += [label] * len(rows)
        return texts, labels

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in {**self.domains, **self.background}.items()}


@dataclass(frozen=True)
class Removed:
    """Rows ``make_splits`` dropped, and why."""

    empty: int = 0  # nothing left after normalisation
    duplicates: int = 0  # the same normalised text again, same label
    conflicts: int = 0  # the same normalised text under two labels (all copies dropped)
    evaluation: dict[str, int] = field(default_factory=dict)  # evaluation set -> rows removed
    by_pool: dict[str, dict[str, int]] = field(default_factory=dict)  # pool -> reason -> rows

    @property
    def total(self) -> int:
        return self.empty + self.duplicates + self.conflicts + sum(self.evaluation.values())

    def to_dict(self) -> dict[str, Any]:
        return {"empty": self.empty, "duplicates": self.duplicates, "conflicts": self.conflicts,
                "evaluation": dict(self.evaluation), "by_pool": {k: dict(v) for k, v in self.by_pool.items()},
                "total": self.total}


@dataclass(frozen=True)
class Splits:
    """Train / validation / test parts, with what was removed and where each pool went."""

    train: SplitPart
    validation: SplitPart
    test: SplitPart
    removed: Removed
    pool_counts: dict[str, dict[str, int]]  # pool -> split -> rows
    pool_sources: dict[str, SourceInfo]
    seed: int
    fractions: dict[str, float]
    keys: dict[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)
    """Normalised texts of each split (what the leak checks compare)."""
    by_source: frozenset[str] = frozenset()
    """Pools whose validation and test rows come from sources not in training."""

    def part(self, name: str) -> SplitPart:
        if name not in SPLITS:
            raise KeyError(f"no split {name!r}; choose from {list(SPLITS)}")
        return getattr(self, name)  # type: ignore[no-any-return]

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts for reports and the artifact's ``training.data``."""
        return {
            "seed": self.seed,
            "fractions": dict(self.fractions),
            "rows": {s: self.part(s).counts() for s in SPLITS},
            "pools": {k: dict(v) for k, v in self.pool_counts.items()},
            "held_out_by_source": sorted(self.by_source),
            "pool_sha256": {k: v.sha256 for k, v in self.pool_sources.items() if v.sha256},
            "removed": self.removed.to_dict(),
        }


def _pools(data: Benchmark | LabeledData | Sequence[Pool]) -> list[Pool]:
    if isinstance(data, Benchmark):
        return list(data.pools)
    if isinstance(data, LabeledData):
        info = data.sources[0] if len(data.sources) == 1 else SourceInfo("user", "user", len(data))
        return [
            Pool(label, label, "background" if label in BACKGROUND_CLASSES else "domain", tuple(texts), info)
            for label, texts in data.by_label().items()
        ]
    return list(data)


def _evaluation(data: object, exclude: Evaluation | Iterable[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = data.evaluation_texts() if isinstance(data, Benchmark) else {}
    if isinstance(exclude, Benchmark):
        exclude = exclude.evaluation_texts()
    if isinstance(exclude, Mapping):
        for name, texts in exclude.items():
            out.setdefault(name, []).extend(texts)
    elif exclude is not None:
        if isinstance(exclude, str):
            raise InvalidInputError("exclude must be a collection of texts, not one string")
        out.setdefault("excluded", []).extend(exclude)
    return out


def make_splits(
    data: Benchmark | LabeledData | Sequence[Pool],
    *,
    validation: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    exclude: Evaluation | Iterable[str] | None = None,
    by_source: bool = True,
) -> Splits:
    """Split the training pools of ``data`` into train / validation / test (module docstring).

    For a ``Benchmark`` its evaluation texts are always excluded; ``exclude`` adds more
    (a ``Benchmark``, ``{set name: texts}`` or plain texts), e.g. GQR-Bench's texts when
    training on user files. Pools with a fixed ``split`` keep it; ``control`` pools are never
    split (they are evaluation sets). ``by_source``: see the module docstring.
    """
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise InvalidInputError(f"need 0 <= validation, test and validation + test < 1; got {validation}, {test}")
    pools = [p for p in _pools(data) if p.kind != "control"]
    if not pools:
        raise DataFormatError("no training pools to split: give a train dir or labelled data")
    names = [p.name for p in pools]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"pool names must be unique, got {names}")
    eval_key: dict[str, str] = {}
    for set_name, texts in _evaluation(data, exclude).items():
        for text in texts:
            eval_key.setdefault(normalize_for_dedup(text), set_name)
    kept, kept_keys, kept_sources, removed = _dedup(pools, eval_key)

    parts = {s: SplitPart({}, {}, {}) for s in SPLITS}
    pool_counts: dict[str, dict[str, int]] = {}
    split_keys: dict[str, set[str]] = {s: set() for s in SPLITS}
    grouped: set[str] = set()
    for pool in pools:
        sources = kept_sources[pool.name]
        assignment = _assign_sources(sources, pool, validation, test, seed) if by_source else None
        if assignment is None:
            assignment = _assign(len(kept[pool.name]), pool, validation, test, seed)
        else:
            grouped.add(pool.name)
        pool_counts[pool.name] = {}
        for split in SPLITS:
            idx = assignment[split]
            group = parts[split].domains if pool.kind == "domain" else parts[split].background
            group.setdefault(pool.label, []).extend(kept[pool.name][i] for i in idx)
            parts[split].sources.setdefault(pool.label, []).extend(sources[i] for i in idx)
            pool_counts[pool.name][split] = len(idx)
            split_keys[split].update(kept_keys[pool.name][i] for i in idx)
    for part in parts.values():  # background classes in the fixed order, empty ones dropped
        ordered = {c: part.background[c] for c in BACKGROUND_CLASSES if c in part.background}
        ordered.update({c: v for c, v in part.background.items() if c not in ordered})
        part.background.clear()
        part.background.update({c: v for c, v in ordered.items() if v})
        for c in [c for c, v in part.domains.items() if not v]:
            del part.domains[c]
        for c in [c for c, v in part.sources.items() if not v]:
            del part.sources[c]
    return Splits(parts["train"], parts["validation"], parts["test"], removed, pool_counts,
                  {p.name: p.info for p in pools}, seed, {"validation": validation, "test": test},
                  {s: frozenset(k) for s, k in split_keys.items()}, frozenset(grouped))


def _dedup(pools: list[Pool], eval_key: dict[str, str]
           ) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]], Removed]:
    """Texts (with keys and sources) each pool keeps after dropping empty, evaluation,
    conflicting and duplicate rows, and the count of each."""
    keys = {pool.name: [normalize_for_dedup(t) for t in pool.texts] for pool in pools}
    labels_of: dict[str, set[str]] = {}
    for pool in pools:
        for key in set(keys[pool.name]):
            labels_of.setdefault(key, set()).add(pool.label)
    seen: set[str] = set()
    kept: dict[str, list[str]] = {}
    kept_keys: dict[str, list[str]] = {}
    kept_sources: dict[str, list[str]] = {}
    by_pool: dict[str, dict[str, int]] = {}
    evaluation: dict[str, int] = {}
    totals = {"empty": 0, "duplicates": 0, "conflicts": 0}
    for pool in pools:
        rows = kept.setdefault(pool.name, [])
        row_keys = kept_keys.setdefault(pool.name, [])
        row_sources = kept_sources.setdefault(pool.name, [])
        sources = pool.sources if len(pool.sources) == len(pool.texts) else ("",) * len(pool.texts)
        dropped = by_pool.setdefault(pool.name, {})
        for text, key, source in zip(pool.texts, keys[pool.name], sources, strict=True):
            if not key:
                reason = "empty"
            elif key in eval_key:
                reason = f"evaluation:{eval_key[key]}"
                evaluation[eval_key[key]] = evaluation.get(eval_key[key], 0) + 1
            elif len(labels_of[key]) > 1:
                reason = "conflicts"
            elif key in seen:
                reason = "duplicates"
            else:
                seen.add(key)
                rows.append(text)
                row_keys.append(key)
                row_sources.append(source)
                continue
            if reason in totals:
                totals[reason] += 1
            dropped[reason] = dropped.get(reason, 0) + 1
    removed = Removed(totals["empty"], totals["duplicates"], totals["conflicts"], evaluation,
                      {k: v for k, v in by_pool.items() if v})
    return kept, kept_keys, kept_sources, removed


def _assign_sources(sources: list[str], pool: Pool, validation: float, test: float, seed: int
                    ) -> dict[str, np.ndarray] | None:
    """Whole sources to test, then validation, until each reaches its share of the pool's rows
    (never past 2.5 shares: a larger source stays in training). ``None`` when a pool has fewer
    than three sources or none could be held out."""
    if pool.split is not None or not sources or not all(sources):
        return None
    names, inverse, sizes = np.unique(np.asarray(sources, dtype=object), return_inverse=True, return_counts=True)
    if len(names) < 3:
        return None
    n = len(sources)
    rng = np.random.default_rng([seed, zlib.crc32(pool.name.encode("utf-8")), 1])
    goal = {"test": test * n, "validation": validation * n}
    taken = {"test": 0, "validation": 0}
    where = np.zeros(len(names), dtype=np.int64)  # 0 train, 1 validation, 2 test
    for source in rng.permutation(len(names)):
        for code, split in ((2, "test"), (1, "validation")):
            size = int(sizes[source])
            if taken[split] < goal[split] and taken[split] + size <= 2.5 * goal[split]:
                where[source] = code
                taken[split] += size
                break
    if (test > 0 and taken["test"] == 0) or (validation > 0 and taken["validation"] == 0):
        return None
    row_split = where[inverse.ravel()]
    return {"test": np.flatnonzero(row_split == 2), "validation": np.flatnonzero(row_split == 1),
            "train": np.flatnonzero(row_split == 0)}


def _assign(n: int, pool: Pool, validation: float, test: float, seed: int) -> dict[str, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    if pool.split is not None:
        if pool.split not in SPLITS:
            raise InvalidInputError(f"pool {pool.name!r} has split {pool.split!r}; use one of {list(SPLITS)}")
        return {s: np.arange(n) if s == pool.split else empty for s in SPLITS}
    n_test = int(n * test + 0.5)
    n_val = int(n * validation + 0.5)
    while n_test + n_val >= n and n_test + n_val > 0:  # keep at least one training row
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    rng = np.random.default_rng([seed, zlib.crc32(pool.name.encode("utf-8"))])
    perm = rng.permutation(n)
    return {
        "test": np.sort(perm[:n_test]),
        "validation": np.sort(perm[n_test : n_test + n_val]),
        "train": np.sort(perm[n_test + n_val :]),
    }


def overlap(a: Iterable[str], b: Iterable[str]) -> set[str]:
    """Normalised texts (``normalize_for_dedup``) that occur in both ``a`` and ``b``."""
    keys = {normalize_for_dedup(t) for t in a}
    keys.discard("")
    return keys & {normalize_for_dedup(t) for t in b}


def leak_report(splits: Splits, evaluation: Evaluation) -> dict[str, dict[str, int]]:
    """``{split: {other: shared normalised texts}}`` for every split against each evaluation
    set and against the other splits. All zeros means nothing leaks."""
    sets = evaluation.evaluation_texts() if isinstance(evaluation, Benchmark) else dict(evaluation)
    keys = {
        s: splits.keys.get(s) or {normalize_for_dedup(t) for t in splits.part(s).texts_and_labels()[0]}
        for s in SPLITS
    }
    eval_keys = {name: {normalize_for_dedup(t) for t in texts} for name, texts in sets.items()}
    report: dict[str, dict[str, int]] = {}
    for s in SPLITS:
        row = {name: len(keys[s] & k) for name, k in eval_keys.items()}
        row.update({o: len(keys[s] & keys[o]) for o in SPLITS if o != s})
        report[s] = row
    return report


def assert_no_leak(splits: Splits, evaluation: Evaluation) -> dict[str, dict[str, int]]:
    """Return ``leak_report``; raise ``DataFormatError`` naming every leak if one is not 0."""
    report = leak_report(splits, evaluation)
    leaks = [f"{n} texts of {other} in {s}" for s, row in report.items() for other, n in row.items() if n]
    if leaks:
        raise DataFormatError("evaluation data leaks into the splits: " + "; ".join(leaks))
    return report
