"""The value types of ``gqr.datasets``: labelled rows, pools, OOD sets and the benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gqr.datasets._registry import BACKGROUND_CLASSES, DOMAINS

__all__ = ["Benchmark", "EvalSet", "LabeledData", "Pool", "RowError", "SourceInfo"]


@dataclass(frozen=True)
class RowError:
    """One row that could not be read: where it is and why."""

    file: str
    row: int  # 1-based; a line number (CSV: the line the record starts on) or a Parquet row
    column: str | None
    message: str
    unit: str = "line"  # "line" for text formats, "row" for Parquet

    def __str__(self) -> str:
        col = f", column {self.column!r}" if self.column else ""
        return f"{self.file}: {self.unit} {self.row}{col}: {self.message}"


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of one file or hub table: what was read, and whether it is the copy we know."""

    name: str
    role: str  # ood_test | id_test | eval_only | domain_pool | background_pool | user
    rows: int
    path: str | None = None
    hub_id: str | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    expected_rows: int | None = None
    fidelity: str | None = None
    licence: str | None = None
    field_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def verified(self) -> bool | None:
        """True when sha256 and row count match the registry, False when not, None if unknown."""
        if self.expected_sha256 is None or self.sha256 is None:
            return None
        return self.sha256 == self.expected_sha256 and self.rows == self.expected_rows

    def to_dict(self, top: int | None = 5) -> dict[str, Any]:
        """JSON-ready form; each field's value counts are cut to the ``top`` most common."""
        out: dict[str, Any] = {
            k: v for k, v in self.__dict__.items() if v is not None and k != "field_counts"
        }
        out["verified"] = self.verified
        counts: dict[str, Any] = {}
        for name, values in self.field_counts.items():
            ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = dict(ranked[:top] if top else ranked)
            counts[name] = {"distinct": len(ranked), "top": shown}
        if counts:
            out["field_counts"] = counts
        return out


@dataclass(frozen=True)
class LabeledData:
    """Texts with one string label each, in file order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    sources: tuple[SourceInfo, ...] = ()
    skipped: tuple[RowError, ...] = ()  # rows dropped with ``on_error="skip"``
    ignored_files: tuple[str, ...] = ()  # files of a directory that are not data

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> tuple[str, ...]:
        """Distinct labels in order of first appearance."""
        return tuple(dict.fromkeys(self.labels))

    def by_label(self) -> dict[str, list[str]]:
        """``{label: [texts]}`` in order of first appearance."""
        out: dict[str, list[str]] = {c: [] for c in self.classes}
        for text, label in zip(self.texts, self.labels, strict=True):
            out[label].append(text)
        return out

    def counts(self) -> dict[str, int]:
        return {c: len(t) for c, t in self.by_label().items()}


@dataclass(frozen=True)
class EvalSet:
    """One OOD test set. Evaluation only: never train or tune on it."""

    name: str  # stable gqr name: jigsaw, olid, hatexplain, slovak_hate, dkhate, web_questions, ml_questions
    gqr_key: str  # the reference loader's key (hate_xplain, hate_speech_slovak, ...)
    unsafe: bool  # a toxicity / hate set; the others are benign out-of-domain questions
    texts: tuple[str, ...]
    info: SourceInfo

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Pool:
    """Training texts of one class from one source.

    ``kind`` is ``domain`` (label = a domain), ``background`` (label = one of
    ``out_of_domain``, ``other_language``, ``unsafe``) or ``control`` (evaluation only, never
    trained on). ``split`` fixes the split of every row (the hub's reference train / validation
    parts); ``None`` lets ``make_splits`` choose. ``sources`` names each row's source (empty
    when unknown): ``make_splits`` holds whole sources out.
    """

    name: str
    label: str
    kind: str
    texts: tuple[str, ...]
    info: SourceInfo
    split: str | None = None
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Benchmark:
    """GQR-Bench: the OOD test sets, the in-domain test rows and the training pools."""

    ood_sets: tuple[EvalSet, ...]  # in the reference loader's order
    id_test: LabeledData  # local: the exact 300-row sample; hub: the whole ID test split
    pools: tuple[Pool, ...]
    origin: str  # "local" or "hub"
    data_dir: Path | None = None
    train_dir: Path | None = None
    eval_only: tuple[SourceInfo, ...] = ()  # files read only to exclude them (id/law.jsonl)
    notes: tuple[str, ...] = ()

    @property
    def domains(self) -> tuple[str, ...]:
        """Domains of the ID test rows (the three GQR domains in reference order first)."""
        present = set(self.id_test.labels) | {p.label for p in self.pools if p.kind == "domain"}
        return tuple(d for d in DOMAINS if d in present) + tuple(sorted(present - set(DOMAINS)))

    @property
    def unsafe_sets(self) -> tuple[EvalSet, ...]:
        return tuple(s for s in self.ood_sets if s.unsafe)

    @property
    def safe_sets(self) -> tuple[EvalSet, ...]:
        return tuple(s for s in self.ood_sets if not s.unsafe)

    def ood(self, name: str) -> EvalSet:
        """An OOD set by gqr name or reference key."""
        for s in self.ood_sets:
            if name in (s.name, s.gqr_key, s.gqr_key.strip()):
                return s
        raise KeyError(f"no OOD set {name!r}; choose from {[s.name for s in self.ood_sets]}")

    def evaluation_texts(self) -> dict[str, list[str]]:
        """Every text used for evaluation, by set: ``id_test`` and each OOD set name."""
        out = {"id_test": list(self.id_test.texts)}
        out.update({s.name: list(s.texts) for s in self.ood_sets})
        return out

    def domain_pools(self) -> dict[str, list[str]]:
        """All domain pool texts per domain (not deduplicated: use ``make_splits``)."""
        return _merge(p for p in self.pools if p.kind == "domain")

    def background_pools(self) -> dict[str, list[str]]:
        """All background pool texts per class, in ``BACKGROUND_CLASSES`` order."""
        merged = _merge(p for p in self.pools if p.kind == "background")
        return {c: merged[c] for c in BACKGROUND_CLASSES if c in merged}

    def control_pools(self) -> tuple[Pool, ...]:
        """Evaluation-only control sets (e.g. safe look-alikes: never to be called unsafe)."""
        return tuple(p for p in self.pools if p.kind == "control")

    def info(self, top: int | None = 5) -> dict[str, Any]:
        """Provenance for ``gqr data info``: every file with rows, sha256 and field counts."""
        return {
            "origin": self.origin,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "train_dir": str(self.train_dir) if self.train_dir else None,
            "domains": list(self.domains),
            "ood_sets": [
                {"name": s.name, "gqr_key": s.gqr_key, "unsafe": s.unsafe, **s.info.to_dict(top)}
                for s in self.ood_sets
            ],
            "id_test": {"per_domain": self.id_test.counts(), **_sources(self.id_test, top)},
            "pools": [
                {"name": p.name, "label": p.label, "kind": p.kind, "split": p.split, **p.info.to_dict(top)}
                for p in self.pools
            ],
            "eval_only": [i.to_dict(top) for i in self.eval_only],
            "notes": list(self.notes),
        }


def _merge(pools: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in pools:
        out.setdefault(p.label, []).extend(p.texts)
    return out


def _sources(data: LabeledData, top: int | None) -> dict[str, Any]:
    if len(data.sources) == 1:
        return data.sources[0].to_dict(top)
    return {"rows": len(data), "sources": [s.to_dict(top) for s in data.sources]}
