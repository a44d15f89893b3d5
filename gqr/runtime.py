"""The serving path: a verified artifact -> ONNX Runtime session (numpy + onnxruntime only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.artifact import LoadedArtifact
from gqr.errors import IncompatibleArtifactError
from gqr.features import SparseBatch, from_spec

__all__ = ["OnnxScorer", "run_session"]

INPUTS = {"ids", "values"}
OUTPUTS = ("logits", "probabilities")
#: rows x padded length fed to ONNX Runtime at once; rows are grouped by length to limit padding
MAX_CELLS = 1 << 14


def run_session(session: Any, batch: SparseBatch, outputs: Sequence[str] = OUTPUTS) -> list[np.ndarray]:
    """Run a router graph on ``batch``: rows sorted by length and fed in chunks of at most
    ``MAX_CELLS`` padded cells, results returned in the original row order."""
    n = batch.n_rows
    if n == 0:
        raise ValueError("empty batch")
    if n == 1:
        return list(session.run(list(outputs), batch.onnx_feeds()))
    lengths = batch.row_lengths()
    order = np.argsort(lengths, kind="stable")
    results: list[list[np.ndarray]] = [[] for _ in outputs]
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and (stop - start + 1) * max(int(lengths[order[stop]]), 1) <= MAX_CELLS:
            stop += 1
        for slot, value in zip(results, session.run(list(outputs), batch.take(order[start:stop]).onnx_feeds())):
            slot.append(value)
        start = stop
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return [np.concatenate(parts)[inverse] for parts in results]


class OnnxScorer:
    """Texts -> (logits, calibrated probabilities) with ONNX Runtime.

    ``threads`` sets ONNX Runtime's intra-op threads (1 is fastest for single queries).
    """

    def __init__(self, artifact: LoadedArtifact, threads: int = 1) -> None:
        import onnxruntime as ort

        self.featurize = from_spec(artifact.manifest["featurizer"], artifact.files)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(artifact.model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise IncompatibleArtifactError(f"{artifact.path}: ONNX Runtime cannot load the model: {exc}") from exc
        names_in = {i.name for i in self.session.get_inputs()}
        names_out = [o.name for o in self.session.get_outputs()]
        if names_in != INPUTS or tuple(names_out[:2]) != OUTPUTS:
            raise IncompatibleArtifactError(
                f"{artifact.path}: graph signature {sorted(names_in)} -> {names_out} is not a gqr router graph"
            )
        meta = self.session.get_modelmeta().custom_metadata_map
        expected = ",".join(artifact.guard.labels + artifact.guard.background)
        if meta.get("gqr_columns") != expected:
            raise IncompatibleArtifactError(
                f"{artifact.path}: manifest labels ({expected}) do not match the graph's ({meta.get('gqr_columns')}); "
                "the manifest was edited after export"
            )

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        logits, probs = run_session(self.session, self.featurize(texts))
        return logits, probs

    def info(self) -> dict[str, Any]:
        return {"providers": self.session.get_providers()}
