"""``gqr train`` as users run it: arguments checked before any data is read, one-line errors,
warnings for routers that cannot reject or calibrate, the user's own pools (``--pools``) and
the user's data added to the benchmark's (``--benchmark --data``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Corpus, write_csv
from typer.testing import CliRunner

from gqr.artifact import read_artifact
from gqr.cli import app
from gqr.cli.train import MIN_VALIDATION_ROWS, with_benchmark

runner = CliRunner()


def gqr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gqr", *args], capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "expected"), [
    (["--model", "bogus"], "--model 'bogus' is not a router backend; choose one of: svm, svm-minilm, widemlp"),
    (["--param", "C=abc"], "--param C=abc: svm's C must be a number"),
    (["--param", "nonsense=1"], "svm has no parameter 'nonsense'; it takes C, hashing, max_iter"),
    (["--param", "C"], "expected KEY=VALUE"),
    (["--model", "widemlp", "--param", "hidden=1.5"], "widemlp's hidden must be an integer"),
    (["--model", "svm-minilm", "--param", "hashing={}"], "cannot be set from the command line"),
    (["--outliers", "spam=x.txt"], "reason 'spam' is not one of out_of_domain, other_language, unsafe"),
    (["--ood-method", "odin"], "--ood-method 'odin': use msp or energy"),
])
def test_bad_model_or_parameter_is_one_line_before_reading_data(tmp_path: Path, args: list[str], expected: str) -> None:
    # the data file does not exist: the argument error must come first, without a traceback
    result = gqr("train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"), *args)
    assert result.returncode == 2
    assert expected in one_error_line(result)


def test_parameters_are_parsed_as_the_backend_declares() -> None:
    from gqr.cli._params import backend_params

    assert backend_params("svm", ["C=1", "max_iter=50"]) == {"C": 1.0, "max_iter": 50}
    assert isinstance(backend_params("svm", ["C=1"])["C"], float)
    assert backend_params("widemlp", ["class_weight=none", "monitor=accuracy"]) == {"class_weight": None, "monitor": "accuracy"}
    assert backend_params("svm", ['hashing={"n_features": 4096}']) == {"hashing": {"n_features": 4096}}
    for model in ("svm", "svm-minilm", "widemlp", "fasttext", "xgboost"):
        assert backend_params(model, []) == {}


def test_checking_parameters_imports_no_training_library() -> None:
    code = ("import sys; from gqr.cli._params import backend_params; "
            "[backend_params(m, []) for m in ('svm', 'svm-minilm', 'widemlp', 'fasttext', 'xgboost')]; "
            "print(sorted({'sklearn', 'torch', 'xgboost', 'fasttext', 'scipy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_help_lists_every_backend() -> None:
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "svm, svm-minilm, widemlp, fasttext, xgboost" in result.output


def test_a_value_the_backend_refuses_is_one_line(small_corpus: Corpus, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "q.csv", small_corpus, per_class=20)
    result = gqr("train", "--data", str(data), "--out", str(tmp_path / "m"), "--param", "C=-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "╭" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == [result.stderr.strip().splitlines()[-1]]  # progress lines, then one error line
    assert errors[0].startswith("Error: svm refused --param C=-1: The 'C' parameter of LinearSVC")
    assert not (tmp_path / "m").exists()


def test_small_data_without_pools_warns_and_out_is_not_overwritten(small_corpus: Corpus, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "q.csv", small_corpus, per_class=40)  # 80 rows: 12 held out
    out = tmp_path / "model"
    first = runner.invoke(app, ["train", "--data", str(data), "--out", str(out)])
    assert first.exit_code == 0, first.output
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, first.stderr
    assert "no outlier pools" in warnings[0] and "--outliers" in warnings[0] and "--pools" in warnings[0]
    assert "--benchmark" in warnings[0]
    assert f"only 12 validation rows (fewer than {MIN_VALIDATION_ROWS})" in warnings[1]
    before = (out / "manifest.json").read_bytes()
    again = runner.invoke(app, ["train", "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "already holds a model; pass --overwrite" in again.stderr
    assert (out / "manifest.json").read_bytes() == before
    replaced = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--overwrite", "--seed", "1"])
    assert replaced.exit_code == 0, replaced.output
    assert read_artifact(out).manifest["training"]["seed"] == 1
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    refused = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "notes"), "--overwrite"])
    assert refused.exit_code == 2 and "not a gqr model" in refused.stderr
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def write_pool(root: Path, name: str, label: str, role: str, texts: list[str]) -> dict[str, object]:
    body = "".join(json.dumps({"text": t, "label": label, "source": f"{name}-src"}) + "\n" for t in texts).encode()
    (root / f"{name}.jsonl").write_bytes(body)
    return {"name": name, "file": f"{name}.jsonl", "label": label, "role": role, "rows": len(texts),
            "sha256": hashlib.sha256(body).hexdigest()}


def test_train_on_your_own_pools(small_corpus: Corpus, tmp_path: Path) -> None:
    """A pools directory laid out like the shipped one, with the user's own domain names."""
    pools = tmp_path / "pools"
    pools.mkdir()
    by_class = {c: [t for t, y in zip(small_corpus.train_texts, small_corpus.train_y) if small_corpus.classes[y] == c]
                for c in small_corpus.classes}
    entries = [write_pool(pools, "money_faq", "money", "domain_pool", by_class["finance"]),
               write_pool(pools, "clinic_faq", "clinic", "domain_pool", by_class["healthcare"]),
               write_pool(pools, "chitchat", "out_of_domain", "background_pool", by_class["out_of_domain"]),
               write_pool(pools, "lookalikes", "safe_lookalike", "control", by_class["law"][:20])]
    (pools / "MANIFEST.json").write_text(json.dumps({"format": 1, "pools": entries}))
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--pools", str(pools), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: no outlier pools" not in result.stderr
    guard = read_artifact(out).guard
    assert guard.labels == ("money", "clinic") and guard.background == ("out_of_domain",)
    rows = read_artifact(out).manifest["training"]["data"]["rows_per_class"]
    assert set(rows) == {"money", "clinic", "out_of_domain"}  # the control pool is never trained on


def test_pools_without_a_manifest_is_one_error_line(tmp_path: Path) -> None:
    result = gqr("train", "--pools", str(tmp_path), "--out", str(tmp_path / "m"))
    assert result.returncode == 1 and "MANIFEST.json" in one_error_line(result)
    result = gqr("train", "--pools", str(tmp_path / "nope"), "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "not a directory" in one_error_line(result)


def test_benchmark_keeps_the_users_domains_and_pools(bench_dir: Path, train_dir: Path) -> None:
    """``--benchmark --data mine.csv``: the user's rows are added (train and held-out parts)."""
    from gqr.datasets import load_benchmark

    bench = load_benchmark(bench_dir, train_dir, pools=["finance_reddit", "outliers_general"])
    billing = [(f"How do I pay invoice number {i} by card?", "mine.csv") for i in range(40)]
    abuse = [(f"Tell me how to break into house number {i}", "bad.txt") for i in range(10)]
    train, val = with_benchmark(bench, {"billing": billing, "finance": billing[:2]}, {"unsafe": abuse}, seed=0)
    alone, alone_val = with_benchmark(bench, {}, {}, seed=0)
    assert len(train.domains["billing"]) == 36 and len(val.domains["billing"]) == 4
    assert set(train.domains["billing"]) | set(val.domains["billing"]) == {t for t, _ in billing}
    assert len(train.background["unsafe"]) + len(val.background["unsafe"]) == 10
    # the benchmark's own classes are all still there, with the user's finance rows added
    assert len(train.domains["finance"]) + len(val.domains["finance"]) == \
        len(alone.domains["finance"]) + len(alone_val.domains["finance"]) + 2
    assert train.background["out_of_domain"] == alone.background["out_of_domain"]
    # per-row sources stay aligned with the texts: the benchmark's keep theirs, the user's name their file
    assert train.sources["billing"] == ["mine.csv"] * 36 and train.sources["unsafe"] == ["bad.txt"] * 9
    assert train.sources["finance"][: len(alone.domains["finance"])] == alone.source_of("finance")
    assert len(train.sources["finance"]) == len(train.domains["finance"])
