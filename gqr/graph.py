"""Small builders for the ONNX graphs that backends export (training tier: needs ``onnx``).

Every router graph has the same signature::

    inputs : ids int64[nnz], values float32[nnz], segments int64[nnz], n_rows int64[1]
    outputs: logits float32[n_rows, k]

``ids``/``values``/``segments`` are the flat triplets of ``gqr.features.SparseBatch``. The
builders here keep the sparse part (gather rows of a weight matrix, scatter-add them per
query) in one place, so every backend computes ``X @ W`` the same way without a dense X.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gqr.errors import require

__all__ = ["GraphBuilder", "INPUT_NAMES", "OPSET"]

OPSET = 18
INPUT_NAMES = ("ids", "values", "segments", "n_rows")


class GraphBuilder:
    """Accumulates nodes and initializers; ``finish`` returns an ``onnx.ModelProto``."""

    def __init__(self, name: str) -> None:
        self.onnx: Any = require("onnx", "train", "Exporting to ONNX")
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._ids = itertools.count()

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._ids)}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, **attrs: Any) -> Any:
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    # -- sparse building blocks -------------------------------------------------------------
    def tfidf(self, idf: np.ndarray) -> str:
        """Sublinear TF-IDF of the raw counts in ``values``, L2-normalised per row."""
        tf = self.op("Add", [self.const(np.float32(1.0)), self.op("Log", ["values"])])
        w = self.op("Mul", [tf, self.op("Gather", [self.const(idf.astype(np.float32), "idf"), "ids"])])
        sq = self.op("Unsqueeze", [self.op("Mul", [w, w]), self.const(np.array([1], np.int64))])
        row_sq = self.scatter_rows(sq, 1)  # [n, 1]
        norm = self.op("Sqrt", [self.op("Max", [row_sq, self.const(np.float32(1e-24))])])
        per_item = self.op("Gather", [self.op("Squeeze", [norm, self.const(np.array([1], np.int64))]), "segments"])
        return self.op("Div", [w, per_item], "tfidf")

    def scatter_rows(self, items: str, width: int) -> str:
        """Sum item rows ``items`` [nnz, width] into per-query rows [n_rows, width]."""
        shape = self.op("Concat", ["n_rows", self.const(np.array([width], np.int64))], axis=0)
        zeros = self.op("ConstantOfShape", [shape], value=self.onnx.numpy_helper.from_array(np.zeros(1, np.float32)))
        idx = self.op("Unsqueeze", ["segments", self.const(np.array([1], np.int64))])
        return self.op("ScatterND", [zeros, idx, items], reduction="add")

    def sparse_matmul(self, weights: np.ndarray, values: str, ids: str = "ids") -> str:
        """``X @ weights`` for the sparse X given by (``ids``, ``values``, segments)."""
        rows = self.op("Gather", [self.const(weights.astype(np.float32), "W"), ids])
        scaled = self.op("Mul", [rows, self.op("Unsqueeze", [values, self.const(np.array([1], np.int64))])])
        return self.scatter_rows(scaled, weights.shape[1])

    def finish(self, output: str, n_outputs: int, extra_outputs: dict[str, int] | None = None) -> Any:
        """Name ``output`` ``logits`` and return the model."""
        h = self.onnx.helper
        tp = self.onnx.TensorProto
        self.nodes.append(h.make_node("Identity", [output], ["logits"]))
        inputs = [
            h.make_tensor_value_info("ids", tp.INT64, ["nnz"]),
            h.make_tensor_value_info("values", tp.FLOAT, ["nnz"]),
            h.make_tensor_value_info("segments", tp.INT64, ["nnz"]),
            h.make_tensor_value_info("n_rows", tp.INT64, [1]),
        ]
        outputs = [h.make_tensor_value_info("logits", tp.FLOAT, ["n", n_outputs])]
        graph = h.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="gqr")
        model.ir_version = 9
        self.onnx.checker.check_model(model)
        return model
