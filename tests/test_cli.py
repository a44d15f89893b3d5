"""The command line as users run it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Corpus
from typer.testing import CliRunner

from gqr.cli import app
from gqr.router import Router

runner = CliRunner()


def gqr(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gqr", *args], input=stdin, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def user_model(small_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`gqr train` on a user's JSONL file with custom field names and an outlier file."""
    root = tmp_path_factory.mktemp("cli")
    rows = [{"question": t, "team": small_corpus.classes[y]} for t, y in zip(small_corpus.train_texts, small_corpus.train_y) if y < 3]
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    outliers = [t for t, y in zip(small_corpus.train_texts, small_corpus.train_y) if y == 3]
    (root / "chitchat.txt").write_text("\n".join(t.replace("\n", " ") for t in outliers) + "\n")
    out = gqr("train", "--data", str(root / "train.jsonl"), "--text-field", "question", "--label-field", "team",
              "--outliers", f"out_of_domain={root / 'chitchat.txt'}", "--out", str(root / "model"))
    assert out.returncode == 0, out.stderr.decode()
    return root / "model"


def test_route_json_lines(user_model: Path) -> None:
    queries = ["Should I refinance my mortgage?", "Who painted the Mona Lisa?"]
    out = gqr("route", "--model", str(user_model), "--json", *queries)
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(lines) == 2
    assert set(lines[0]) >= {"route", "reason", "confidence", "source"}
    assert lines[0]["route"] in {"law", "finance", "healthcare", None}
    # both lines say what the same model says in process
    expected = Router.load(user_model).route_batch(queries)
    assert [line["text"] for line in lines] == queries
    assert [(line["route"], line["reason"]) for line in lines] == [(d.route, d.reason.value) for d in expected]
    assert [line["confidence"] for line in lines] == pytest.approx([d.confidence for d in expected], abs=1e-5)
    assert [line["source"] for line in lines] == ["model", "model"]


def test_route_reads_stdin_one_output_line_per_input_line(user_model: Path) -> None:
    stdin = b"Is a verbal contract binding?\n\xff\xfe\n   \n\nMy knee hurts when I run\r\n"
    out = gqr("route", "--model", str(user_model), "--json", stdin=stdin)
    assert out.returncode == 0, out.stderr.decode()
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(rows) == 5  # blank lines are answered too, so output line N answers input line N
    assert [r["reason"] for r in rows[1:4]] == ["invalid_input"] * 3 and [r["route"] for r in rows[1:4]] == [None] * 3
    assert [r["text"] for r in rows] == ["Is a verbal contract binding?", "\ufffd\ufffd", "   ", "", "My knee hurts when I run"]
    assert rows[4]["reason"] != "invalid_input"
    plain = gqr("route", "--model", str(user_model), stdin=b"\nWhat is an ETF?")
    assert [line.split()[:2] for line in plain.stdout.decode().splitlines()][0] == ["REJECTED", "invalid_input"]
    assert len(plain.stdout.decode().splitlines()) == 2


def test_inspect_and_export(user_model: Path, tmp_path: Path) -> None:
    shown = runner.invoke(app, ["inspect", str(user_model)])
    assert shown.exit_code == 0 and "law, finance, healthcare" in shown.output and "sha256" in shown.output
    exported = runner.invoke(app, ["export", str(user_model), "--out", str(tmp_path / "deploy")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "deploy" / "model.onnx").read_bytes() == (user_model / "model.onnx").read_bytes()


def test_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    out = gqr("route", "--model", str(tmp_path / "missing"), "hello")
    assert out.returncode == 1
    assert out.stderr.decode().strip().count("\n") == 0 and "Error:" in out.stderr.decode()
    (tmp_path / "bad.jsonl").write_text('{"text": "a question"}\n')
    out = gqr("train", "--data", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "m"))
    assert out.returncode == 1 and "label" in out.stderr.decode()


def test_wrong_kind_of_path_says_what_it_is(tmp_path: Path) -> None:
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0\n")
    out = gqr("route", "-m", str(afile), "hello")
    assert out.returncode == 1
    assert out.stderr.decode().strip() == f"Error: {afile} is a file, not a model directory (the folder holding manifest.json)"
    out = gqr("route", "-m", str(tmp_path / "missing"), "hello")
    assert out.returncode == 1 and "model directory not found" in out.stderr.decode()
    out = gqr("score", str(tmp_path))
    assert out.returncode == 2 and out.stderr.decode().startswith(f"Error: {tmp_path} is a directory; give one input file")
    assert out.stderr.decode().strip().count("\n") == 0
    out = gqr("score", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2 and "nope.jsonl: no such file" in out.stderr.decode()


def test_score_refuses_to_overwrite_unless_asked(user_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "q.txt"
    src.write_text("What is an ETF?\nMy knee hurts\n")
    out = tmp_path / "decisions.jsonl"
    out.write_text("precious\n")
    args = ["score", str(src), "-m", str(user_model), "-o", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "already exists: pass --resume to continue it, --overwrite to replace it" in refused.stderr
    assert out.read_text() == "precious\n"
    assert runner.invoke(app, [*args, "--resume", "--overwrite"]).exit_code == 2
    replaced = runner.invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == [1, 2]
    empty = tmp_path / "empty.jsonl"
    empty.touch()  # an empty file holds nothing to lose
    assert runner.invoke(app, ["score", str(src), "-m", str(user_model), "-o", str(empty)]).exit_code == 0
    assert runner.invoke(app, ["score", str(src), "-m", str(user_model), "-o", str(tmp_path)]).exit_code == 2


def test_export_refuses_to_replace_a_model_unless_asked(user_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "deploy"
    assert runner.invoke(app, ["export", str(user_model), "--out", str(target)]).exit_code == 0
    again = runner.invoke(app, ["export", str(user_model), "--out", str(target)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert runner.invoke(app, ["export", str(user_model), "--out", str(target), "--overwrite"]).exit_code == 0


def test_usage_errors_exit_2() -> None:
    assert gqr("route", "--uncertain", "judge", "x").returncode == 2
    assert gqr("bench", "--models", "nope").returncode == 2
    assert gqr("train", "--out", "x").returncode == 2


def test_data_info_defaults_to_gqr_data_dir(bench_dir: Path, train_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `gqr data info`, without --data-dir: the local copy named by GQR_DATA_DIR."""
    monkeypatch.setenv("GQR_DATA_DIR", str(bench_dir))
    monkeypatch.setenv("GQR_TRAIN_DIR", str(train_dir))
    out = runner.invoke(app, ["data", "info"])
    assert out.exit_code == 0, out.output
    assert f"GQR-Bench (local) data: {bench_dir}" in out.stdout
    monkeypatch.delenv("GQR_DATA_DIR")
    monkeypatch.delenv("GQR_TRAIN_DIR")
    monkeypatch.setattr("gqr.datasets._local._hub_available", lambda: False)
    missing = runner.invoke(app, ["data", "info"])
    assert missing.exit_code == 1 and "pass --data-dir (or set GQR_DATA_DIR)" in str(missing.exception)


def test_data_info(bench_dir: Path, train_dir: Path) -> None:
    out = gqr("data", "info", "--data-dir", str(bench_dir), "--train-dir", str(train_dir))
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    for name in ("jigsaw", "olid", "hatexplain", "slovak_hate", "dkhate", "web_questions", "ml_questions", "law_mmlu"):
        assert name in text
    assert "3214" in text


def test_default_model_routes_a_health_question() -> None:
    out = gqr("route", "--json", "What are the early symptoms of type 2 diabetes?")
    assert out.returncode == 0, out.stderr.decode()
    assert json.loads(out.stdout)["route"] == "healthcare"


def test_help_for_every_command() -> None:
    for command in (["--help"], ["route", "--help"], ["train", "--help"], ["bench", "--help"], ["data", "info", "--help"],
                    ["export", "--help"], ["inspect", "--help"], ["score", "--help"], ["serve", "--help"], ["report", "--help"],
                    ["data", "--help"], ["report", "compare", "--help"], ["report", "render", "--help"]):
        result = runner.invoke(app, command, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output, (command, result.output)  # a flag takes no value


def test_flags_render_as_flags() -> None:
    result = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    rows = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ --")}
    for flag in ("--resume", "--overwrite", "--scores", "--help"):
        assert rows[flag].split()[2][0].isupper(), rows[flag]  # the help text follows, no type
    assert "--no-progress" in rows["--progress"] and "<int" in rows["--chunk-size"]


def test_train_checks_out_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    data = tmp_path / "q.csv"
    data.write_text("text,label\nhello,a\n", encoding="utf-8")
    for out, expected in ((blocker, "is a file"), (blocker / "model", "--out: cannot create")):
        r = gqr("train", "--data", str(data), "--out", str(out))
        assert r.returncode == 2 and expected in r.stderr.decode(), r.stderr
