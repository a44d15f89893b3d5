"""Small builders for the ONNX graphs that backends export (training tier: needs ``onnx``).

Every router graph has the same signature::

    inputs : ids int64[n, L], values float32[n, L]   (``SparseBatch.padded()``)
    outputs: logits float32[n, k]

Row ``i`` holds its sparse features in ``ids[i]``/``values[i]``; padding is id 0 with value 0,
so every builder here treats ``values == 0`` as absent. Sums over a row's features are
Gather + batched MatMul (or ReduceSum), never a scatter-add: ONNX Runtime runs
``ScatterND(reduction="add")`` on several threads without ordering, which gives wrong sums.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gqr.errors import require

__all__ = ["GraphBuilder", "INPUT_NAMES", "OPSET"]

OPSET = 18
INPUT_NAMES = ("ids", "values")


class GraphBuilder:
    """Accumulates nodes and initializers; ``finish`` returns an ``onnx.ModelProto``."""

    def __init__(self, name: str) -> None:
        self.onnx: Any = require("onnx", "train", "Exporting to ONNX")
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.opsets: dict[str, int] = {"": OPSET}
        self._ids = itertools.count()

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._ids)}"

    def const(self, array: np.ndarray | np.generic, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, domain: str = "", **attrs: Any) -> Any:
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, outs, domain=domain or None, **attrs))
        return outs[0] if n_out == 1 else outs

    def axes(self, *axes: int) -> str:
        return self.const(np.array(axes, dtype=np.int64), "axes")

    # -- sparse building blocks -------------------------------------------------------------
    def tfidf(self, idf: np.ndarray | str) -> str:
        """Sublinear TF-IDF of the raw counts in ``values``, L2-normalised per row; [n, L].
        ``idf`` is the IDF table (gathered at ``ids`` here) or a tensor of it, already gathered."""
        present = self.op("Greater", ["values", self.const(np.float32(0.0))])
        counts = self.op("Max", ["values", self.const(np.float32(1.0))])
        tf = self.op("Add", [self.const(np.float32(1.0)), self.op("Log", [counts])])
        if not isinstance(idf, str):
            idf = self.op("Gather", [self.const(idf.astype(np.float32), "idf"), "ids"])
        w = self.op("Where", [present, self.op("Mul", [tf, idf]), self.const(np.float32(0.0))])
        return self.unit_rows(w)

    def tfidf_matmul(self, idf: np.ndarray, weights: np.ndarray, ids: str = "ids") -> str:
        """``tfidf(idf) @ weights`` -> [n, k]. The IDF and the weights of an id are one row of a
        [rows, 1 + k] table (stored in ``weights``' dtype), so each id costs one gather: the
        gather is a graph's costliest node, and its cost is paid per id."""
        k = weights.shape[1]
        table = np.hstack([np.asarray(idf, np.float32)[:, None].astype(weights.dtype), weights])
        rows = self.gather_rows(table, ids, "idf_W")
        idf_rows, coef = self.op("Split", [rows, self.const(np.array([1, k], np.int64))], n_out=2, axis=2)
        return self.weighted_rows(coef, self.tfidf(self.op("Squeeze", [idf_rows, self.axes(2)])))

    def unit_rows(self, x: str) -> str:
        """``x`` [n, w] divided by its row norm; an all-zero row stays zero (one node, where
        Mul/ReduceSum/Max/Sqrt/Div took five: ONNX Runtime pays about a microsecond a node)."""
        return self.op("LpNormalization", [x], axis=1, p=2)

    def gather_rows(self, matrix: np.ndarray, ids: str = "ids", hint: str = "W") -> str:
        """Rows ``matrix[ids]`` of an initializer; float16 storage (half the artifact size) is
        widened to float32 after the gather, so only the rows used are converted."""
        stored = matrix if matrix.dtype == np.float16 else matrix.astype(np.float32)
        rows = self.op("Gather", [self.const(np.ascontiguousarray(stored), hint), ids])
        if stored.dtype == np.float16:
            rows = self.op("Cast", [rows], to=self.onnx.TensorProto.FLOAT)
        return rows

    def sparse_matmul(self, weights: np.ndarray, values: str, ids: str = "ids", hint: str = "W") -> str:
        """``X @ weights`` for the padded sparse X given by (``ids``, ``values``) -> [n, k]."""
        return self.weighted_rows(self.gather_rows(weights, ids, hint), values)

    def weighted_rows(self, rows: str, values: str) -> str:
        """``sum_j values[i, j] * rows[i, j, :]`` as a batched MatMul -> [n, k]."""
        v = self.op("Unsqueeze", [values, self.axes(1)])  # [n, 1, L]
        return self.op("Squeeze", [self.op("MatMul", [v, rows]), self.axes(1)])

    def dense_columns(self, columns: str, values: str, width: int) -> str:
        """Place ``values`` [n, L] at ``columns`` [n, L] of a dense [n, width] matrix.

        Columns must be unique within a row, except ``width`` itself: a dummy column that
        padding and unused features are sent to, dropped from the result.
        """
        n = self.op("Slice", [self.op("Shape", ["ids"]), self.const(np.array([0], np.int64)), self.const(np.array([1], np.int64))])
        shape = self.op("Concat", [n, self.const(np.array([width + 1], np.int64))], axis=0)
        zeros = self.op("ConstantOfShape", [shape], value=self.onnx.numpy_helper.from_array(np.zeros(1, np.float32)))
        cols = self.op("Where", [self.op("Greater", [values, self.const(np.float32(0.0))]), columns, self.const(np.int64(width))])
        dense = self.op("ScatterElements", [zeros, cols, values], axis=1)
        return self.op("Slice", [dense, self.const(np.array([0], np.int64)), self.const(np.array([width], np.int64)), self.axes(1)])

    def finish(self, output: str, n_outputs: int) -> Any:
        """Name ``output`` ``logits`` and return the checked model."""
        h = self.onnx.helper
        tp = self.onnx.TensorProto
        producers = [node for node in self.nodes if output in node.output]
        if producers:  # rename the tensor rather than add an Identity node
            for node in self.nodes:
                node.output[:] = ["logits" if o == output else o for o in node.output]
                node.input[:] = ["logits" if i == output else i for i in node.input]
        else:
            self.nodes.append(h.make_node("Identity", [output], ["logits"]))
        inputs = [
            h.make_tensor_value_info("ids", tp.INT64, ["n", "L"]),
            h.make_tensor_value_info("values", tp.FLOAT, ["n", "L"]),
        ]
        outputs = [h.make_tensor_value_info("logits", tp.FLOAT, ["n", n_outputs])]
        graph = h.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        opsets = [h.make_opsetid(domain, version) for domain, version in sorted(self.opsets.items())]
        model = h.make_model(graph, opset_imports=opsets, producer_name="gqr")
        model.ir_version = 9
        self.onnx.checker.check_model(model)
        return model
