"""The serving path: a verified artifact -> ONNX Runtime session (numpy + onnxruntime only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr.artifact import LoadedArtifact
from gqr.errors import IncompatibleArtifactError
from gqr.featurizers import from_spec

__all__ = ["OnnxScorer"]

INPUTS = {"ids", "values", "segments", "n_rows"}
OUTPUTS = ("logits", "probabilities")


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
        batch = self.featurize(texts)
        logits, probs = self.session.run(list(OUTPUTS), batch.onnx_feeds())
        return logits, probs

    def info(self) -> dict[str, Any]:
        return {"providers": self.session.get_providers()}
