"""``--judge-fallback model|reject``: what an uncertain query gets when the judge did not
answer (down, timeout, budget, garbage). Default: the model's own call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer, status
from typer.testing import CliRunner

from gqr.cli import app
from gqr.decision import Source
from gqr.judge import JudgeConfig
from gqr.router import Router

runner = CliRunner()


def _uncertain_routed(artifact: Path, texts: list[str]) -> str:
    """A real row the model routes to a domain but is unsure about."""
    decisions = Router.load(artifact).route_batch(texts)
    found = [t for t, d in zip(texts, decisions) if d.uncertain and d.route is not None]
    assert found, "the session model needs an uncertain routed row"
    return found[0]


def _route(artifact: Path, server: FakeLLMServer, text: str, *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["route", "--json", "-m", str(artifact), "--uncertain", "judge",
            "--judge-url", server.base_url, "--judge-model", "fake", *extra, text]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_default_keeps_the_models_call(svm_artifact: Path, small_corpus) -> None:  # type: ignore[no-untyped-def]
    text = _uncertain_routed(svm_artifact, small_corpus.val_texts)
    expected = Router.load(svm_artifact).route(text).route
    with FakeLLMServer(status(500)) as server:
        out = _route(svm_artifact, server, text)
    assert (out["route"], out["source"]) == (expected, Source.FALLBACK.value)


def test_reject_rejects_what_the_judge_did_not_answer(svm_artifact: Path, small_corpus) -> None:  # type: ignore[no-untyped-def]
    text = _uncertain_routed(svm_artifact, small_corpus.val_texts)
    with FakeLLMServer(status(500)) as server:
        out = _route(svm_artifact, server, text, "--judge-fallback", "reject")
    assert (out["route"], out["reason"], out["source"]) == (None, "out_of_domain", Source.FALLBACK.value)


def test_bad_choice_is_a_usage_error(svm_artifact: Path) -> None:
    result = runner.invoke(app, ["route", "-m", str(svm_artifact), "--judge-url", "http://127.0.0.1:9/v1",
                                 "--judge-model", "m", "--judge-fallback", "maybe", "hello"])
    assert result.exit_code == 2 and "--judge-fallback" in result.output


def test_api_default_is_model() -> None:
    assert JudgeConfig("http://127.0.0.1:1/v1", "m").on_failure == "model"
    with pytest.raises(ValueError, match="on_failure"):
        JudgeConfig("http://127.0.0.1:1/v1", "m", on_failure="drop")
