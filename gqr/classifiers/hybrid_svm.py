"""Linear SVM over hashed n-gram TF-IDF plus static MiniLM token embeddings ("svm-minilm").

The feature vector of a query is the concatenation of

* sublinear TF-IDF of hashed word/character n-grams, L2-normalised (as the ``svm`` backend);
* ``alpha`` times the L2-normalised mean of the static vectors of its WordPiece tokens
  (all-MiniLM-L6-v2 distilled per token, PCA-reduced; ``scripts/build_static_embeddings.py``),
  each vector scaled by ``sif / (sif + p(token))`` with ``p`` the token's frequency in the
  training texts (smooth inverse frequency), so that "how", "do" and "my" stop drowning
  "deposit" or "copyright".

One ``LinearSVC`` is trained on it. The n-grams fit the training sources closely; the token
vectors carry meaning across wordings and sources the training data does not cover.

To keep the artifact small, the hashed weights, the IDF and the token table are stored as
float16 in the graph (then cast to float32); the Python path uses the same rounded values,
so both compute the same logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.classifiers.base import FitData, check_fitted
from gqr.errors import InvalidInputError, require
from gqr.features import HashingConfig, SparseBatch, fit_idf, tfidf_weights
from gqr.features.graph import GraphBuilder
from gqr.features.hybrid import HybridFeaturizer, default_vocab, load_table, split_batch
from gqr.features.wordpiece import parse_vocab

__all__ = ["HybridSVMClassifier"]

DEFAULT_HASHING = HashingConfig(n_features=2**17)
_EPS2 = np.float32(1e-24)  # squared-norm floor: an all-zero row stays zero


def _dot_used_rows(batch: SparseBatch, weights: np.ndarray) -> np.ndarray:
    """``batch @ weights`` ([n_rows, w] float32) for float16 or float32 ``weights`` with one
    row per feature id, widening only the rows the batch uses (the tables are large)."""
    used, columns = np.unique(batch.ids, return_inverse=True)
    compact = SparseBatch(columns.astype(np.int64).ravel(), batch.values, batch.segments, batch.n_rows)
    return np.asarray(compact.to_csr(len(used)) @ weights[used].astype(np.float32), dtype=np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm (all-zero rows stay zero), in float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(np.maximum((x * x).sum(axis=1, keepdims=True, dtype=np.float32), _EPS2))
    return x / norms


class HybridSVMClassifier:
    """One-vs-rest linear SVM on [hashed TF-IDF, alpha * mean static token vector].

    ``dims`` picks the shipped table (``gqr/resources/minilm_static_<dims>.npy``);
    ``decision_function`` gives the SVM margins.
    """

    name = "svm-minilm"

    def __init__(
        self,
        *,
        C: float = 0.5,
        alpha: float = 2.0,
        dims: int = 128,
        sif: float = 1e-4,
        hashing: HashingConfig | None = None,
        max_iter: int = 2000,
    ) -> None:
        self.C = C
        self.alpha = alpha
        self.dims = dims
        self.sif = sif
        self.hashing = hashing
        self.max_iter = max_iter
        self.idf_: np.ndarray | None = None  # float16 [n_features]
        self.coef_hashed_: np.ndarray | None = None  # float16 [k, n_features]
        self.coef_embed_: np.ndarray | None = None  # float32 [k, dims], alpha folded in
        self.intercept_: np.ndarray | None = None  # float32 [k]
        self.table_: np.ndarray | None = None  # float16 [vocab, dims]
        self._featurizer: HybridFeaturizer | None = None

    @property
    def _hashing(self) -> HashingConfig:
        return self.hashing or DEFAULT_HASHING

    @property
    def featurizer(self) -> HybridFeaturizer:
        if self._featurizer is None or self._featurizer.hashing != self._hashing:
            self._featurizer = HybridFeaturizer(self._hashing, parse_vocab(default_vocab()))
        return self._featurizer

    def featurize(self, texts: Sequence[str]) -> SparseBatch:
        return self.featurizer(texts)

    # -- features -----------------------------------------------------------------------------
    def _hashed_tfidf(self, hashed: SparseBatch, idf: np.ndarray) -> Any:
        return tfidf_weights(hashed, idf.astype(np.float32)).to_csr(self._hashing.n_features)

    @staticmethod
    def _mean_vectors(tokens: SparseBatch, table: np.ndarray) -> np.ndarray:
        """L2-normalised count-weighted mean of token vectors, [n, dims] float32."""
        return unit_rows(_dot_used_rows(tokens, table))

    def _frequency_weighted(self, table: np.ndarray, tokens: SparseBatch) -> np.ndarray:
        """``table`` (float16) with each row scaled by ``sif / (sif + p(token))``, ``p`` the
        token's share of all token occurrences in ``tokens``; unchanged for ``sif == 0``."""
        if self.sif == 0:
            return table
        counts = np.bincount(tokens.ids, weights=tokens.values, minlength=table.shape[0])[: table.shape[0]]
        share = counts / max(float(counts.sum()), 1.0)
        weight = (self.sif / (self.sif + share)).astype(np.float32)
        return (table.astype(np.float32) * weight[:, None]).astype(np.float16)

    # -- training -----------------------------------------------------------------------------
    def fit(self, data: FitData) -> HybridSVMClassifier:
        sparse = require("scipy.sparse", "train", "Training svm-minilm")
        csr_matrix, hstack = sparse.csr_matrix, sparse.hstack

        from gqr.classifiers.linear_svm import fit_linear_svm

        if not self.alpha > 0 or not self.C > 0 or not self.sif >= 0:
            raise InvalidInputError(f"alpha and C must be positive and sif >= 0 (0: no frequency weighting), "
                                    f"got alpha={self.alpha}, C={self.C}, sif={self.sif}")
        table = load_table(self.dims)
        featurizer = self.featurizer
        if table.shape[0] != featurizer.vocab_size:
            raise InvalidInputError(f"table has {table.shape[0]} rows for a {featurizer.vocab_size}-token vocabulary")
        n_features = self._hashing.n_features
        hashed, tokens = split_batch(self.featurize(data.texts), n_features)
        idf = fit_idf(hashed, n_features).astype(np.float16)
        table = self._frequency_weighted(table, tokens)
        embedded = np.float32(self.alpha) * self._mean_vectors(tokens, table)
        X = hstack([self._hashed_tfidf(hashed, idf), csr_matrix(embedded)], format="csr")
        coef, intercept = fit_linear_svm(X, data, self.C, self.max_iter)
        self.idf_ = idf
        self.coef_hashed_ = np.ascontiguousarray(coef[:, :n_features].astype(np.float16))
        self.coef_embed_ = np.ascontiguousarray((coef[:, n_features:] * self.alpha).astype(np.float32))
        self.intercept_ = intercept.astype(np.float32)
        self.table_ = table
        return self

    # -- inference ----------------------------------------------------------------------------
    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        check_fitted(self, "coef_embed_")
        assert self.idf_ is not None and self.coef_hashed_ is not None and self.table_ is not None
        assert self.coef_embed_ is not None and self.intercept_ is not None
        hashed, tokens = split_batch(self.featurize(texts), self._hashing.n_features)
        weighted = tfidf_weights(hashed, self.idf_.astype(np.float32))
        scores = _dot_used_rows(weighted, self.coef_hashed_.T)
        scores += self._mean_vectors(tokens, self.table_) @ self.coef_embed_.T
        return scores + self.intercept_

    def featurizer_spec(self) -> dict[str, Any]:
        return self.featurizer.spec()

    def featurizer_files(self) -> dict[str, bytes]:
        return self.featurizer.files()

    # -- export -------------------------------------------------------------------------------
    def to_onnx(self) -> Any:
        """Graph: ``ids >= n_features`` are tokens. N-gram ids are clipped to ``n_features``, a
        row of zero IDF and zero weights, so tokens drop out of the TF-IDF part; token ids
        are shifted by ``n_features - 1`` and clipped at 0, a zero table row, so n-grams drop
        out of the embedding part. No scatter, no masks beyond the TF-IDF padding test."""
        check_fitted(self, "coef_embed_")
        assert self.idf_ is not None and self.coef_hashed_ is not None and self.table_ is not None
        assert self.coef_embed_ is not None and self.intercept_ is not None
        g = GraphBuilder("gqr_svm_minilm")
        n_features = self._hashing.n_features
        k, dims = self.coef_embed_.shape
        # hashed n-grams: TF-IDF, then the SVM's n-gram weights; row n_features (zero IDF and
        # weights) takes the clipped token ids
        hashed_ids = g.op("Min", ["ids", g.const(np.int64(n_features))])
        idf = np.append(self.idf_, np.float16(0))
        coef = np.vstack([self.coef_hashed_.T, np.zeros((1, k), np.float16)])
        scores = g.tfidf_matmul(idf, coef, hashed_ids)
        # tokens: unit-length sum of static vectors (= unit-length mean), then the SVM's weights
        tok_ids, tok_values = _token_columns(g, n_features)
        table = np.vstack([np.zeros((1, dims), np.float16), self.table_])
        shifted = g.op("Max", [g.op("Sub", [tok_ids, g.const(np.int64(n_features - 1))]), g.const(np.int64(0))])
        vectors = g.weighted_rows(g.gather_rows(table, shifted, "token_table"), tok_values)
        embed_scores = g.op("MatMul", [g.unit_rows(vectors), g.const(np.ascontiguousarray(self.coef_embed_.T), "W_embed")])
        out = g.op("Add", [g.op("Add", [scores, embed_scores]), g.const(self.intercept_, "b")])
        return g.finish(out, k)


def _token_columns(g: GraphBuilder, n_features: int) -> tuple[str, str]:
    """(ids, values) cut to columns ``[0, 1 + last column holding a token in any row)``.

    Correct for any layout; cheap with ``HybridFeaturizer``'s (tokens first in each row)."""
    is_token = g.op("GreaterOrEqual", ["ids", g.const(np.int64(n_features))])
    width = g.op("Squeeze", [g.op("Shape", ["ids"], start=1, end=2)])
    one = g.const(np.int64(1))
    position = g.op("Range", [one, g.op("Add", [width, one]), one])  # 1-based column numbers
    end = g.op("ReduceMax", [g.op("Where", [is_token, position, g.const(np.int64(0))])], keepdims=1)
    end = g.op("Reshape", [end, g.const(np.array([1], np.int64))])
    start, axis = g.const(np.array([0], np.int64)), g.axes(1)
    return g.op("Slice", ["ids", start, end, axis]), g.op("Slice", ["values", start, end, axis])
