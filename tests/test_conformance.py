"""One contract, every backend (scikit-learn's ``parametrize_with_checks`` idea).

Each backend is trained once, tiny, on the same real rows, through the same training and
export path users run; every check below applies to all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Corpus, training_set

from gqr.classifiers import BACKENDS, make_backend
from gqr.classifiers.base import Backend, FitData
from gqr.decision import Reason
from gqr.errors import InvalidInputError, NotFittedError
from gqr.router import Router
from gqr.training import TrainConfig, train_router

TINY: dict[str, dict[str, Any]] = {
    "svm": {},
    "svm-minilm": {},
    "widemlp": {"hidden": 64, "max_epochs": 20, "patience": 4, "n_selected": 2**12, "lr": 0.01, "input_lr": 0.03},
    "fasttext": {"dim": 16, "epoch": 30, "bucket": 2**14},
    "xgboost": {"n_estimators": 10, "n_selected": 300, "max_depth": 3},
}


@pytest.fixture(scope="module", params=sorted(TINY))
def trained(request: pytest.FixtureRequest, small_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    name = request.param
    if name == "widemlp":
        pytest.importorskip("torch", reason="WideMLP needs the 'widemlp' extra")
    model = train_router(training_set(small_corpus), TrainConfig(model=name, params=TINY[name], seed=0))
    return model, model.export(tmp_path_factory.mktemp(name) / "model")


def test_every_backend_is_registered() -> None:
    assert set(TINY) <= set(BACKENDS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_unfitted_backend_raises_not_fitted(name: str) -> None:
    if name == "widemlp":
        pytest.importorskip("torch")
    backend = make_backend(name, **TINY[name])
    assert isinstance(backend, Backend)
    with pytest.raises(NotFittedError, match="fit"):
        backend.decision_function(["is this legal?"])
    with pytest.raises(NotFittedError):
        backend.to_onnx()


def test_fit_returns_self_and_probabilities_are_distributions(trained: tuple[Any, Path], small_corpus: Corpus) -> None:
    from gqr.classifiers.base import FitData

    model, path = trained
    backend = make_backend(model.config.model, **TINY[model.config.model])
    head = small_corpus.train_texts[:120] + small_corpus.train_texts[-120:]
    y = np.array([0] * 120 + [1] * 120)
    assert backend.fit(FitData(texts=head, y=y, n_classes=2, seed=0)) is backend
    two = backend.decision_function(small_corpus.val_texts[:10])
    assert two.shape == (10, 2) and np.all(np.isfinite(two))
    logits, probs = model.scores(small_corpus.val_texts)
    assert logits.shape == probs.shape == (len(small_corpus.val_texts), len(small_corpus.classes))
    assert np.all(probs >= 0) and np.all(probs <= 1)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the exported graph's probabilities: softmax(logits / T), computed here from its own logits
    router = Router.load(path)
    ox_logits, ox_probs = router.scorer.scores(small_corpus.val_texts)
    assert ox_logits.shape == ox_probs.shape == probs.shape
    z = ox_logits.astype(np.float64) / router.guard.temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    assert np.abs(ox_probs - e / e.sum(axis=1, keepdims=True)).max() < 1e-5
    assert np.all(ox_probs >= 0) and np.allclose(ox_probs.sum(axis=1), 1.0, atol=1e-5)


def test_learns_something_real(trained: tuple[Any, Path], small_corpus: Corpus) -> None:
    model, _ = trained
    pred = model.scores(small_corpus.val_texts)[1].argmax(axis=1)
    assert (pred == small_corpus.val_y).mean() > 0.6  # chance is 1/6


def test_onnx_matches_python_on_real_unicode_text(trained: tuple[Any, Path], parity_texts: list[str]) -> None:
    from gqr.text import clean

    model, path = trained
    texts = [clean(t) for t in parity_texts]
    py_logits, py_probs = model.scores(texts)
    ox_logits, ox_probs = Router.load(path).scorer.scores(texts)
    assert np.abs(py_probs - ox_probs).max() < 1e-5
    assert np.array_equal(py_probs.argmax(axis=1), ox_probs.argmax(axis=1))


def test_columns_in_manifest_match_training(trained: tuple[Any, Path], small_corpus: Corpus) -> None:
    model, path = trained
    router = Router.load(path)
    assert router.columns == small_corpus.classes
    assert router.labels == ["law", "finance", "healthcare"]


def test_same_seed_same_model(trained: tuple[Any, Path], small_corpus: Corpus) -> None:
    model, _ = trained
    name = model.config.model
    twin = train_router(training_set(small_corpus), TrainConfig(model=name, params=TINY[name], seed=0))
    texts = small_corpus.val_texts[:50]
    assert np.array_equal(model.scores(texts)[0], twin.scores(texts)[0])


def test_bad_rows_do_not_stop_a_batch(trained: tuple[Any, Path]) -> None:
    _, path = trained
    out = Router.load(path).route_batch(["", "Is my employer allowed to cut my pay?", b"\xc3\x28", "🤔🤔", "x" * 1_000_000])
    assert len(out) == 5
    assert out[0].reason is Reason.INVALID_INPUT and out[2].reason is Reason.INVALID_INPUT
    assert {out[1].reason, out[3].reason, out[4].reason} <= set(Reason) - {Reason.INVALID_INPUT}


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_backend_refuses_bad_sample_weights_the_same_way(name: str, small_corpus: Corpus) -> None:
    """One check (``FitData.weights``) for every backend: negative, all-zero, NaN or short."""
    n = len(small_corpus.train_y)
    for bad in (-np.ones(n), np.zeros(n), np.r_[np.ones(n - 1), np.nan], np.ones(n - 1)):
        with pytest.raises(InvalidInputError, match="sample_weight"):
            make_backend(name, **TINY[name]).fit(small_corpus.fit_data(sample_weight=bad))
    assert FitData(["a b", "c d"], np.array([0, 1]), 2, sample_weight=np.array([1.0, 3.0])).weights().tolist() == [0.5, 1.5]
