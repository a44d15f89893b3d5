"""Row readers for JSONL, JSON arrays, CSV/TSV, plain text and Parquet.

Each reader yields ``(row_number, record | RowError)``. Bytes are decoded with
``surrogateescape`` so that a bad byte does not hide the rest of the file: the caller checks
the columns it uses with ``bad_utf8`` and reports the row and column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gqr.datasets._types import RowError
from gqr.errors import DataFormatError, require
from gqr.text import SURROGATE

__all__ = ["FORMATS", "MALFORMED_CSV", "Record", "detect_format", "read_records"]

Record = dict[str, Any]
Row = tuple[int, Record | RowError]

#: File suffix -> format name.
FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}
_BOM = b"\xef\xbb\xbf"
MALFORMED_CSV = "malformed CSV (look for an unclosed quote on or above this line)"
_NAME_FIELDS = "name the right ones with text_field= / label_field= (--text-field / --label-field on the command line)"


def detect_format(path: Path, format: str | None) -> str:
    """The format name for ``path``: ``format`` if given, else from the suffix."""
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt not in set(FORMATS.values()):
            raise DataFormatError(f"unknown format {format!r}; use one of {sorted(set(FORMATS.values()))}")
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataFormatError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            f"rename it to one of {sorted(FORMATS)} (in Python you can also pass format=...)"
        )
    return found


def read_records(path: Path, fmt: str, columns: Sequence[str]) -> tuple[str, Iterator[Row]]:
    """The row unit (``line``, ``item`` or ``row``) and an iterator over the records of
    ``path``. ``columns`` are the fields the caller needs: a table format (CSV, Parquet)
    without one of them fails at once, naming the columns it has."""
    if fmt == "parquet":
        return "row", _parquet(path, columns)
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise DataFormatError(f"{path}: file is empty; it needs at least one row")
    text = data.decode("utf-8", errors="surrogateescape")
    if fmt == "json" and text.lstrip().startswith("["):
        return "item", _json_array(path, text)
    if fmt in ("jsonl", "json"):
        return "line", _jsonl(path, text)
    if fmt in ("csv", "tsv"):
        return "line", _csv(path, text, "\t" if fmt == "tsv" else ",", columns)
    return "line", _txt(text)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def _jsonl(path: Path, text: str) -> Iterator[Row]:
    for number, line in _lines(text):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = " (the line holds bytes that are not UTF-8)" if SURROGATE.search(line) else ""
            yield number, RowError(str(path), number, None, f"invalid JSON{hint}: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(str(path), number, None, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield number, obj


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    for number, obj in enumerate(items, start=1):
        if not isinstance(obj, dict):
            yield number, RowError(str(path), number, None, f"expected a JSON object, got {type(obj).__name__}", "item")
            continue
        yield number, obj


def _csv(path: Path, text: str, delimiter: str, columns: Sequence[str]) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        while not header:
            header = next(reader)
    except StopIteration:
        raise DataFormatError(f"{path}: file is empty; it needs a header row and data rows") from None
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFormatError(
            f"{path}: line {reader.line_num}: column {missing[0]!r} not found in the header; "
            f"columns are {header}; {_NAME_FIELDS}"
        )
    last = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # one bad row, reported like any other (on_error decides)
            start, last = last + 1, reader.line_num
            yield start, RowError(str(path), start, None, f"{MALFORMED_CSV}: {exc}")
            continue
        start, last = last + 1, reader.line_num
        if not values or not any(v.strip() for v in values):
            continue
        short = [c for c in columns if header.index(c) >= len(values)]
        if short:
            msg = f"row has {len(values)} fields but the header has {len(header)}"
            yield start, RowError(str(path), start, short[0], msg)
            continue
        yield start, dict(zip(header, values, strict=False))  # extra fields are ignored


def _txt(text: str) -> Iterator[Row]:
    for number, line in _lines(text):
        yield number, {"text": line}


def _parquet(path: Path, columns: Sequence[str]) -> Iterator[Row]:
    pq = require("pyarrow.parquet", "files", "reading Parquet files")
    pa = require("pyarrow", "files", "reading Parquet files")
    try:
        schema = pq.read_schema(path)  # type: ignore[attr-defined]
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for non-Parquet bytes
        raise DataFormatError(f"{path}: not a readable Parquet file ({exc})") from None
    names = list(schema.names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataFormatError(
            f"{path}: column {missing[0]!r} not found; columns are {names}; {_NAME_FIELDS}"
        )
    table = pq.read_table(path, columns=list(columns))  # type: ignore[attr-defined]
    if table.num_rows == 0:
        raise DataFormatError(f"{path}: file has no rows")
    values: dict[str, list[Any]] = {}
    for name in columns:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):  # type: ignore[attr-defined]
            col = col.cast(pa.large_binary())  # type: ignore[attr-defined]  # no UTF-8 check: we do it per row
        values[name] = col.to_pylist()
    for i in range(table.num_rows):
        record: Record = {}
        for name in columns:
            v = values[name][i]
            record[name] = v.decode("utf-8", errors="surrogateescape") if isinstance(v, bytes) else v
        yield i + 1, record
