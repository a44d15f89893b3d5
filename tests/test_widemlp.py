"""WideMLP backend: training behaviour, determinism, early stopping and ONNX parity."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from gqr.classifiers.base import Backend, FitData
from gqr.classifiers.widemlp import WideMLPClassifier, _balanced_scores, _holdout
from gqr.errors import MissingDependencyError, NotFittedError
from gqr.features import HashingConfig, from_spec
from gqr.runtime import run_session

pytest.importorskip("torch")  # the widemlp extra

# tiny and fast; higher learning rates than the defaults, which are set for ~50k rows
TINY = {"n_selected": 2**12, "hidden": 24, "max_epochs": 4, "batch_size": 64, "patience": 2, "input_lr": 0.2, "lr": 0.01}


def _onnx_logits(model: WideMLPClassifier, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    featurize = from_spec(model.featurizer_spec(), model.featurizer_files())
    return np.asarray(run_session(session, featurize(texts), outputs=("logits",))[0])


def _assert_parity(onnx: np.ndarray, python: np.ndarray) -> None:
    """Same argmax; logits equal to 1e-5 relative to their scale (float32 sums over hundreds of
    n-grams round at about 1e-6 of the logits' size); probabilities equal to 1e-5, as export checks."""
    assert (onnx.argmax(axis=1) == python.argmax(axis=1)).all()
    assert np.abs(onnx - python).max() <= 1e-5 * max(1.0, float(np.abs(python).max()))
    np.testing.assert_allclose(_softmax(onnx), _softmax(python), atol=1e-5, rtol=0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _weights(model: WideMLPClassifier) -> list[np.ndarray]:
    return [model.input_weights_, model.hidden_bias_, model.output_weights_, model.output_bias_]  # type: ignore[list-item]


@pytest.fixture(scope="module")
def fitted(small_corpus: Any) -> WideMLPClassifier:
    return WideMLPClassifier(**TINY).fit(small_corpus.fit_data())


def test_fit_returns_self_and_learns(small_corpus: Any) -> None:
    model = WideMLPClassifier(**TINY)
    assert model.fit(small_corpus.fit_data()) is model
    assert isinstance(model, Backend) and model.name == "widemlp"
    logits = model.decision_function(small_corpus.val_texts)
    assert logits.shape == (len(small_corpus.val_texts), len(small_corpus.classes))
    assert logits.dtype == np.float32
    assert (logits.argmax(axis=1) == small_corpus.val_y).mean() > 0.8  # six classes: chance is 1/6
    assert model.input_weights_.dtype == np.float16  # type: ignore[union-attr]
    assert model.input_weights_.shape == (len(model.selected_), TINY["hidden"])  # type: ignore[union-attr, arg-type]
    assert len(model.selected_) <= TINY["n_selected"]  # type: ignore[arg-type]


@pytest.mark.parametrize("weight_dtype", ["float16", "float32"])
def test_onnx_matches_python(small_corpus: Any, parity_texts: list[str], weight_dtype: str) -> None:
    model = WideMLPClassifier(**{**TINY, "weight_dtype": weight_dtype}).fit(small_corpus.fit_data())
    texts = parity_texts + small_corpus.val_texts
    python = model.decision_function(texts)
    onnx = _onnx_logits(model, texts)
    _assert_parity(onnx, python)


def test_single_query_and_unknown_ngrams(fitted: WideMLPClassifier) -> None:
    # one query at a time (the serving shape), and a text of n-grams never seen in training
    for text in ["Can my landlord keep the deposit?", "ꙮꙮꙮ ꙮꙮ"]:
        _assert_parity(_onnx_logits(fitted, [text]), fitted.decision_function([text]))


def test_same_seed_same_weights(small_corpus: Any, fitted: WideMLPClassifier) -> None:
    again = WideMLPClassifier(**TINY).fit(small_corpus.fit_data())
    for a, b in zip(_weights(fitted), _weights(again)):
        np.testing.assert_array_equal(a, b)
    other = WideMLPClassifier(**TINY).fit(small_corpus.fit_data(seed=1))
    assert not np.array_equal(fitted.input_weights_, other.input_weights_)


def test_not_fitted_raises() -> None:
    model = WideMLPClassifier(**TINY)
    with pytest.raises(NotFittedError, match="fit"):
        model.decision_function(["hello"])
    with pytest.raises(NotFittedError):
        model.to_onnx()


def test_early_stopping_stops_and_restores_best(small_corpus: Any) -> None:
    # a high learning rate overfits 720 rows within a few epochs, so validation loss turns up
    params = {**TINY, "max_epochs": 30, "patience": 2, "input_lr": 1.0, "lr": 0.05, "dropout": 0.0,
              "weight_dtype": "float32"}
    model = WideMLPClassifier(**params).fit(small_corpus.fit_data())
    losses = [h["val_loss"] for h in model.history_]
    assert len(losses) < 30
    assert model.best_epoch_ == int(np.argmin(losses)) + 1
    assert len(losses) == model.best_epoch_ + 2  # stopped exactly `patience` epochs after the best
    # the kept weights are the best epoch's: recompute its validation loss from them
    restored, _ = _balanced_scores(model.decision_function(small_corpus.val_texts), small_corpus.val_y)
    assert restored == pytest.approx(losses[model.best_epoch_ - 1], abs=1e-4)
    assert restored < losses[-1]


def test_without_validation_rows_holds_out_part_of_training(small_corpus: Any) -> None:
    data = FitData(small_corpus.train_texts, small_corpus.train_y, len(small_corpus.classes), seed=0)
    model = WideMLPClassifier(**{**TINY, "weight_dtype": "float32"}).fit(data)
    assert model.history_ and "val_loss" in model.history_[0]
    n, fraction = len(small_corpus.train_texts), model.val_fraction
    train_idx, val_idx = _holdout(n, fraction, 0)
    assert len(val_idx) == round(n * fraction) and len(train_idx) == n - round(n * fraction)
    assert not set(train_idx.tolist()) & set(val_idx.tolist())  # disjoint ...
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(n))  # ... and covering every row
    assert np.array_equal(_holdout(n, fraction, 0)[1], val_idx)  # seeded
    # the recorded validation loss is measured on exactly those held-out rows
    val_texts = [small_corpus.train_texts[i] for i in val_idx]
    held_out, _ = _balanced_scores(model.decision_function(val_texts), small_corpus.train_y[val_idx])
    assert held_out == pytest.approx(model.history_[model.best_epoch_ - 1]["val_loss"], abs=1e-4)


def test_torch_global_state_is_restored(small_corpus: Any) -> None:
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    before = torch.random.get_rng_state()
    WideMLPClassifier(**{**TINY, "max_epochs": 1, "threads": 1}).fit(small_corpus.fit_data())
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), before)


def test_featurizer_spec_rebuilds_the_featurizer(fitted: WideMLPClassifier, parity_texts: list[str]) -> None:
    served = from_spec(fitted.featurizer_spec(), fitted.featurizer_files())(parity_texts)
    local = fitted.featurize(parity_texts)
    np.testing.assert_array_equal(served.ids, local.ids)
    np.testing.assert_array_equal(served.values, local.values)


def test_hashing_accepts_a_dict() -> None:
    config = HashingConfig(n_features=2**12)
    model = WideMLPClassifier(hashing=config.to_dict())
    assert model.featurizer_spec() == {"kind": "hashed-ngrams", **config.to_dict()}


@pytest.mark.parametrize("bad", [{"monitor": "f1"}, {"weight_dtype": "int8"}, {"hidden": 0}, {"dropout": 1.0}])
def test_invalid_params_are_rejected_at_fit(small_corpus: Any, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WideMLPClassifier(**{**TINY, **bad}).fit(small_corpus.fit_data())


def test_missing_torch_names_the_extra(small_corpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"gqr\[widemlp\]"):
        WideMLPClassifier(**TINY).fit(small_corpus.fit_data())


def test_trains_and_exports_through_the_router(small_corpus: Any, tmp_path: Any) -> None:
    from conftest import training_set

    from gqr.training import TrainConfig, train_router

    trained = train_router(training_set(small_corpus), TrainConfig(model="widemlp", params=TINY, seed=0))
    out = trained.export(tmp_path / "widemlp")  # raises ExportError if ONNX and Python disagree
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == "widemlp"
    assert manifest["parity"]["max_abs_prob_diff"] <= 1e-5
