"""Reader behaviour shared by training (gqr.datasets) and batch scoring (gqr.scoring)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from gqr.datasets import load_labeled_file
from gqr.errors import DataFormatError
from gqr.scoring import BadRow, iter_rows


@pytest.fixture
def small_field_limit() -> Iterator[None]:
    old = csv.field_size_limit(100)
    yield
    csv.field_size_limit(old)


def test_one_malformed_csv_row_is_skipped_not_fatal(tmp_path: Path, small_field_limit: None) -> None:
    path = tmp_path / "q.csv"
    path.write_text('text,label\nhello there,a\n"' + "x" * 500 + '",b\nbye now,b\n', encoding="utf-8")
    loaded = load_labeled_file(path, on_error="skip")
    assert list(loaded.texts) == ["hello there", "bye now"]
    assert len(loaded.skipped) == 1 and loaded.skipped[0].row == 3 and "unclosed quote" in loaded.skipped[0].message
    with pytest.raises(DataFormatError, match="line 3: malformed CSV"):
        load_labeled_file(path)
    with path.open("rb") as stream:
        rows = list(iter_rows(stream, path, "csv"))
    assert [r.number for r in rows] == [1, 2, 3]
    assert isinstance(rows[1].value, BadRow) and "unclosed quote" in rows[1].value.message
    assert [rows[0].value, rows[2].value] == ["hello there", "bye now"]


def test_null_text_is_a_bad_row_in_every_format(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": null}\n{"text": "ok"}\n', encoding="utf-8")
    with path.open("rb") as stream:
        rows = list(iter_rows(stream, path, "jsonl"))
    assert isinstance(rows[0].value, BadRow) and rows[0].value.message == "field 'text' is null"
    assert rows[1].value == "ok"


def test_score_output_place_is_checked_before_the_model_loads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gqr.cli import app

    src = tmp_path / "in.txt"
    src.write_text("hello\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["score", str(src), "-o", str(blocker / "out.jsonl"), "-m", str(tmp_path / "no-model")])
    assert result.exit_code == 2 and "--output: cannot create" in result.output
