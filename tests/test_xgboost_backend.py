"""XGBoost backend: contract, ONNX parity, and how absent n-grams are encoded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gqr.classifiers.base import Backend, FitData
from gqr.classifiers.xgboost import XGBoostClassifier
from gqr.errors import InvalidInputError, NotFittedError
from gqr.features import from_spec, tfidf_weights
from gqr.features.graph import INPUT_NAMES

ort = pytest.importorskip("onnxruntime")

TINY: dict[str, Any] = {"n_selected": 400, "n_estimators": 12, "max_depth": 4, "n_jobs": 1}


def _onnx_logits(model: XGBoostClassifier, texts: list[str]) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.to_onnx().SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(["logits"], model.featurize(texts).onnx_feeds())[0]


def _selected_tfidf(model: XGBoostClassifier, texts: list[str]) -> Any:
    """The selected TF-IDF columns as a CSR matrix, built from public attributes only."""
    assert model.idf_ is not None
    csr = tfidf_weights(model.featurize(texts), model.idf_).to_csr(model._hashing.n_features)
    return csr[:, model.selected_].tocsr()


@pytest.fixture(scope="module")
def zero_model(small_corpus: Any) -> XGBoostClassifier:
    return XGBoostClassifier(absent="zero", **TINY).fit(small_corpus.fit_data())


@pytest.fixture(scope="module")
def missing_model(small_corpus: Any) -> XGBoostClassifier:
    return XGBoostClassifier(absent="missing", **TINY).fit(small_corpus.fit_data())


@pytest.fixture(params=["zero", "missing"])
def fitted(request: pytest.FixtureRequest) -> XGBoostClassifier:
    return request.getfixturevalue(f"{request.param}_model")  # type: ignore[no-any-return]


def test_fit_returns_self_and_learns(small_corpus: Any, missing_model: XGBoostClassifier) -> None:
    model = XGBoostClassifier(**TINY)  # absent="missing" by default
    assert isinstance(model, Backend)
    assert model.fit(small_corpus.fit_data()) is model
    margins = model.decision_function(small_corpus.val_texts)
    assert margins.shape == (len(small_corpus.val_texts), 6) and margins.dtype == np.float32
    assert np.isfinite(margins).all()
    assert (margins.argmax(axis=1) == small_corpus.val_y).mean() > 0.6  # chance is 1/6
    assert model.selected_ is not None and model.selected_.size == 400
    assert model.decision_function([]).shape == (0, 6)
    # same data and seed -> the fixture's model exactly; another seed -> another model
    np.testing.assert_array_equal(margins, missing_model.decision_function(small_corpus.val_texts))
    other = XGBoostClassifier(**TINY).fit(small_corpus.fit_data(seed=1))
    assert not np.array_equal(margins, other.decision_function(small_corpus.val_texts))


def test_onnx_matches_python(fitted: XGBoostClassifier, small_corpus: Any, parity_texts: list[str]) -> None:
    # training texts included: their values sit exactly on XGBoost's cut points, where one ulp
    # of numpy-vs-onnxruntime TF-IDF difference would flip a branch if thresholds were not centred
    for texts in (parity_texts, small_corpus.val_texts, small_corpus.train_texts):
        python = fitted.decision_function(texts)
        onnx = _onnx_logits(fitted, texts)
        assert onnx.shape == python.shape
        np.testing.assert_allclose(onnx, python, rtol=0, atol=1e-5)
        assert (onnx.argmax(axis=1) == python.argmax(axis=1)).all()


def test_onnx_graph_signature(fitted: XGBoostClassifier) -> None:
    model = fitted.to_onnx()
    assert tuple(i.name for i in model.graph.input) == INPUT_NAMES
    assert [o.name for o in model.graph.output] == ["logits"]
    assert {o.domain: o.version for o in model.opset_import}["ai.onnx.ml"] == 3
    assert [n.op_type for n in model.graph.node].count("TreeEnsembleRegressor") == 1


def test_absent_ngrams_are_zero_not_missing(zero_model: XGBoostClassifier, parity_texts: list[str]) -> None:
    X = _selected_tfidf(zero_model, parity_texts)
    as_zero = zero_model.booster_.inplace_predict(X.toarray(), predict_type="margin", missing=np.nan)
    as_missing = zero_model.booster_.inplace_predict(X, predict_type="margin")
    assert np.abs(as_zero - as_missing).max() > 0.1  # the two encodings really differ for this model
    np.testing.assert_allclose(zero_model.decision_function(parity_texts), as_zero, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_onnx_logits(zero_model, parity_texts), as_zero, rtol=0, atol=1e-5)


def test_absent_ngrams_can_be_missing(missing_model: XGBoostClassifier, parity_texts: list[str]) -> None:
    X = _selected_tfidf(missing_model, parity_texts)
    as_missing = missing_model.booster_.inplace_predict(X, predict_type="margin")
    np.testing.assert_allclose(missing_model.decision_function(parity_texts), as_missing, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_onnx_logits(missing_model, parity_texts), as_missing, rtol=0, atol=1e-5)


def test_sample_weight_is_honoured(small_corpus: Any, missing_model: XGBoostClassifier) -> None:
    unsafe = small_corpus.classes.index("unsafe")
    heavy = np.where(small_corpus.train_y == unsafe, 20.0, 1.0)
    weighted = XGBoostClassifier(**TINY).fit(small_corpus.fit_data(sample_weight=heavy))

    def n_unsafe(model: XGBoostClassifier) -> int:
        return int((model.decision_function(small_corpus.val_texts).argmax(axis=1) == unsafe).sum())

    assert n_unsafe(weighted) > n_unsafe(missing_model)


def test_early_stopping_keeps_the_best_rounds(small_corpus: Any) -> None:
    params = {**TINY, "n_estimators": 300, "max_depth": 3, "learning_rate": 0.5, "early_stopping_rounds": 3}
    assert XGBoostClassifier(**params).fit(small_corpus.fit_data()).booster_.num_boosted_rounds() < 300
    no_val = FitData(small_corpus.train_texts, small_corpus.train_y, 6)
    assert XGBoostClassifier(**{**TINY, "n_estimators": 5}).fit(no_val).booster_.num_boosted_rounds() == 5


def test_not_fitted_and_bad_arguments(small_corpus: Any) -> None:
    model = XGBoostClassifier()
    with pytest.raises(NotFittedError, match="fit"):
        model.decision_function(["hello"])
    with pytest.raises(NotFittedError):
        model.to_onnx()
    with pytest.raises(InvalidInputError, match="absent"):
        XGBoostClassifier(absent="nan").fit(small_corpus.fit_data())
    with pytest.raises(InvalidInputError, match="n_classes"):
        XGBoostClassifier().fit(FitData(["a b c"], np.array([0]), 1))
    with pytest.raises(InvalidInputError, match="sample_weight"):
        XGBoostClassifier().fit(small_corpus.fit_data(sample_weight=np.zeros(len(small_corpus.train_y))))


def test_featurizer_spec_rebuilds_the_featurizer(zero_model: XGBoostClassifier, parity_texts: list[str]) -> None:
    serve = from_spec(zero_model.featurizer_spec(), zero_model.featurizer_files())(parity_texts)
    train = zero_model.featurize(parity_texts)
    np.testing.assert_array_equal(serve.ids, train.ids)
    np.testing.assert_array_equal(serve.values, train.values)
