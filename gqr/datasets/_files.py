"""Labelled data from the user's own files: JSONL, JSON, CSV/TSV, Parquet, plain text, or a
directory of such files (one label per file)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from gqr.datasets._readers import FORMATS, detect_format, read_records
from gqr.datasets._types import LabeledData, RowError, SourceInfo
from gqr.errors import DataFormatError, InvalidInputError
from gqr.text import bad_utf8

__all__ = ["load_labeled_file", "sha256_file"]

_COUNTED = ("source", "domain", "lang")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_labeled_file(
    path: str | os.PathLike[str],
    text_field: str = "text",
    label_field: str = "label",
    format: str | None = None,
    *,
    label: str | None = None,
    labels: Collection[str] | None = None,
    on_error: str = "raise",
) -> LabeledData:
    """Read texts and labels from a file or a directory of files.

    Formats (from the suffix, or ``format=``): ``jsonl``, ``json`` (array of objects or JSON
    lines), ``csv``, ``tsv``, ``parquet`` (needs ``gqr[files]``) and ``txt`` (one text per
    line). The label comes from ``label`` if given, else from ``label_field``; a ``txt`` file
    without ``label`` uses its file stem. For a directory, every data file is read with its
    stem as the label (other files are listed in ``ignored_files``).

    ``labels`` restricts the allowed labels. ``on_error="skip"`` drops bad rows (invalid UTF-8
    or JSON, missing or empty values, unknown labels) and lists them in ``skipped``;
    ``"raise"`` (default) raises ``DataFormatError`` naming the file, line and column.
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file or directory")
    allowed = frozenset(str(x) for x in labels) if labels is not None else None
    if p.is_dir():
        if label is not None:
            raise InvalidInputError(f"{p} is a directory: labels come from the file stems, do not pass label=")
        return _read_dir(p, text_field, format, allowed, on_error)
    part = read_file(p, text_field, label_field, format, label=label, labels=allowed, on_error=on_error)
    return part.to_data()


@dataclass
class _Part:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    row_sources: list[str] = field(default_factory=list)  # each row's "source" field ("" when absent)

    def extend(self, other: _Part) -> None:
        self.texts += other.texts
        self.labels += other.labels
        self.skipped += other.skipped
        self.sources += other.sources
        self.ignored += other.ignored
        self.row_sources += other.row_sources

    def to_data(self) -> LabeledData:
        return LabeledData(tuple(self.texts), tuple(self.labels), tuple(self.sources),
                           tuple(self.skipped), tuple(self.ignored))


def _read_dir(root: Path, text_field: str, format: str | None, allowed: frozenset[str] | None,
              on_error: str) -> LabeledData:
    out = _Part()
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.is_dir():
            continue
        if format is None and child.suffix.lower() not in FORMATS:
            out.ignored.append(str(child))
            continue
        # The label column is not needed: the stem names the class.
        out.extend(read_file(child, text_field, None, format, label=child.stem, labels=allowed, on_error=on_error))
    if not out.sources:
        raise DataFormatError(f"{root}: no data files (looked for {sorted(FORMATS)})")
    return out.to_data()


def read_file(
    path: Path,
    text_field: str,
    label_field: str | None,
    format: str | None,
    *,
    label: str | None = None,
    labels: frozenset[str] | None = None,
    on_error: str = "raise",
    role: str = "user",
) -> _Part:
    """Read one file. With ``label_field=None`` and no ``label``, every label is ``""``."""
    fmt = detect_format(path, format)
    if fmt == "txt":
        text_field = "text"
        label = label if label is not None else path.stem
    if label is not None and labels is not None and label not in labels:
        raise DataFormatError(f"{path}: label {label!r} is not one of the allowed labels {sorted(labels)}")
    use_label_col = label is None and label_field is not None
    columns = [text_field] + ([label_field] if use_label_col and label_field else [])
    unit, records = read_records(path, fmt, columns)
    out = _Part()
    counts: dict[str, dict[str, int]] = {}

    def fail(row: int, column: str | None, message: str, kind: str = unit) -> None:
        err = RowError(str(path), row, column, message, kind)
        if on_error == "raise":
            raise DataFormatError(f"{err}; fix the file or pass on_error='skip' to drop such rows")
        out.skipped.append(err)

    for row, rec in records:
        if isinstance(rec, RowError):
            fail(rec.row, rec.column, rec.message, rec.unit)
            continue
        text = rec.get(text_field)
        if text_field not in rec:
            fail(row, text_field, f"column {text_field!r} is missing; the row has {sorted(rec)}")
            continue
        if not isinstance(text, str):
            fail(row, text_field, "text is null" if text is None else f"expected text, got {type(text).__name__}")
            continue
        problem = bad_utf8(text)
        if problem or not text or text.isspace():
            fail(row, text_field, f"text is {problem}" if problem else "text is empty")
            continue
        if use_label_col:
            value, problem = _label(rec, label_field)  # type: ignore[arg-type]
            if problem:
                fail(row, label_field, problem)
                continue
        else:
            value = label if label is not None else ""
        if labels is not None and value not in labels:
            fail(row, label_field, f"unknown label {value!r}; expected one of {sorted(labels)}")
            continue
        for name in _COUNTED:
            v = rec.get(name)
            if isinstance(v, str):
                tally = counts.get(name)
                if tally is None:
                    tally = counts[name] = {}
                tally[v] = tally.get(v, 0) + 1
        out.texts.append(text)
        out.labels.append(value)
        source = rec.get("source")
        out.row_sources.append(source if isinstance(source, str) else "")
    if not out.texts:
        detail = f" ({len(out.skipped)} bad rows skipped; first: {out.skipped[0]})" if out.skipped else ""
        raise DataFormatError(f"{path}: no usable rows{detail}")
    if any(out.labels) and label_field not in counts:
        counts["label"] = dict(Counter(out.labels))
    out.sources.append(SourceInfo(
        name=path.stem, role=role, rows=len(out.texts), path=str(path), sha256=sha256_file(path),
        field_counts=counts,
    ))
    return out


def _label(rec: dict[str, object], label_field: str) -> tuple[str, str | None]:
    """The row's label as text, and a message when it is unusable."""
    if label_field not in rec:
        return "", f"column {label_field!r} is missing; the row has {sorted(rec)}"
    value = rec[label_field]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return "", f"label is {value!r} ({type(value).__name__}); expected text or an integer"
    text = str(value).strip()
    problem = bad_utf8(text)
    if problem:
        return "", f"label is {problem}"
    return text, None if text else "label is empty"
