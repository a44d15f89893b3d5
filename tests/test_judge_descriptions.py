"""Domain descriptions belong to the model: ``gqr train --describe`` (and ``--benchmark``'s
defaults) store one line per domain in the manifest; ``JudgeClient.for_router`` puts them in
the judge's prompt; models without them keep working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Corpus, write_csv
from fake_llm_server import FakeLLMServer, route
from typer.testing import CliRunner

from gqr.artifact import read_artifact
from gqr.cli import app
from gqr.errors import ManifestError
from gqr.export import export_router
from gqr.judge import JudgeClient, JudgeConfig
from gqr.judge._client import DEFAULT_DOMAIN_HINT
from gqr.judge._prompt import BENCHMARK_DESCRIPTIONS
from gqr.router import Router

runner = CliRunner()
CONFIG = JudgeConfig("http://127.0.0.1:9/v1", "m")


def test_train_describe_is_stored_and_reaches_the_prompt(small_corpus: Corpus, tmp_path: Path) -> None:
    data, out = write_csv(tmp_path / "q.csv", small_corpus), tmp_path / "m"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out),
                                 "--describe", "finance=Money: banks, loans, taxes.", "--describe",
                                 "healthcare=Health: symptoms, medicines."])
    assert result.exit_code == 0, result.output
    assert read_artifact(out).manifest["domains"] == {"finance": "Money: banks, loans, taxes.",
                                                      "healthcare": "Health: symptoms, medicines."}
    with FakeLLMServer(route("finance")) as server:
        config = JudgeConfig(server.base_url, "fake")
        with JudgeClient.for_router(config, Router.load(out)) as judge:
            judge.judge("Should I refinance?")
    system = server.chat_requests[0].body["messages"][0]["content"]
    assert "- finance: Money: banks, loans, taxes." in system and "- healthcare: Health: symptoms, medicines." in system


@pytest.mark.parametrize(("item", "expected"), [
    ("finance", "expected DOMAIN=TEXT"),
    ("cooking=Recipes", "not one of the model's domains"),
    ("finance=" + "x" * 400, "one line of at most 300"),
])
def test_bad_describe_is_a_usage_error(small_corpus: Corpus, tmp_path: Path, item: str, expected: str) -> None:
    data = write_csv(tmp_path / "q.csv", small_corpus, per_class=5)
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--describe", item])
    assert result.exit_code == 2 and expected in result.stderr
    assert not (tmp_path / "m").exists()


def test_benchmark_defaults_and_overrides(trained_svm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gqr.cli.train import domain_descriptions

    labels = list(trained_svm.guard.labels)
    stored = domain_descriptions({"law": "Only tenancy law."}, labels, benchmark=True)
    assert stored == {**BENCHMARK_DESCRIPTIONS, "law": "Only tenancy law."}
    assert domain_descriptions({}, labels, benchmark=False) == {}
    path = export_router(trained_svm, tmp_path / "m", descriptions=stored)
    judge = JudgeClient.for_router(CONFIG, Router.load(path), descriptions={"finance": "Only stocks."})
    assert judge.domains == {**BENCHMARK_DESCRIPTIONS, "law": "Only tenancy law.", "finance": "Only stocks."}


def test_old_manifests_without_descriptions_keep_working(svm_artifact: Path) -> None:
    router = Router.load(svm_artifact)
    assert "domains" not in router.info
    # the benchmark's own domains get the benchmark's descriptions
    assert JudgeClient.for_router(CONFIG, router).domains == BENCHMARK_DESCRIPTIONS

    class Other:
        labels = ["recipes", "travel"]
        info: dict[str, object] = {}

    assert JudgeClient.for_router(CONFIG, Other()).domains == {
        name: DEFAULT_DOMAIN_HINT.format(name=name) for name in Other.labels}


@pytest.mark.parametrize("domains", [{"cooking": "x"}, {"law": ""}, {"law": "two\nlines"}, ["law"]])
def test_invalid_stored_descriptions_are_refused(svm_artifact: Path, tmp_path: Path, domains: object) -> None:
    copy = tmp_path / "m"
    shutil.copytree(svm_artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["domains"] = domains
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="invalid 'domains'"):
        read_artifact(copy)
