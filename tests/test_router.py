from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gqr.decision import Reason
from gqr.router import Router


def test_onnx_and_python_paths_agree(trained_svm, svm_artifact: Path, small_corpus) -> None:  # type: ignore[no-untyped-def]
    texts = small_corpus.val_texts
    py = trained_svm.router().route_batch(texts)
    ox = Router.load(svm_artifact).route_batch(texts)
    assert [d.route for d in py] == [d.route for d in ox]
    assert [d.reason for d in py] == [d.reason for d in ox]
    assert np.allclose([d.confidence for d in py], [d.confidence for d in ox], atol=1e-5)


def test_batch_keeps_order_and_survives_bad_rows(svm_artifact: Path) -> None:
    router = Router.load(svm_artifact)
    texts = ["What are the side effects of ibuprofen?", "", b"\xff\xfe", "   ", "😀😀😀", "x" * 1_000_000, 17]
    out = router.route_batch(texts)  # type: ignore[arg-type]
    assert len(out) == len(texts)
    assert [d.reason for d in out[1:4]] == [Reason.INVALID_INPUT] * 3
    assert out[6].reason is Reason.INVALID_INPUT and "int" in (out[6].detail or "")
    assert out[0].reason is not Reason.INVALID_INPUT and out[4].reason is not Reason.INVALID_INPUT
    assert out[5].reason is not Reason.INVALID_INPUT  # a 1 MB text is cut, not refused


def test_route_matches_route_batch(svm_artifact: Path, small_corpus) -> None:  # type: ignore[no-untyped-def]
    router = Router.load(svm_artifact)
    texts = small_corpus.val_texts[:20]
    one = [router.route(t) for t in texts]
    many = router.route_batch(texts)
    assert [(d.route, d.reason) for d in one] == [(d.route, d.reason) for d in many]
    assert np.allclose([d.confidence for d in one], [d.confidence for d in many], atol=1e-5)


def test_validation_accuracy_is_real(trained_svm, small_corpus) -> None:  # type: ignore[no-untyped-def]
    """A router trained on 120 rows per class must beat chance by far on held-out rows."""
    decisions = trained_svm.router().route_batch(small_corpus.val_texts)
    names = small_corpus.classes
    correct = [
        (d.route == names[y]) if y < 3 else (d.route is None)
        for d, y in zip(decisions, small_corpus.val_y)
    ]
    assert np.mean(correct) > 0.8


def test_decision_scores_are_probabilities(trained_svm, svm_artifact: Path) -> None:  # type: ignore[no-untyped-def]
    text = "Should I pay off my mortgage early or invest in index funds?"
    router = Router.load(svm_artifact)
    d = router.route(text)
    assert set(d.scores) == {"law", "finance", "healthcare"}
    assert all(0.0 <= p <= 1.0 for p in d.scores.values()) and 0 <= d.confidence <= 1
    assert d.to_dict()["route"] == d.route
    # the scores are the model's probabilities for the domain columns (ONNX and in-process)
    onnx_probs = router.predict_proba([text])[0]
    py_probs = trained_svm.scores([text])[1][0]
    for i, name in enumerate(router.labels):
        assert d.scores[name] == pytest.approx(float(onnx_probs[i]), abs=1e-6)
        assert d.scores[name] == pytest.approx(float(py_probs[i]), abs=1e-5)
    assert sum(d.scores.values()) <= 1.0 + 1e-5
    assert d.accepted and d.route == "finance"
    assert d.confidence == pytest.approx(d.scores[d.route])
    assert d.route == max(d.scores, key=d.scores.__getitem__)
    assert d.to_dict()["scores"] == {k: round(v, 6) for k, v in d.scores.items()}


def test_serving_needs_no_training_libraries(trained_svm, svm_artifact: Path) -> None:  # type: ignore[no-untyped-def]
    """Load and route with sklearn, scipy, xgboost, fasttext, torch and onnx made unimportable."""
    code = f"""
import builtins, sys
blocked = ("sklearn", "scipy", "xgboost", "fasttext", "torch", "onnx")
real = builtins.__import__
def guard(name, *a, **k):
    if name.split(".")[0] in blocked and name != "onnxruntime" and not name.startswith("onnxruntime"):
        raise ImportError("blocked " + name)
    return real(name, *a, **k)
builtins.__import__ = guard
from gqr import Router
d = Router.load({str(svm_artifact)!r}).route("How do I appeal a parking ticket in court?")
print(d.reason.value)
print(d.route)
print(repr(d.confidence))
print(sorted(m for m in sys.modules if m.split(".")[0] in blocked))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    reason, route, confidence, loaded = out.stdout.strip().splitlines()
    assert reason in {r.value for r in Reason}
    assert loaded == "[]"
    # the same decision as the in-process trained router (an independent path: no ONNX)
    expected = trained_svm.router().route("How do I appeal a parking ticket in court?")
    assert (route, reason) == (str(expected.route), expected.reason.value)
    assert float(confidence) == pytest.approx(expected.confidence, abs=1e-5)


def test_text_without_words_is_out_of_domain_not_a_language(svm_artifact: Path) -> None:
    router = Router.load(svm_artifact)
    no_words = ["🙂🙂🙂", "12345", "?!?!", "3.14 + 2 = 5.14", "١٢٣"]
    for d in router.route_batch(no_words):
        assert (d.route, d.reason) == (None, Reason.OUT_OF_DOMAIN) and d.detail and "no words" in d.detail
    words = router.route_batch(["日本語のテキストです。", "x1", "What are the side effects of ibuprofen?"])
    assert all(not (d.detail or "").startswith("no words") for d in words)


def test_small_talk_is_out_of_domain(svm_artifact: Path) -> None:
    router = Router.load(svm_artifact)
    for d in router.route_batch(["test", "Hello!", "ok", "thanks!!", "Thank you", "test 123", "good morning", "Yes."]):
        assert (d.route, d.reason) == (None, Reason.OUT_OF_DOMAIN) and (d.detail or "").startswith("small talk")
    asks = router.route_batch(["hello, can I sue my landlord for my deposit?", "is this a test result normal?",
                               "help me with my taxes"])
    assert all(not (d.detail or "").startswith("small talk") for d in asks)
