"""TF-IDF weights of hashed n-gram counts (training side; the graphs compute the same formula)."""

from __future__ import annotations

import numpy as np

from gqr.features.batch import SparseBatch

__all__ = ["fit_idf", "tfidf_weights"]


def tfidf_weights(batch: SparseBatch, idf: np.ndarray) -> SparseBatch:
    """Sublinear TF-IDF with per-row L2 normalisation (the same formula the ONNX graph uses)."""
    w = (1.0 + np.log(batch.values.astype(np.float32))) * idf[batch.ids]
    norms = np.sqrt(np.bincount(batch.segments, weights=w * w, minlength=batch.n_rows))
    w = w / np.maximum(norms[batch.segments], 1e-12)
    return batch.with_values(w.astype(np.float32))


def fit_idf(batch: SparseBatch, n_features: int) -> np.ndarray:
    """Smoothed inverse document frequency, as scikit-learn computes it."""
    df = np.bincount(batch.ids, minlength=n_features).astype(np.float64)
    return (np.log((1.0 + batch.n_rows) / (1.0 + df)) + 1.0).astype(np.float32)
