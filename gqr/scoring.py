"""Batch scoring: route every row of a JSONL, CSV/TSV, Parquet or text file (or stdin) and
write one decision per row, in input order, in constant memory.

Rows stream through in chunks; a bad row (not JSON, no text field, not text, invalid UTF-8)
gets an ``invalid_input`` decision instead of stopping the run. The output file is its own
checkpoint: ``resume=True`` counts the complete lines already written, drops a half-written
last line, skips that many input rows and appends the rest.

Output rows are JSON objects: ``row`` (1-based row number), the ``keep`` fields of the
input, then ``route``, ``reason``, ``confidence``, ``source``, ``uncertain``, ``detail``
(and ``scores`` with ``with_scores``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gqr.datasets._readers import FORMATS, MALFORMED_CSV
from gqr.decision import Decision
from gqr.errors import DataFormatError, InvalidInputError, require
from gqr.text import SURROGATE

__all__ = ["INPUT_FORMATS", "ScoreSummary", "iter_rows", "resume_point", "score"]

#: The readers' formats minus JSON arrays, which cannot be streamed.
INPUT_FORMATS = {suffix: fmt for suffix, fmt in FORMATS.items() if fmt != "json"}


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be routed, and why."""

    message: str


@dataclass(frozen=True)
class Row:
    """One input row: its 1-based number, the value to route (or ``BadRow``), kept fields."""

    number: int
    value: Any
    kept: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    rows: int = 0
    resumed: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())) or "none"
        sources = ", ".join(f"{k}={v}" for k, v in sorted(self.sources.items())) or "none"
        resumed = f" after {self.resumed} already done" if self.resumed else ""
        return (f"scored {self.rows} rows{resumed} in {self.seconds:.1f}s ({self.rows_per_second:,.0f} rows/s); "
                f"reasons: {reasons}; sources: {sources}")


# -- readers: each yields Row objects, streaming ---------------------------------------------
def _keep(record: dict[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    out = {}
    for name in keep:
        value = record.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, str) and SURROGATE.search(value):  # undecodable bytes, shown as U+FFFD
            value = value.encode("utf-8", "surrogateescape" if _escaped(value) else "surrogatepass").decode("utf-8", "replace")
        out[name] = value
    return out


def _from_record(number: int, record: Any, text_field: str, keep: Sequence[str]) -> Row:
    if not isinstance(record, dict):
        return Row(number, BadRow(f"expected a JSON object, got {type(record).__name__}"))
    kept = _keep(record, keep)
    if text_field not in record:
        return Row(number, BadRow(f"no field {text_field!r}"), kept)
    value = record[text_field]
    if value is None:
        return Row(number, BadRow(f"field {text_field!r} is null"), kept)
    if not isinstance(value, (str, bytes)):
        return Row(number, BadRow(f"field {text_field!r} is {type(value).__name__}, not text"), kept)
    return Row(number, value, kept)  # the router refuses text that is not valid UTF-8


def _escaped(value: str) -> bool:
    """True when every surrogate in ``value`` stands for one byte (``surrogateescape``)."""
    return all(0xDC80 <= ord(ch) <= 0xDCFF for ch in SURROGATE.findall(value))


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    for line in stream:
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield line


def _jsonl(stream: IO[bytes], text_field: str, keep: Sequence[str]) -> Iterator[Row]:
    for number, line in enumerate(_lines(stream), start=1):
        text = line.decode("utf-8", "surrogateescape").lstrip("\ufeff")
        try:
            record = json.loads(text)
        except ValueError as exc:
            hint = " (the line holds bytes that are not UTF-8)" if SURROGATE.search(text) else ""
            yield Row(number, BadRow(f"not valid JSON{hint}: {getattr(exc, 'msg', exc)}"))
            continue
        yield _from_record(number, record, text_field, keep)


def _txt(stream: IO[bytes]) -> Iterator[Row]:
    """One row per line, blank lines included (they get ``invalid_input``): output line N
    answers input line N."""
    for number, line in enumerate(stream, start=1):
        yield Row(number, line.rstrip(b"\r\n").removeprefix(b"\xef\xbb\xbf"))  # bytes: the router checks UTF-8


def _csv(stream: IO[bytes], delimiter: str, text_field: str, keep: Sequence[str], where: str) -> Iterator[Row]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _csv_rows(csv.reader(text, delimiter=delimiter), text_field, keep, where)
    finally:
        with contextlib.suppress(ValueError):
            text.detach()  # the caller owns (and closes) the byte stream


def _csv_rows(reader: Any, text_field: str, keep: Sequence[str], where: str) -> Iterator[Row]:
    header = next((h for h in reader if h), None)
    if header is None:
        raise DataFormatError(f"{where}: no header row; the first line must name the columns")
    header = [h.strip() for h in header]
    for name in (text_field, *keep):
        if name not in header:
            raise DataFormatError(f"{where}: column {name!r} not found; columns are {header}. Use --text-field / --keep")
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield Row(number, BadRow(f"{MALFORMED_CSV}: {exc}"))
            continue
        if not any(v.strip() for v in values):
            continue
        number += 1
        record = dict(zip(header, values))
        if len(values) < len(header) and text_field not in record:
            yield Row(number, BadRow(f"row has {len(values)} fields but the header has {len(header)}"), _keep(record, keep))
            continue
        yield _from_record(number, record, text_field, keep)


def _parquet(path: Path, text_field: str, keep: Sequence[str], batch: int) -> Iterator[Row]:
    pq = require("pyarrow.parquet", "files", "reading Parquet files")
    pa = require("pyarrow", "files", "reading Parquet files")
    try:
        reader = pq.ParquetFile(path)  # type: ignore[attr-defined]
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for non-Parquet bytes
        raise DataFormatError(f"{path}: not a readable Parquet file ({exc})") from None
    names = list(reader.schema_arrow.names)
    columns = list(dict.fromkeys([text_field, *keep]))
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataFormatError(f"{path}: column {missing[0]!r} not found; columns are {names}. Use --text-field / --keep")
    number = 0
    for chunk in reader.iter_batches(batch_size=batch, columns=columns):
        values: dict[str, list[Any]] = {}
        for name in columns:
            col = chunk.column(name)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):  # type: ignore[attr-defined]
                col = col.cast(pa.large_binary())  # type: ignore[attr-defined]  # UTF-8 is checked per row
            values[name] = col.to_pylist()
        for i in range(chunk.num_rows):
            number += 1
            yield _from_record(number, {name: values[name][i] for name in columns}, text_field, keep)


def detect_format(source: str, format: str | None, stream: IO[bytes] | None = None) -> str:
    """The input format: ``format`` if given, else the suffix, else (stdin) a peek."""
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt not in set(INPUT_FORMATS.values()):
            raise InvalidInputError(f"unknown format {format!r}; use one of {sorted(set(INPUT_FORMATS.values()))}")
        return fmt
    if source != "-":
        found = INPUT_FORMATS.get(Path(source).suffix.lower())
        if found is None:
            raise InvalidInputError(f"{source}: cannot tell the format from the suffix; pass --format "
                                    f"({', '.join(sorted(set(INPUT_FORMATS.values())))})")
        return found
    head = stream.peek(64)[:64] if stream is not None and hasattr(stream, "peek") else b""
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "txt"


def iter_rows(stream: IO[bytes] | None, path: Path | None, fmt: str, text_field: str = "text",
              keep: Sequence[str] = (), batch: int = 1024) -> Iterator[Row]:
    """The rows of one input, streaming. Parquet needs ``path``; the others read ``stream``."""
    where = str(path) if path is not None else "<stdin>"
    if fmt == "parquet":
        if path is None:
            raise InvalidInputError("Parquet cannot be read from stdin; give the file path")
        return _parquet(path, text_field, keep, batch)
    assert stream is not None
    if fmt == "jsonl":
        return _jsonl(stream, text_field, keep)
    if fmt in ("csv", "tsv"):
        return _csv(stream, "\t" if fmt == "tsv" else ",", text_field, keep, where)
    if fmt == "txt":
        if keep:
            raise InvalidInputError("plain text rows have no fields to --keep")
        return _txt(stream)
    raise InvalidInputError(f"unknown format {fmt!r}")


# -- output ----------------------------------------------------------------------------------
def resume_point(output: Path) -> int:
    """Rows already in ``output``: its complete lines. A half-written last line (the run was
    killed mid-write) is cut off so the rest can be appended."""
    if not output.exists():
        return 0
    count = 0
    last_end = 0
    last_line = b""
    with output.open("rb") as fh:
        offset = 0
        tail = b""
        while block := fh.read(1 << 20):
            data = tail + block
            start = 0
            while (nl := data.find(b"\n", start)) != -1:
                last_line = data[start:nl]
                count += 1
                start = nl + 1
            offset += len(block)
            tail = data[start:]
            last_end = offset - len(tail)
    if count:
        try:
            row = json.loads(last_line)["row"]
        except (ValueError, KeyError, TypeError):
            raise DataFormatError(f"{output}: the last complete line is not a gqr score row; "
                                  "resume needs the output of an earlier `gqr score` run") from None
        if row != count:
            raise DataFormatError(f"{output}: holds {count} lines but its last row is {row}; it was not written "
                                  "by one `gqr score` run over this input. Remove it to start over")
    if last_end != output.stat().st_size:
        with output.open("r+b") as fh:
            fh.truncate(last_end)
    return count


def _record(row: Row, decision: Decision, with_scores: bool) -> str:
    out: dict[str, Any] = {"row": row.number, **row.kept}
    d = decision.to_dict()
    if not with_scores:
        d.pop("scores")
    out.update(d)
    return json.dumps(out, ensure_ascii=False)


def score(
    router: Any,
    rows: Iterator[Row],
    out: IO[str],
    *,
    skip: int = 0,
    chunk_size: int = 1024,
    with_scores: bool = False,
    progress: bool = False,
) -> ScoreSummary:
    """Route ``rows`` in chunks of ``chunk_size`` and write one JSON line per row to ``out``.

    The first ``skip`` rows are read and dropped (they are in the output already).
    ``router`` is a ``gqr.Router`` (its ``route_batch`` is used; a judge, if any, is asked
    about the uncertain rows of each chunk).
    """
    from tqdm import tqdm

    summary = ScoreSummary(resumed=skip)
    start = time.perf_counter()
    bar = tqdm(unit=" rows", initial=skip, disable=not progress, file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
    chunk: list[Row] = []

    def flush() -> None:
        routable = [r for r in chunk if not isinstance(r.value, BadRow)]
        routed = iter(router.route_batch([r.value for r in routable]) if routable else [])
        lines = []
        for r in chunk:
            d = Decision.invalid(r.value.message) if isinstance(r.value, BadRow) else next(routed)
            summary.reasons[d.reason.value] += 1
            summary.sources[d.source.value] += 1
            lines.append(_record(r, d, with_scores))
        out.write("\n".join(lines) + "\n")
        out.flush()
        summary.rows += len(chunk)
        bar.update(len(chunk))
        chunk.clear()

    try:
        for i, row in enumerate(rows):
            if i < skip:
                continue
            chunk.append(row)
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - start
    return summary
