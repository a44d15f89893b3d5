"""Gradient-boosted trees (XGBoost) over selected hashed TF-IDF n-grams, exported to ONNX.

Trees cannot use 2**18 sparse columns cheaply, so ``fit`` keeps the ``n_selected`` hashed
columns with the highest chi-squared score (class vs. document presence, on the training
rows only) and trains on a matrix of just those columns. The exported graph rebuilds the
same matrix from the padded ids/values (TF-IDF, a lookup table from hashed id to column,
``GraphBuilder.dense_columns``) and evaluates the trees with ``ai.onnx.ml``'s
``TreeEnsembleRegressor``, which gives the raw per-class margins (``logits``).

``absent`` says what an n-gram that does not occur in a text is:

* ``"missing"`` (default): XGBoost's sparse convention: absent = missing, sent down each
  split's learned default branch. Training touches only present cells, so it is several
  times faster. The graph turns the dense zeros into NaN, so the same branches apply;
  present TF-IDF values are always > 0, so "absent" and "present" never collide.
* ``"zero"``: a real 0.0. Training and prediction use a dense matrix with ``missing=NaN``,
  so no default branch is ever taken; the graph feeds the dense zeros as they are. Every
  cell is a value, so training touches every cell and is slower.

Split thresholds are moved to the midpoint between the two training values around them
(as scikit-learn's trees do). XGBoost puts them *on* a training value, where a one-ulp
difference between numpy's and onnxruntime's TF-IDF arithmetic could flip a branch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.classifiers.base import FitData, HashedNgrams, check_fitted
from gqr.errors import ExportError, InvalidInputError, require
from gqr.features import HashingConfig, SparseBatch, fit_idf, tfidf_weights
from gqr.features.graph import GraphBuilder

__all__ = ["XGBoostClassifier"]

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3
_ABSENT = ("zero", "missing")


class XGBoostClassifier(HashedNgrams):
    """Multi-class XGBoost (softprob) on the ``n_selected`` most class-dependent n-grams.

    ``decision_function`` returns XGBoost's raw margins (before softmax); the router turns
    them into calibrated probabilities with a temperature fitted on held-out data.
    """

    name = "xgboost"

    def __init__(
        self,
        *,
        hashing: HashingConfig | dict[str, Any] | None = None,
        n_selected: int = 4000,
        min_df: int = 3,
        n_estimators: int = 200,
        max_depth: int = 6,
        learning_rate: float = 0.3,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        max_bin: int = 64,
        early_stopping_rounds: int = 20,
        absent: str = "missing",
        n_jobs: int = 2,
    ) -> None:
        self.hashing = hashing
        self.n_selected = n_selected
        self.min_df = min_df
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.absent = absent
        self.n_jobs = n_jobs
        self.idf_: np.ndarray | None = None
        self.selected_: np.ndarray | None = None  # hashed ids of the columns, ascending
        self.column_of_: np.ndarray | None = None  # hashed id -> column; unselected -> n_selected
        self.booster_: Any = None
        self.n_classes_: int | None = None

    # -- training ---------------------------------------------------------------------------
    def fit(self, data: FitData) -> XGBoostClassifier:
        xgb: Any = require("xgboost", "train", "Training the xgboost backend")
        if self.absent not in _ABSENT:
            raise InvalidInputError(f"absent must be one of {_ABSENT}, got {self.absent!r}")
        y = np.asarray(data.y, dtype=np.int64)
        k = int(data.n_classes)
        if k < 2 or len(y) != len(data.texts) or y.size == 0 or y.min() < 0 or y.max() >= k:
            raise InvalidInputError(
                f"need n_classes >= 2 and one label in [0, n_classes) per text; got n_classes={k}, "
                f"{len(data.texts)} texts, {len(y)} labels"
            )
        given = data.weights()  # mean 1: min_child_weight / reg_lambda mean the same at any scale
        weight = np.ones(y.size) if given is None else given

        n_features = self._hashing.n_features
        counts = self.featurize(data.texts)
        self.idf_ = fit_idf(counts, n_features)
        train = tfidf_weights(counts, self.idf_)
        self.selected_ = _select_columns(train, y, weight, k, self.n_selected, self.min_df, n_features)
        self.column_of_ = np.full(n_features, self.selected_.size, dtype=np.int32)
        self.column_of_[self.selected_] = np.arange(self.selected_.size, dtype=np.int32)
        self.n_classes_ = k

        X = self._matrix(train)
        dtrain = xgb.QuantileDMatrix(X, label=y, weight=weight, missing=np.nan, max_bin=self.max_bin)
        evals = []
        if len(data.val_texts):
            Xv = self._matrix(tfidf_weights(self.featurize(data.val_texts), self.idf_))
            # a plain DMatrix: XGBoost evaluates a QuantileDMatrix eval set far more slowly
            evals = [(xgb.DMatrix(Xv, label=data.val_y, missing=np.nan), "val")]
        params = {
            "objective": "multi:softprob",
            "num_class": k,
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "eval_metric": "mlogloss",
            "nthread": self.n_jobs,
            "seed": data.seed,
            "verbosity": 0,
        }
        booster = xgb.train(
            params, dtrain, self.n_estimators, evals=evals, verbose_eval=False,
            early_stopping_rounds=self.early_stopping_rounds if evals and self.early_stopping_rounds else None,
        )
        if evals and self.early_stopping_rounds:
            booster = booster[: booster.best_iteration + 1]
        model = json.loads(booster.save_raw("json"))
        _center_thresholds(model, self.column_of_[train.ids], train.values)
        self.booster_ = xgb.Booster(params={"nthread": self.n_jobs}, model_file=bytearray(json.dumps(model).encode()))
        return self

    def _matrix(self, batch: SparseBatch) -> Any:
        """TF-IDF rows restricted to the selected columns: CSR (absent="missing") or dense."""
        assert self.column_of_ is not None and self.selected_ is not None
        cols = self.column_of_[batch.ids]
        keep = cols < self.selected_.size
        rows, cols, vals = batch.segments[keep], cols[keep], batch.values[keep]
        shape = (batch.n_rows, int(self.selected_.size))
        if self.absent == "missing":
            return SparseBatch(cols.astype(np.int64), vals, rows, batch.n_rows).to_csr(shape[1])
        X = np.zeros(shape, dtype=np.float32)
        X[rows, cols] = vals
        return X

    # -- prediction -------------------------------------------------------------------------
    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw per-class margins (n, n_classes), float32, before softmax."""
        check_fitted(self, "booster_")
        assert self.idf_ is not None and self.n_classes_ is not None
        if len(texts) == 0:
            return np.zeros((0, self.n_classes_), dtype=np.float32)
        X = self._matrix(tfidf_weights(self.featurize(texts), self.idf_))
        margins = self.booster_.inplace_predict(X, predict_type="margin", missing=np.nan)
        return np.asarray(margins, dtype=np.float32).reshape(len(texts), self.n_classes_)

    # -- export -----------------------------------------------------------------------------
    def to_onnx(self) -> Any:
        check_fitted(self, "booster_")
        assert self.idf_ is not None and self.column_of_ is not None and self.selected_ is not None
        assert self.n_classes_ is not None
        n_sel = int(self.selected_.size)
        g = GraphBuilder("gqr_xgboost")
        w = g.tfidf(self.idf_)  # [n, L]; padding is 0
        table = self.column_of_.astype(np.int16 if n_sel < 2**15 else np.int32)  # 2**18 entries: keep small
        cols = g.op("Cast", [g.op("Gather", [g.const(table, "column_of"), "ids"])], to=g.onnx.TensorProto.INT64)
        dense = g.dense_columns(cols, w, n_sel)  # unselected ids and padding land in the dropped column
        if self.absent == "missing":
            is_zero = g.op("Equal", [dense, g.const(np.float32(0.0))])
            dense = g.op("Where", [is_zero, g.const(np.float32(np.nan)), dense])
        g.opsets[ML_DOMAIN] = ML_OPSET
        attrs = _tree_attributes(json.loads(self.booster_.save_raw("json")), self.n_classes_)
        margins = g.op("TreeEnsembleRegressor", [dense], "trees", domain=ML_DOMAIN, **attrs)
        return g.finish(margins, self.n_classes_)


# -- helpers ------------------------------------------------------------------------------------
def _select_columns(
    batch: SparseBatch, y: np.ndarray, weight: np.ndarray, k: int, n_selected: int, min_df: int, n_features: int
) -> np.ndarray:
    """Hashed ids of the ``n_selected`` columns with the highest chi-squared statistic of the
    (weighted) class x present/absent table, among ids seen in at least ``min_df`` texts."""
    row_w = weight[batch.segments]
    present = np.bincount(y[batch.segments] * n_features + batch.ids, weights=row_w, minlength=k * n_features)
    present = present.reshape(k, n_features)
    class_w = np.bincount(y, weights=weight, minlength=k)[:, None]
    total = class_w.sum()
    df_w = present.sum(axis=0, keepdims=True)
    chi2 = np.zeros(n_features)
    lacking = class_w - present  # weight of each class's texts without the n-gram
    for observed, expected in ((present, class_w * df_w / total), (lacking, class_w * (total - df_w) / total)):
        chi2 += ((observed - expected) ** 2 / np.where(expected > 0, expected, 1.0)).sum(axis=0)
    chi2[np.bincount(batch.ids, minlength=n_features) < min_df] = -1.0
    candidates = int((chi2 >= 0).sum())
    if candidates == 0:
        raise InvalidInputError(f"no n-gram occurs in {min_df} training texts; lower min_df or add data")
    best = np.argsort(-chi2, kind="stable")[: min(n_selected, candidates)]
    return np.sort(best).astype(np.int64)


def _center_thresholds(model: dict[str, Any], cols: np.ndarray, values: np.ndarray) -> None:
    """Move every split threshold ``t`` of ``model`` (XGBoost JSON) to the float32 midpoint
    between ``t`` and the largest training value below it; the training split is unchanged.

    ``cols``/``values`` are the training matrix's present cells (cols >= n_selected are
    ignored); 0.0 counts as a value of every column. Values are TF-IDF weights, >= 0, so
    ``(column << 32) | float32 bits`` sorts cells by column, then value.
    """
    n_sel = int(model["learner"]["learner_model_param"]["num_feature"])
    keep = cols < n_sel
    cells = np.concatenate([_cell_keys(cols[keep], values[keep]), _cell_keys(np.arange(n_sel), np.zeros(n_sel))])
    cells = np.unique(cells)
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    splits = [(t, node) for t, tree in enumerate(trees) for node, left in enumerate(tree["left_children"]) if left >= 0]
    if not splits:
        return
    feature = np.array([trees[t]["split_indices"][node] for t, node in splits], dtype=np.int64)
    threshold = np.array([trees[t]["split_conditions"][node] for t, node in splits], dtype=np.float32)
    below = np.searchsorted(cells, _cell_keys(feature, threshold), side="left") - 1
    prev_key = cells[np.maximum(below, 0)]
    prev = (prev_key & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
    mid = ((prev.astype(np.float64) + threshold) / 2).astype(np.float32)
    ok = (below >= 0) & ((prev_key >> np.uint64(32)).astype(np.int64) == feature) & (prev < mid) & (mid <= threshold)
    for (t, node), m, use in zip(splits, mid.tolist(), ok.tolist(), strict=True):
        if use:
            trees[t]["split_conditions"][node] = m


def _cell_keys(cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return (np.asarray(cols).astype(np.uint64) << np.uint64(32)) | bits


def _base_margin(model: dict[str, Any], k: int) -> list[float]:
    raw = str(model["learner"]["learner_model_param"]["base_score"]).strip("[]")
    base = np.array([float(v) for v in raw.split(",")], dtype=np.float32)
    if base.size == 1:
        base = np.repeat(base, k)
    if base.size != k:
        raise ExportError(f"xgboost base_score has {base.size} values for {k} classes; cannot export")
    return [float(v) for v in base]


def _tree_attributes(model: dict[str, Any], k: int) -> dict[str, Any]:
    """``TreeEnsembleRegressor`` attributes for a multi-class gbtree (XGBoost JSON model)."""
    booster = model["learner"]["gradient_booster"]
    if booster.get("name") != "gbtree":
        raise ExportError(f"only gbtree boosters can be exported, not {booster.get('name')!r}")
    trees, classes = booster["model"]["trees"], booster["model"]["tree_info"]
    a: dict[str, list[Any]] = {key: [] for key in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights",
    )}
    for t, (tree, cls) in enumerate(zip(trees, classes, strict=True)):
        if any(tree["split_type"]):
            raise ExportError("categorical xgboost splits cannot be exported")
        for node, left in enumerate(tree["left_children"]):
            leaf = left == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(node)
            a["nodes_featureids"].append(0 if leaf else tree["split_indices"][node])
            a["nodes_values"].append(0.0 if leaf else tree["split_conditions"][node])
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LT")  # xgboost: x < t goes left
            a["nodes_truenodeids"].append(0 if leaf else left)
            a["nodes_falsenodeids"].append(0 if leaf else tree["right_children"][node])
            a["nodes_missing_value_tracks_true"].append(0 if leaf else int(tree["default_left"][node]))
            if leaf:
                a["target_treeids"].append(t)
                a["target_nodeids"].append(node)
                a["target_ids"].append(int(cls))
                a["target_weights"].append(tree["split_conditions"][node])  # a leaf's value
    return {**a, "n_targets": k, "base_values": _base_margin(model, k), "aggregate_function": "SUM",
            "post_transform": "NONE"}
