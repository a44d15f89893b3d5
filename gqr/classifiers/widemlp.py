"""WideMLP: one wide hidden layer over hashed n-gram TF-IDF, trained with PyTorch.

A bag-of-n-grams MLP in the spirit of Galke & Scherp (2022), "Bag-of-Words Baselines for
Text Classification Are Not Too Shallow": sparse TF-IDF -> wide ReLU layer -> dropout ->
linear logits. The input layer is restricted to the ``n_selected`` hashed ids with the
highest document frequency in the training data (a compact vocabulary), so its weight
matrix stays small enough for an artifact; other ids still count in each row's L2 norm
but hit a zero row.

PyTorch is needed only to train (``pip install 'gqr[widemlp]'``). Inference, in
``decision_function`` and in the ONNX graph, is the same math on the stored weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gqr.calibration import log_softmax
from gqr.classifiers.base import FitData, HashedNgrams, check_fitted
from gqr.errors import require
from gqr.features import HashingConfig, SparseBatch, fit_idf, gather_rows, tfidf_weights
from gqr.features.graph import GraphBuilder

__all__ = ["WideMLPClassifier"]

_WEIGHT_DTYPES = {"float16": np.float16, "float32": np.float32}
_EVAL_BATCH = 4096


class WideMLPClassifier(HashedNgrams):
    """TF-IDF -> Linear(n_selected, hidden) -> ReLU -> Dropout -> Linear(hidden, k).

    Training is seeded (``FitData.seed``), runs with deterministic algorithms on a fixed
    number of ``threads``, and stops early once the validation metric (``monitor``:
    class-balanced cross-entropy ``"loss"`` or balanced ``"accuracy"``) has not improved
    for ``patience`` epochs; the best epoch's weights are kept. Without validation rows in
    ``FitData``, ``val_fraction`` of the training rows are held out for this.

    The wide input layer learns with row-wise AdaGrad (``input_lr``), the head with AdamW
    (``lr``); ``weight_decay`` applies to both weight matrices. ``weight_dtype="float16"``
    stores the input layer in half precision (half the artifact size);
    ``decision_function`` uses the same rounded weights as the ONNX graph.
    """

    name = "widemlp"
    # The paper's WideMLP reads a bag of words: word uni- and bigrams keep a query to a few
    # dozen ids, so the wide layer gathers few rows and stays fast.
    default_hashing = HashingConfig(char_ngrams=(0, 0))

    def __init__(
        self,
        *,
        hashing: HashingConfig | dict[str, Any] | None = None,
        n_selected: int = 2**15,
        hidden: int = 1000,
        dropout: float = 0.5,
        lr: float = 1e-3,
        input_lr: float = 0.003,
        batch_size: int = 256,
        max_epochs: int = 30,
        patience: int = 5,
        monitor: str = "loss",
        weight_decay: float = 0.0,
        class_weight: str | None = "balanced",
        val_fraction: float = 0.1,
        weight_dtype: str = "float16",
        threads: int = 1,
    ) -> None:
        self.hashing = hashing
        self.n_selected = n_selected
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.input_lr = input_lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.monitor = monitor
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.val_fraction = val_fraction
        self.weight_dtype = weight_dtype
        self.threads = threads
        self.idf_: np.ndarray | None = None
        self.selected_: np.ndarray | None = None
        self.input_weights_: np.ndarray | None = None
        self.hidden_bias_: np.ndarray | None = None
        self.output_weights_: np.ndarray | None = None
        self.output_bias_: np.ndarray | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_: int | None = None

    # -- featurizer ---------------------------------------------------------------------------

    # -- training -------------------------------------------------------------------------------
    def fit(self, data: FitData) -> WideMLPClassifier:
        torch = require("torch", "widemlp", "Training WideMLP")
        self._check_params(data)
        texts, y, weights = list(data.texts), np.asarray(data.y, dtype=np.int64), self._sample_weight(data)
        val_texts, val_y = list(data.val_texts), np.asarray(data.val_y, dtype=np.int64)
        if not val_texts:
            train_idx, val_idx = _holdout(len(texts), self.val_fraction, data.seed)
            val_texts, val_y = [texts[i] for i in val_idx], y[val_idx]
            texts, y, weights = [texts[i] for i in train_idx], y[train_idx], weights[train_idx]
        n_features = self._hashing.n_features
        counts = self.featurize(texts)
        self.idf_ = fit_idf(counts, n_features)
        self.selected_ = _select_by_df(counts, n_features, self.n_selected)
        lookup = self._lookup()
        n_sel = len(self.selected_)
        train = _Rows.from_batch(tfidf_weights(counts, self.idf_), lookup, n_sel)
        val = _Rows.from_batch(tfidf_weights(self.featurize(val_texts), self.idf_), lookup, n_sel)
        with _torch_session(torch, self.threads, data.seed):
            state, self.history_, self.best_epoch_ = _train(self, torch, train, y, weights, val, val_y, data)
        storage = _WEIGHT_DTYPES[self.weight_dtype]
        self.input_weights_ = state["W1"].astype(storage)
        self.hidden_bias_ = state["b1"]
        self.output_weights_ = state["W2"]
        self.output_bias_ = state["b2"]
        return self

    def _check_params(self, data: FitData) -> None:
        if self.monitor not in ("loss", "accuracy"):
            raise ValueError(f"monitor must be 'loss' or 'accuracy', not {self.monitor!r}")
        if self.weight_dtype not in _WEIGHT_DTYPES:
            raise ValueError(f"weight_dtype must be one of {sorted(_WEIGHT_DTYPES)}, not {self.weight_dtype!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, not {self.class_weight!r}")
        for name in ("n_selected", "hidden", "batch_size", "max_epochs", "patience", "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")
        if len(data.texts) != len(data.y) or len(data.texts) < 2:
            raise ValueError("FitData needs at least two texts and one label per text")

    def _sample_weight(self, data: FitData) -> np.ndarray:
        y = np.asarray(data.y, dtype=np.int64)
        given = data.weights()
        if given is not None:
            w = given
        elif self.class_weight == "balanced":
            w = _balanced(y, data.n_classes)
        else:
            w = np.ones(len(y))
        return np.asarray(w / w.mean(), dtype=np.float32)

    def _lookup(self) -> np.ndarray:
        """Hashed id -> compact row; ids outside the selection map to the zero row ``n``."""
        assert self.selected_ is not None
        lookup = np.full(self._hashing.n_features, len(self.selected_), dtype=np.int32)
        lookup[self.selected_] = np.arange(len(self.selected_), dtype=np.int32)
        return lookup

    # -- inference ------------------------------------------------------------------------------
    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        check_fitted(self, "input_weights_")
        assert self.idf_ is not None and self.selected_ is not None and self.input_weights_ is not None
        assert self.hidden_bias_ is not None and self.output_weights_ is not None and self.output_bias_ is not None
        csr_matrix = require("scipy.sparse", "train", "WideMLP's Python scoring").csr_matrix

        batch = tfidf_weights(self.featurize(texts), self.idf_)
        pos = np.minimum(np.searchsorted(self.selected_, batch.ids), len(self.selected_) - 1)
        keep = self.selected_[pos] == batch.ids  # unselected ids meet the zero row: drop them
        rows, local = np.unique(pos[keep], return_inverse=True)
        coords = (batch.segments[keep], local.reshape(-1))
        x = csr_matrix((batch.values[keep], coords), shape=(batch.n_rows, len(rows)))
        # the stored (possibly float16) weights widened to float32, exactly as the ONNX Cast does
        hidden = np.asarray(x @ self.input_weights_[rows].astype(np.float32), dtype=np.float32) + self.hidden_bias_
        np.maximum(hidden, 0.0, out=hidden)
        return np.asarray(hidden @ self.output_weights_.T + self.output_bias_, dtype=np.float32)

    def to_onnx(self) -> Any:
        check_fitted(self, "input_weights_")
        assert self.idf_ is not None and self.input_weights_ is not None and self.hidden_bias_ is not None
        assert self.output_weights_ is not None and self.output_bias_ is not None
        g = GraphBuilder("gqr_widemlp")
        values = g.tfidf(self.idf_)  # [n, L]; padding has value 0
        compact = g.op("Gather", [g.const(self._lookup(), "lookup"), "ids"], "compact_ids")
        stored = np.vstack([self.input_weights_, np.zeros((1, self.input_weights_.shape[1]), self.input_weights_.dtype)])
        hidden = g.sparse_matmul(stored, values, ids=compact)
        hidden = g.op("Relu", [g.op("Add", [hidden, g.const(self.hidden_bias_, "b1")])])
        logits = g.op("MatMul", [hidden, g.const(np.ascontiguousarray(self.output_weights_.T), "W2")])
        out = g.op("Add", [logits, g.const(self.output_bias_, "b2")])
        return g.finish(out, self.output_weights_.shape[0])


# -- training internals -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Rows:
    """Compact CSR rows (selected ids only) ready to be sliced into EmbeddingBag batches."""

    indptr: np.ndarray  # int64 [n + 1]
    cols: np.ndarray  # int64 [nnz], compact ids
    values: np.ndarray  # float32 [nnz]

    @classmethod
    def from_batch(cls, batch: SparseBatch, lookup: np.ndarray, n_selected: int) -> _Rows:
        cols = lookup[batch.ids].astype(np.int64)
        keep = cols < n_selected
        segments = batch.segments[keep]  # hash_texts emits rows in order, so segments are sorted
        indptr = np.zeros(batch.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(segments, minlength=batch.n_rows), out=indptr[1:])
        return cls(indptr, cols[keep], batch.values[keep].astype(np.float32))

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cols, offsets, values)`` of ``rows``, in the layout ``embedding_bag`` expects."""
        idx, offsets = gather_rows(self.indptr, rows)
        return self.cols[idx], offsets, self.values[idx]


def _select_by_df(counts: SparseBatch, n_features: int, n_selected: int) -> np.ndarray:
    """The ``n_selected`` ids in the most training rows (ties: lower id), sorted."""
    df = np.bincount(counts.ids, minlength=n_features)
    order = np.lexsort((np.arange(n_features), -df))[:n_selected]
    return np.sort(order[df[order] > 0]).astype(np.int64)


def _holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * fraction)), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _balanced(y: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.asarray(len(y) / (np.count_nonzero(counts) * counts[y]))


def _balanced_scores(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Class-balanced cross-entropy and balanced accuracy (mean over the classes in ``y``)."""
    nll = -log_softmax(logits)[np.arange(len(y)), y]
    hit = logits.argmax(axis=1) == y
    classes = np.unique(y)
    return float(np.mean([nll[y == c].mean() for c in classes])), float(np.mean([hit[y == c].mean() for c in classes]))


@contextmanager
def _torch_session(torch: Any, threads: int, seed: int) -> Iterator[None]:
    """Seeded, deterministic, fixed-thread torch; the caller's global torch state is restored."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(int(threads))
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)
            torch.set_num_threads(threads_before)


class _RowAdagrad:
    """Row-wise AdaGrad for the wide input layer: one accumulator per row (the mean squared
    gradient of that row), and only the rows a batch touches are read or written. Per-element
    optimiser state (Adam) would cost several passes over those rows for every step."""

    def __init__(self, torch: Any, weight: np.ndarray, lr: float, weight_decay: float) -> None:
        self.torch, self.weight, self.lr, self.weight_decay = torch, weight, lr, weight_decay
        self.view = torch.from_numpy(weight)  # shares memory with ``weight``
        self.acc = np.zeros(weight.shape[0], dtype=np.float32)

    def step(self, rows: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            grad += self.weight_decay * self.weight[rows]
        self.acc[rows] += np.einsum("ij,ij->i", grad, grad) / grad.shape[1]
        grad *= (-self.lr / (np.sqrt(self.acc[rows]) + 1e-10))[:, None]
        self.view.index_add_(0, self.torch.from_numpy(rows), self.torch.from_numpy(grad))


def _train(
    est: WideMLPClassifier,
    torch: Any,
    train: _Rows,
    y: np.ndarray,
    weights: np.ndarray,
    val: _Rows,
    val_y: np.ndarray,
    data: FitData,
) -> tuple[dict[str, np.ndarray], list[dict[str, float]], int]:
    """Mini-batch training with early stopping; returns the best epoch's weights as numpy.

    The wide sparse layer is run with ``embedding_bag`` and updated by hand: its gradient
    for the touched rows is ``X_batch.T @ dL/dh`` (one sparse product), then row-wise
    AdaGrad. The small dense head (bias, ReLU, dropout, output layer) uses autograd + AdamW.
    """
    csr_matrix = require("scipy.sparse", "train", "Training WideMLP").csr_matrix

    F = torch.nn.functional
    assert est.selected_ is not None
    n_in, hidden, k, batch_size = len(est.selected_), int(est.hidden), int(data.n_classes), int(est.batch_size)

    def uniform(shape: tuple[int, ...], fan_in: int) -> Any:
        bound = 1.0 / np.sqrt(fan_in)
        return torch.empty(shape).uniform_(-bound, bound)

    W1_t = uniform((n_in, hidden), n_in)
    W1 = W1_t.numpy()  # same memory
    W2 = uniform((k, hidden), hidden).requires_grad_()
    b1, b2 = torch.zeros(hidden, requires_grad=True), torch.zeros(k, requires_grad=True)
    input_opt = _RowAdagrad(torch, W1, est.input_lr, est.weight_decay)
    head_opt = torch.optim.AdamW(
        [{"params": [W2], "weight_decay": est.weight_decay}, {"params": [b1, b2], "weight_decay": 0.0}], lr=est.lr
    )

    def pre_activation(cols: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> Any:
        return F.embedding_bag(
            torch.from_numpy(cols), W1_t, torch.from_numpy(offsets), mode="sum",
            per_sample_weights=torch.from_numpy(values),
        )

    def head(h: Any, training: bool) -> Any:
        return F.linear(F.dropout(F.relu(h + b1), p=est.dropout, training=training), W2, b2)

    rng = np.random.default_rng(data.seed)
    y_t, w_t = torch.from_numpy(y), torch.from_numpy(weights)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, np.ndarray]] | None = None
    for epoch in range(1, int(est.max_epochs) + 1):
        order = rng.permutation(train.n_rows)
        seen, total = 0.0, 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            cols, offsets, values = train.take(index)
            with torch.no_grad():
                h = pre_activation(cols, offsets, values)
            h.requires_grad_()
            idx_t = torch.from_numpy(index)
            bw = w_t[idx_t]
            loss = (F.cross_entropy(head(h, True), y_t[idx_t], reduction="none") * bw).sum() / bw.sum()
            head_opt.zero_grad()
            loss.backward()
            head_opt.step()
            rows, local = np.unique(cols, return_inverse=True)
            segments = np.repeat(np.arange(len(index)), np.diff(np.append(offsets, len(cols))))
            x_t = csr_matrix((values, (local.reshape(-1), segments)), shape=(len(rows), len(index)))
            input_opt.step(rows, np.asarray(x_t @ h.grad.numpy(), dtype=np.float32))
            seen += float(bw.sum())
            total += float(loss.detach()) * float(bw.sum())
        with torch.no_grad():
            chunks = (np.arange(s, min(s + _EVAL_BATCH, val.n_rows)) for s in range(0, val.n_rows, _EVAL_BATCH))
            parts = [head(pre_activation(*val.take(chunk)), False) for chunk in chunks]
        val_loss, val_acc = _balanced_scores(torch.cat(parts).numpy(), val_y)
        history.append(
            {"epoch": epoch, "train_loss": total / max(seen, 1e-12), "val_loss": val_loss, "val_accuracy": val_acc}
        )
        score = val_loss if est.monitor == "loss" else -val_acc
        if best is None or score < best[0] - 1e-4:
            tensors = {"W1": W1_t, "b1": b1, "W2": W2, "b2": b2}
            best = (score, epoch, {name: t.detach().numpy().copy() for name, t in tensors.items()})
        elif epoch - best[1] >= int(est.patience):
            break
    assert best is not None
    return best[2], history, best[1]
