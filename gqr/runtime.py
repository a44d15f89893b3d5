"""The serving path: a verified artifact -> ONNX Runtime session (numpy + onnxruntime only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gqr.artifact import LoadedArtifact
from gqr.errors import IncompatibleArtifactError
from gqr.features import SparseBatch, from_spec, gather_rows

__all__ = ["OnnxScorer", "run_session", "session_runner"]

INPUTS = {"ids", "values"}
OUTPUTS = ("logits", "probabilities")
#: rows x padded length fed to ONNX Runtime at once; rows are grouped by length to limit padding
MAX_CELLS = 1 << 14
#: the padded input of a row without features (``SparseBatch.padded``); ONNX Runtime only reads it
_EMPTY_IDS = np.zeros((1, 1), dtype=np.int64)
_EMPTY_VALUES = np.zeros((1, 1), dtype=np.float32)
for _array in (_EMPTY_IDS, _EMPTY_VALUES):
    _array.setflags(write=False)


def session_runner(session: Any) -> Callable[[list[str], dict[str, np.ndarray], Any], list[np.ndarray]]:
    """``session.run``, or the C++ session's ``run`` under it when ONNX Runtime exposes one: the
    Python wrapper re-checks the input names and OrtValue ownership on every call (about 3 µs);
    gqr feeds the two inputs it checked at load time, as numpy arrays, on the CPU provider.
    The inner ``run`` is private to ONNX Runtime: it is used only after it answered one empty
    row, and the choice is kept on the session."""
    chosen = getattr(session, "_gqr_run", None)
    if chosen is not None:
        return chosen  # type: ignore[no-any-return]
    run = session.run
    inner = getattr(getattr(session, "_sess", None), "run", None)
    if callable(inner):
        try:
            inner(list(OUTPUTS), {"ids": _EMPTY_IDS, "values": _EMPTY_VALUES}, None)
            run = inner
        except Exception:  # another ONNX Runtime release: its public run
            pass
    try:
        session._gqr_run = run
    except AttributeError:
        pass
    return run


def run_session(session: Any, batch: SparseBatch, outputs: Sequence[str] = OUTPUTS) -> list[np.ndarray]:
    """Run a router graph on ``batch``: rows sorted by length and fed in chunks of at most
    ``MAX_CELLS`` padded cells, results returned in the original row order."""
    n = batch.n_rows
    if n == 0:
        raise ValueError("empty batch")
    run, names = session_runner(session), list(outputs)
    if n == 1:
        return list(run(names, batch.onnx_feeds(), None))
    indptr = batch.indptr
    order = np.argsort(indptr[1:] - indptr[:-1], kind="stable")
    # every entry once, rows in length order: chunk [start, stop) holds entries [first[start], first[stop])
    idx, first = gather_rows(indptr, order)
    ids, values = batch.ids[idx], batch.values[idx]
    lengths = (indptr[order + 1] - indptr[order]).tolist()
    first = [*first.tolist(), idx.size]
    row = np.repeat(np.arange(n, dtype=np.int64), lengths)
    col = np.arange(idx.size, dtype=np.int64) - np.repeat(np.array(first[:-1], dtype=np.int64), lengths)
    results: list[list[np.ndarray]] = [[] for _ in names]
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and (stop - start + 1) * max(lengths[stop], 1) <= MAX_CELLS:
            stop += 1
        for slot, value in zip(results, run(names, _padded(ids, values, row, col, start, stop, first, lengths), None)):
            slot.append(value)
        start = stop
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return [np.concatenate(parts)[inverse] for parts in results]


def _padded(ids: np.ndarray, values: np.ndarray, row: np.ndarray, col: np.ndarray, start: int, stop: int,
            first: list[int], lengths: list[int]) -> dict[str, np.ndarray]:
    """``batch.take(order[start:stop]).onnx_feeds()``, the same arrays, from the entries in
    length order (rows ascending in length, so the last is the widest)."""
    a, b = first[start], first[stop]
    if stop - start == 1 and b > a:  # one row: no padding (as SparseBatch.padded)
        return {"ids": ids[a:b].reshape(1, -1), "values": values[a:b].reshape(1, -1)}
    width = max(lengths[stop - 1], 1)
    padded_ids = np.zeros((stop - start, width), dtype=np.int64)
    padded_values = np.zeros((stop - start, width), dtype=np.float32)
    cells = (row[a:b] - start) * width + col[a:b]  # one flat index for both (half the time of two 2-d ones)
    padded_ids.ravel()[cells] = ids[a:b]
    padded_values.ravel()[cells] = values[a:b]
    return {"ids": padded_ids, "values": padded_values}


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
        self._run = session_runner(self.session)
        self._outputs = list(OUTPUTS)
        #: ``text -> (ids, values)`` of one row, when the featurizer has that shortcut
        self._one: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = getattr(self.featurize, "one", None)
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

    def feeds_one(self, text: str) -> dict[str, np.ndarray]:
        """The graph inputs of one text, without building a one-row ``SparseBatch``."""
        one = self._one
        if one is None:
            return self.featurize([text]).onnx_feeds()
        ids, values = one(text)
        if ids.size:  # SparseBatch.padded of one row: no padding
            return {"ids": ids.reshape(1, -1), "values": values.reshape(1, -1)}
        return {"ids": _EMPTY_IDS, "values": _EMPTY_VALUES}

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities) of graph inputs, through the runner chosen at load."""
        logits, probs = self._run(self._outputs, feeds, None)
        return logits, probs

    def score_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``scores([text])``, the same arrays, without building a one-row ``SparseBatch``."""
        return self.run_feeds(self.feeds_one(text))

    def info(self) -> dict[str, Any]:
        return {"providers": self.session.get_providers()}
