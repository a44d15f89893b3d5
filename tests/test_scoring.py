"""``gqr score`` and ``gqr.scoring``: every row once, in order, bad rows marked, resumable,
streaming; and the Spark path in local mode."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gqr.cli import app
from gqr.errors import DataFormatError, InvalidInputError
from gqr.router import Router
from gqr.scoring import iter_rows, resume_point, score

runner = CliRunner()


@pytest.fixture(scope="module")
def router(svm_artifact: Path) -> Router:
    return Router.load(svm_artifact)


@pytest.fixture(scope="module")
def texts(small_corpus: Any) -> list[str]:
    return small_corpus.val_texts[:60]


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_jsonl_bad_rows_are_marked_not_fatal(tmp_path: Path, svm_artifact: Path, router: Router, texts: list[str]) -> None:
    good = json.dumps({"id": "a", "text": texts[0]}).encode()
    lines = [
        good,
        b'{"id": "b", "text": "caf\xe9 au lait"}',  # a Latin-1 byte inside a string
        b'{"id": "c"}',  # no text field
        b'{"id": "d", "text": 42}',
        b"{not json",
        b"",  # blank: not a row
        b'["a list"]',
        b'{"id": "e", "text": "\\ud800 lone surrogate"}',
        b'{"id": "f", "text": "   "}',
        json.dumps({"id": "g", "text": texts[1]}).encode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "-o", str(out), "--keep", "id", "--scores"])
    assert result.exit_code == 0, result.output
    rows = read_out(out)
    assert [r["row"] for r in rows] == list(range(1, 10))
    assert [r.get("id") for r in rows] == ["a", "b", "c", "d", None, None, "e", "f", "g"]
    assert [r["reason"] for r in rows[1:8]] == ["invalid_input"] * 7
    assert "UTF-8" in rows[1]["detail"] and "no field 'text'" in rows[2]["detail"] and "int" in rows[3]["detail"]
    assert "not valid JSON" in rows[4]["detail"] and "UTF-8" in rows[6]["detail"]
    expected = router.route_batch([texts[0], texts[1]])
    assert (rows[0]["route"], rows[8]["route"]) == (expected[0].route, expected[1].route)
    assert set(rows[0]["scores"]) == set(router.labels) and rows[0]["source"] == "model"
    assert "scored 9 rows" in result.output and "invalid_input=7" in result.output and "model=9" in result.output


def test_csv_tsv_txt_and_stdin(tmp_path: Path, svm_artifact: Path, router: Router, texts: list[str]) -> None:
    expected = [d.route for d in router.route_batch(texts[:3])]
    csv_path = tmp_path / "in.csv"
    quoted = texts[0].replace('"', '""')
    csv_path.write_bytes(f'id,text\n1,"{quoted}"\n2,"multi\nline, ""quoted"""\n3\n'.encode() + b"4,\xff\xfe\n")
    out = tmp_path / "csv.jsonl"
    assert runner.invoke(app, ["score", str(csv_path), "-m", str(svm_artifact), "-o", str(out), "--keep", "id"]).exit_code == 0
    rows = read_out(out)
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"] and rows[0]["route"] == expected[0]
    assert rows[1]["reason"] != "invalid_input"
    assert rows[2]["reason"] == rows[3]["reason"] == "invalid_input"

    tsv_path = tmp_path / "in.tsv"
    tsv_path.write_text("text\tn\n" + "".join(f"{t.replace(chr(9), ' ')}\t{i}\n" for i, t in enumerate(texts[:3])), encoding="utf-8")
    result = runner.invoke(app, ["score", str(tsv_path), "-m", str(svm_artifact)])
    assert [json.loads(line)["route"] for line in result.stdout.splitlines()] == expected

    one_line = [t.replace("\n", " ") for t in texts[:3]]
    txt = (one_line[0] + "\n\n" + "\n".join(one_line[1:]) + "\n").encode()  # a blank line is a row too
    result = runner.invoke(app, ["score", "-", "-m", str(svm_artifact)], input=txt)
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["route"] for r in got] == [expected[0], None, *expected[1:]] and got[1]["reason"] == "invalid_input"
    jsonl = "".join(json.dumps({"text": t}) + "\n" for t in texts[:3]).encode()
    result = runner.invoke(app, ["score", "-", "-m", str(svm_artifact), "--uncertain", "reject"], input=jsonl)
    assert len(result.stdout.splitlines()) == 3


def test_parquet_streams_batches_with_nulls_and_bad_bytes(tmp_path: Path, svm_artifact: Path, router: Router, texts: list[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    values = [t.encode() for t in texts[:5]] + [None, b"\xff\xfe bad", b"ok " + texts[5].encode()]
    table = pa.table({"text": pa.array(values, pa.binary()), "id": list(range(len(values)))})
    src = tmp_path / "in.parquet"
    pq.write_table(table, src, row_group_size=3)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "-o", str(out), "--keep", "id", "--chunk-size", "2"])
    assert result.exit_code == 0, result.output
    rows = read_out(out)
    assert [r["id"] for r in rows] == list(range(8)) and [r["row"] for r in rows] == list(range(1, 9))
    assert [r["route"] for r in rows[:5]] == [d.route for d in router.route_batch(texts[:5])]
    assert rows[5]["reason"] == rows[6]["reason"] == "invalid_input" and "null" in rows[5]["detail"]
    missing = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "--text-field", "query"])
    assert isinstance(missing.exception, DataFormatError) and "column 'query' not found" in str(missing.exception)


class Interrupting:
    """A router that is interrupted (as by Ctrl-C) on its ``after``-th batch."""

    def __init__(self, router: Router, after: int) -> None:
        self.router, self.after, self.calls = router, after, 0

    def route_batch(self, texts: list[Any]) -> Any:
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        return self.router.route_batch(texts)


def test_resume_after_interruption_and_torn_write(tmp_path: Path, svm_artifact: Path, router: Router, small_corpus: Any) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", small_corpus.val_texts[:100])
    clean = tmp_path / "clean.jsonl"
    assert runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "-o", str(clean), "--chunk-size", "16"]).exit_code == 0
    out = tmp_path / "out.jsonl"
    with out.open("w", encoding="utf-8") as fh, src.open("rb") as stream, pytest.raises(KeyboardInterrupt):
        score(Interrupting(router, 4), iter_rows(stream, src, "jsonl"), fh, chunk_size=16)
    assert len(read_out(out)) == 48
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"row": 49, "route": "la')  # killed in the middle of a write
    result = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "-o", str(out), "--chunk-size", "16", "--resume"])
    assert result.exit_code == 0 and "after 48 already done" in result.output
    assert out.read_bytes() == clean.read_bytes()
    again = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "-o", str(out), "--resume"])
    assert "scored 0 rows" in again.output and out.read_bytes() == clean.read_bytes()


def test_resume_refuses_a_foreign_file(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(DataFormatError, match="not a gqr score row"):
        resume_point(other)
    other.write_text('{"row": 5}\n')
    with pytest.raises(DataFormatError, match="last row is 5"):
        resume_point(other)
    assert resume_point(tmp_path / "missing.jsonl") == 0


def test_usage_errors(tmp_path: Path, svm_artifact: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ["hello"])
    assert runner.invoke(app, ["score", str(src), "--resume", "-m", str(svm_artifact)]).exit_code == 2
    assert runner.invoke(app, ["score", str(tmp_path / "nope.jsonl"), "-m", str(svm_artifact)]).exit_code == 2
    bad = tmp_path / "in.xml"
    bad.write_text("<x/>")
    result = runner.invoke(app, ["score", str(bad), "-m", str(svm_artifact)])
    assert isinstance(result.exception, InvalidInputError) and "--format" in str(result.exception)
    result = runner.invoke(app, ["score", str(src), "-m", str(svm_artifact), "--uncertain", "judge"])
    assert result.exit_code == 2 and "--judge-url" in result.output


def test_memory_stays_flat_however_long_the_input(tmp_path: Path, router: Router, small_corpus: Any) -> None:
    """Peak Python memory while scoring does not grow with the file (it streams)."""
    def peak(n_rows: int) -> int:
        rows = (small_corpus.val_texts * (n_rows // len(small_corpus.val_texts) + 1))[:n_rows]
        src = write_jsonl(tmp_path / f"in{n_rows}.jsonl", rows)
        tracemalloc.start()
        with src.open("rb") as stream, (tmp_path / "out.jsonl").open("w") as out:
            score(router, iter_rows(stream, src, "jsonl"), out, chunk_size=64)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(200), peak(2000)  # the large file is 10x bigger
    assert large < small * 1.5


def test_spark_local_mode_matches_the_router(tmp_path: Path, svm_artifact: Path, router: Router, texts: list[str]) -> None:
    pytest.importorskip("pyspark", reason="needs the spark extra: pip install 'gqr[spark]' (and Java 17+)")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ on PATH")
    import warnings

    from pyspark.sql import SparkSession

    from gqr.distributed import route_spark

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyspark warns about pandas 3 and its own deprecations
        spark = (SparkSession.builder.master("local[2]").appName("gqr-test")
                 .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2").getOrCreate())
        try:
            rows = [(i, t) for i, t in enumerate(texts[:40])] + [(40, None), (41, "   ")]
            df = spark.createDataFrame(rows, "id long, `query text` string").repartition(3)
            out = {r["id"]: r for r in route_spark(df, svm_artifact, "query text").collect()}
        finally:
            spark.stop()
    expected = router.route_batch(texts[:40])
    assert len(out) == 42
    assert [out[i]["gqr_route"] for i in range(40)] == [d.route for d in expected]
    assert [out[i]["gqr_reason"] for i in range(40)] == [d.reason.value for d in expected]
    assert out[40]["gqr_reason"] == out[41]["gqr_reason"] == "invalid_input"


def test_executor_batches_match_the_router_without_spark(svm_artifact: Path, router: Router, texts: list[str]) -> None:
    """What each Spark executor runs, on a pandas frame: same routes, bad rows marked, no judge."""
    pd = pytest.importorskip("pandas", reason="needs the spark extra (pandas)")
    from gqr.distributed import RouteBatches, artifact_files

    files = artifact_files(svm_artifact)
    with pytest.raises(InvalidInputError, match="no judge"):
        RouteBatches(files, uncertain="judge")
    frame = pd.DataFrame({"text": [*texts[:20], "12345", "", b"\xff\xfe"]})
    out = RouteBatches(files)(frame)
    expected = router.route_batch([*texts[:20], "12345"])
    routes = [None if pd.isna(r) else r for r in out["gqr_route"]]  # pandas stores a missing str as NaN
    assert routes[:21] == [d.route for d in expected] and routes[20] is None  # "12345" has no words
    assert out["gqr_reason"].tolist()[20:] == ["out_of_domain", "invalid_input", "invalid_input"]
    assert out["text"].tolist() == frame["text"].tolist()  # the input column is kept as it was
