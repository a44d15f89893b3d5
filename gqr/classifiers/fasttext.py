"""Supervised fastText, exported as an honest ONNX graph (training tier: needs ``fasttext-wheel``).

The ``.bin`` model never leaves ``fit``: its input matrix, output matrix, vocabulary and
settings are copied into numpy arrays, and ``gqr.features.fasttext`` recomputes fastText's
input ids in numpy. The graph is fastText's forward pass::

    hidden = mean of input rows
    logits = hidden @ output_matrix.T          (softmax loss: probabilities = softmax(logits))

with the two linear steps folded into one: ``logits`` is the mean of the rows of
``input_matrix @ output_matrix.T`` (``class_rows``), so the graph gathers one number a class
per feature instead of ``dim`` numbers (a smaller artifact, a cheaper gather).

Input rows that no training line touched (random initialisation, never updated) are
dropped to keep the artifact small; see ``FastTextFeaturizer``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.classifiers.base import FitData, check_fitted
from gqr.errors import InvalidInputError, require
from gqr.features import SparseBatch
from gqr.features.fasttext import MAX_BUCKET, FastTextFeaturizer, tokenize
from gqr.features.graph import GraphBuilder

__all__ = ["FastTextClassifier"]

LABEL_PREFIX = "__label__"


def _replicate(n: int, sample_weight: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Row indices with each row repeated ``w`` times in expectation (stochastic rounding),
    weights rescaled to sum to ``n``: fastText has no per-example weights, so the class
    balance is applied by resampling."""
    if sample_weight is None:
        return np.arange(n)
    w = np.asarray(sample_weight, dtype=np.float64)  # checked by FitData.weights
    w = w * n / w.sum()
    repeats = np.floor(w).astype(np.int64) + (rng.random(n) < w - np.floor(w))
    return np.repeat(np.arange(n), repeats)


class FastTextClassifier:
    """fastText supervised classifier (softmax loss, word + character n-grams).

    ``decision_function`` returns fastText's logits: ``softmax`` of them equals the
    probabilities fastText itself predicts. ``sample_weight`` is honoured by resampling rows
    (each row appears ``weight`` times in expectation); validation data only feeds
    ``val_accuracy_``. Training is deterministic for a given ``FitData.seed`` only with
    ``thread=1`` (fastText's threads race on shared weights).
    """

    name = "fasttext"

    def __init__(
        self,
        *,
        dim: int = 16,
        epoch: int = 10,
        lr: float = 0.5,
        word_ngrams: int = 2,
        minn: int = 2,
        maxn: int = 5,
        bucket: int = 2**17,
        min_count: int = 2,
        thread: int = 1,
    ) -> None:
        self.dim = dim
        self.epoch = epoch
        self.lr = lr
        self.word_ngrams = word_ngrams
        self.minn = minn
        self.maxn = maxn
        self.bucket = bucket
        self.min_count = min_count
        self.thread = thread
        self.input_matrix_: np.ndarray | None = None
        self.output_matrix_: np.ndarray | None = None
        self.class_rows_: np.ndarray | None = None  # input_matrix_ @ output_matrix_.T
        self.featurizer_: FastTextFeaturizer | None = None
        self.val_accuracy_: float | None = None

    # -- training -----------------------------------------------------------------------------
    def fit(self, data: FitData) -> FastTextClassifier:
        model, tokens = self._train(data)
        self._copy_out(model.f, tokens, data.n_classes)
        if len(data.val_texts):
            pred = self.decision_function(data.val_texts).argmax(axis=1)
            self.val_accuracy_ = float((pred == np.asarray(data.val_y)).mean())
        return self

    def _train(self, data: FitData) -> tuple[Any, list[list[str]]]:
        """Train fastText on a temporary file; return the model and the tokens of the lines
        it was trained on."""
        fasttext: Any = require("fasttext", "train", "Training the fastText backend")
        y = np.asarray(data.y, dtype=np.int64)
        if len(data.texts) != len(y) or len(y) == 0:
            raise InvalidInputError(
                f"need one label per text and at least one text (got {len(data.texts)} texts, {len(y)} labels)"
            )
        if y.min() < 0 or y.max() >= data.n_classes:
            raise InvalidInputError(f"labels must be column indices in [0, {data.n_classes})")
        absent = sorted(set(range(data.n_classes)) - set(y.tolist()))
        if absent:
            raise InvalidInputError(
                f"classes {absent} have no training rows; fastText cannot learn a column without examples"
            )
        if not (
            0 < self.dim and 0 < self.epoch and 0 < self.lr and 1 <= self.word_ngrams and 0 <= self.bucket <= MAX_BUCKET
        ):
            raise InvalidInputError(
                f"invalid fastText settings (dim={self.dim}, epoch={self.epoch}, lr={self.lr}, "
                f"word_ngrams={self.word_ngrams}, bucket={self.bucket}); all must be positive, bucket <= {MAX_BUCKET}"
            )
        if self.maxn > 0 and not 1 <= self.minn <= self.maxn:
            raise InvalidInputError(
                f"need 1 <= minn <= maxn for character n-grams, got minn={self.minn}, maxn={self.maxn}"
            )
        rng = np.random.default_rng(data.seed)
        tokens = [tokenize(t) for t in data.texts]
        order = rng.permutation(_replicate(len(y), data.weights(), rng))  # fastText reads lines in order
        with tempfile.TemporaryDirectory(prefix="gqr-fasttext-") as tmp:
            path = os.path.join(tmp, "train.txt")
            with open(path, "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(f"{LABEL_PREFIX}{y[i]} {' '.join(tokens[i])}\n" for i in order)
            model = fasttext.train_supervised(
                input=path,
                dim=self.dim,
                epoch=self.epoch,
                lr=self.lr,
                wordNgrams=self.word_ngrams,
                minn=self.minn,
                maxn=self.maxn,
                bucket=self.bucket,
                minCount=self.min_count,
                thread=self.thread,
                seed=int(data.seed),
                loss="softmax",
                verbose=0,
            )
        return model, [tokens[i] for i in np.unique(order)]  # rows with weight 0 trained nothing

    def _copy_out(self, f: Any, tokens: list[list[str]], n_classes: int) -> None:
        """Copy matrices, vocabulary and settings out of the binding (``model.f``; the
        Python wrapper's ``predict`` breaks on NumPy 2), keeping only trained input rows."""
        args = f.getArgs()
        vocab = list(f.getVocab("strict")[0])
        full = FastTextFeaturizer(
            vocab, bucket=args.bucket, minn=args.minn, maxn=args.maxn, word_ngrams=args.wordNgrams
        )
        nwords = len(vocab)
        used = np.zeros(args.bucket, dtype=bool)
        for line in tokens:
            ids = full.line_ids(line)
            used[ids[ids >= nwords] - nwords] = True
        matrix = np.array(f.getInputMatrix(), dtype=np.float32, copy=True)
        self.input_matrix_ = np.ascontiguousarray(np.concatenate([matrix[:nwords], matrix[nwords:][used]]))
        out = np.array(f.getOutputMatrix(), dtype=np.float32, copy=True)
        labels = list(f.getLabels("strict")[0])
        columns = np.zeros((n_classes, out.shape[1]), dtype=np.float32)
        for row, label in enumerate(labels):
            columns[int(label[len(LABEL_PREFIX) :])] = out[row]
        self.output_matrix_ = columns
        self.class_rows_ = np.ascontiguousarray(self.input_matrix_ @ columns.T, dtype=np.float32)
        self.featurizer_ = FastTextFeaturizer(
            vocab, bucket=args.bucket, minn=args.minn, maxn=args.maxn, word_ngrams=args.wordNgrams, kept_buckets=used
        )

    # -- inference ----------------------------------------------------------------------------
    def featurize(self, texts: Sequence[str]) -> SparseBatch:
        check_fitted(self, "featurizer_")
        assert self.featurizer_ is not None
        return self.featurizer_(texts)

    def _mean_rows(self, texts: Sequence[str], matrix: np.ndarray) -> np.ndarray:
        """Each text's average of the rows of ``matrix`` at its input ids (fastText's mean)."""
        batch = self.featurize(texts)
        return np.asarray(batch.to_csr(matrix.shape[0]) @ matrix, dtype=np.float32)

    def hidden(self, texts: Sequence[str]) -> np.ndarray:
        """fastText's hidden vectors (the average of each text's input rows), [n, dim]."""
        check_fitted(self, "input_matrix_")
        assert self.input_matrix_ is not None
        return self._mean_rows(texts, self.input_matrix_)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """fastText's logits, as the graph computes them: the mean of ``class_rows_``."""
        check_fitted(self, "class_rows_")
        assert self.class_rows_ is not None
        return self._mean_rows(texts, self.class_rows_)

    # -- export -------------------------------------------------------------------------------
    def featurizer_spec(self) -> dict[str, Any]:
        check_fitted(self, "featurizer_")
        assert self.featurizer_ is not None
        return self.featurizer_.spec()

    def featurizer_files(self) -> dict[str, bytes]:
        check_fitted(self, "featurizer_")
        assert self.featurizer_ is not None
        return self.featurizer_.files()

    def to_onnx(self) -> Any:
        check_fitted(self, "class_rows_")
        assert self.class_rows_ is not None
        g = GraphBuilder("gqr_fasttext")
        logits = g.sparse_matmul(self.class_rows_, "values", hint="class_rows")
        return g.finish(logits, self.class_rows_.shape[1])
