"""Linear SVM over hashed word and character n-gram TF-IDF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.classifiers.base import FitData, HashedNgrams, check_fitted
from gqr.errors import require
from gqr.features import HashingConfig, fit_idf, tfidf_weights
from gqr.features.graph import GraphBuilder

__all__ = ["LinearSVMClassifier", "fit_linear_svm"]


def fit_linear_svm(X: Any, data: FitData, C: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``LinearSVC`` on ``X``; return float64 (coef [k, d], intercept [k]) with one row
    per class, also for two classes (where LinearSVC keeps a single margin)."""
    LinearSVC = require("sklearn.svm", "train", "Training the svm backend").LinearSVC

    svm = LinearSVC(C=C, max_iter=max_iter, random_state=data.seed, dual=True)
    svm.fit(X, data.y, sample_weight=data.weights())
    coef = svm.coef_.astype(np.float64)
    intercept = svm.intercept_.astype(np.float64)
    if data.n_classes == 2 and coef.shape[0] == 1:
        coef = np.vstack([-coef, coef]) / 2
        intercept = np.array([-intercept[0], intercept[0]]) / 2
    return coef, intercept


class LinearSVMClassifier(HashedNgrams):
    """One-vs-rest linear SVM (scikit-learn ``LinearSVC``) on sublinear TF-IDF.

    ``decision_function`` gives the SVM margins; the router turns them into calibrated
    probabilities with a temperature fitted on held-out data.
    """

    name = "svm"

    def __init__(self, *, C: float = 0.5, hashing: HashingConfig | dict[str, Any] | None = None,
                 max_iter: int = 2000) -> None:
        self.C = C
        self.hashing = hashing
        self.max_iter = max_iter
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self.idf_: np.ndarray | None = None

    def fit(self, data: FitData) -> LinearSVMClassifier:
        counts = self.featurize(data.texts)
        n_features = self._hashing.n_features
        self.idf_ = fit_idf(counts, n_features)
        X = tfidf_weights(counts, self.idf_).to_csr(n_features)
        coef, intercept = fit_linear_svm(X, data, self.C, self.max_iter)
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        check_fitted(self, "coef_")
        assert self.coef_ is not None and self.intercept_ is not None and self.idf_ is not None
        X = tfidf_weights(self.featurize(texts), self.idf_).to_csr(self._hashing.n_features)
        return np.asarray(X @ self.coef_.T, dtype=np.float32) + self.intercept_

    def to_onnx(self) -> Any:
        check_fitted(self, "coef_")
        assert self.coef_ is not None and self.intercept_ is not None and self.idf_ is not None
        g = GraphBuilder("gqr_linear_svm")
        scores = g.tfidf_matmul(self.idf_, np.ascontiguousarray(self.coef_.T, dtype=np.float32))
        out = g.op("Add", [scores, g.const(self.intercept_, "b")])
        return g.finish(out, self.coef_.shape[0])
