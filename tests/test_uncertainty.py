"""The uncertain zone from a model of the router's own errors (``gqr.uncertainty``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gqr import Router
from gqr.errors import ManifestError
from gqr.training import uncertain_band
from gqr.uncertainty import ErrorModel, fit_error_model


def _confident_law_errors(n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two domains and one rejection column; law answers at 0.85-0.95 are wrong half the
    time, finance answers at the same confidence almost never, rejections rarely."""
    rng = np.random.default_rng(0)
    outcome = rng.integers(0, 3, n)  # 0 law, 1 finance, 2 rejected
    top = rng.uniform(0.55, 0.99, n)
    probs = np.zeros((n, 3))
    probs[np.arange(n), outcome] = top
    probs[np.arange(n), (outcome + 1) % 3] = 1 - top
    wrong = np.where(outcome == 0, (top > 0.85) & (top < 0.95) & (rng.random(n) < 0.5), rng.random(n) < 0.02)
    return probs, outcome, wrong


def test_error_model_finds_confident_errors_a_band_cannot() -> None:
    probs, outcome, wrong = _confident_law_errors()
    model, capture = fit_error_model(probs, outcome, wrong, n_domains=2, max_share=0.10)
    assert model is not None and capture["flagged"] <= 0.10 + 1e-9
    flagged = model.flags(probs, outcome)
    assert flagged.mean() == pytest.approx(capture["flagged"]) and flagged[wrong].mean() == capture["errors_flagged"]
    _, _, band = uncertain_band(probs[:, :2].max(axis=1), wrong, 0.10)
    assert capture["errors_flagged"] > band["errors_flagged"] + 0.1
    # the same confidence is doubted for law, not for finance
    row = [0.9, 0.1, 0.0]
    assert model.flag(row, 0) and not model.flag([0.1, 0.9, 0.0], 1)
    assert model.flags(np.array([row]), np.array([0]))[0] == model.flag(row, 0)


def test_an_outcome_never_seen_gets_the_overall_error_rate() -> None:
    probs, outcome, wrong = _confident_law_errors()
    seen = outcome != 1  # no finance decision in validation
    model, _ = fit_error_model(probs[seen], outcome[seen], wrong[seen], 2, 0.10)
    assert model is not None and model.weights[1] == (0.0, 0.0, 0.0)
    rate = wrong[seen].mean()
    assert model.p_wrong(np.array([[0.1, 0.9, 0.0]]), np.array([1]))[0] == pytest.approx(rate)
    assert not model.flag([0.1, 0.9, 0.0], 1)  # the overall rate is below the cut


def test_nothing_to_learn_gives_no_model() -> None:
    probs, outcome, wrong = _confident_law_errors(300)
    assert fit_error_model(probs, outcome, np.zeros_like(wrong), 2, 0.10) == (None, {})
    assert fit_error_model(probs, outcome, np.ones_like(wrong), 2, 0.10) == (None, {})


def test_error_model_round_trips_and_rejects_bad_numbers() -> None:
    model = ErrorModel(weights=((1.0, -2.0, 0.5), (0.0, 1.0, 0.0), (0.3, 0.3, 0.3)), bias=(0.1, -0.2, 0.0), cut=0.4)
    assert ErrorModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    with pytest.raises(ValueError):
        ErrorModel(weights=((1.0, float("nan")),), bias=(0.0,), cut=0.5)
    with pytest.raises(ValueError):
        ErrorModel(weights=((1.0, 2.0), (1.0,)), bias=(0.0, 0.0), cut=0.5)
    with pytest.raises(ValueError):
        ErrorModel(weights=((1.0,),), bias=(0.0,), cut=1.0)


def test_trained_router_flags_by_its_error_model(trained_svm, svm_artifact, small_corpus) -> None:  # type: ignore[no-untyped-def]
    guard = trained_svm.guard
    zone = trained_svm.metrics["uncertain_zone"]
    assert guard.error_model is not None and zone["model"] == "errors" and zone["flagged"] <= 0.10 + 1e-9
    router = Router.load(svm_artifact)
    assert router.guard.error_model == guard.error_model  # stored in the manifest
    texts = small_corpus.val_texts
    decisions, probs = router.route_batch_with_probabilities(texts)
    n = len(router.labels)
    outcome = np.array([router.labels.index(d.route) if d.route else n for d in decisions])
    expected = guard.error_model.flags(probs.astype(np.float32).astype(np.float64), outcome)
    assert [d.uncertain for d in decisions] == expected.tolist()
    assert [router.route(t).uncertain for t in texts] == expected.tolist()  # one query at a time: same flags
    # (none of these rows is small talk or matches a rule, which would replace the decision)
    # the band stays in the manifest for reference
    assert 0.0 <= guard.uncertain_low <= guard.uncertain_high <= 1.0


@pytest.mark.parametrize("edit", [
    lambda e: e.update(cut=1.5),
    lambda e: e.update(weights=e["weights"][:-1], bias=e["bias"][:-1]),
    lambda e: e["weights"][0].append(0.0),
    lambda e: e.update(bias="high"),
])
def test_a_tampered_error_model_is_refused(svm_artifact: Path, tmp_path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "model"
    shutil.copytree(svm_artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest["guard"]["error_model"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="guard"):
        Router.load(copy)
