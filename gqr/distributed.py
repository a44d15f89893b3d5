"""Distributed batch scoring on Spark: a pandas UDF (``mapInPandas``) runs the ONNX router on
the executors. Needs ``pip install 'gqr[spark]'`` (pyspark, pandas, pyarrow) and Java 17+.

The model travels with the job: the artifact's files are broadcast once, each executor
process writes them to a private temporary directory, verifies them like any artifact
(checksums, graph signature) and keeps one ``Router`` for every task it runs. No shared
file system is needed. ``RouteBatches`` is the same work on one pandas DataFrame; it also
fits Ray Data (``ds.map_batches(RouteBatches, fn_constructor_args=(files,),
batch_format="pandas")``), a path that is not tested here.

    >>> from gqr.distributed import route_spark  # doctest: +SKIP
    >>> scored = route_spark(spark.read.parquet("queries.parquet"), "models/default")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from gqr.artifact import MANIFEST, read_artifact
from gqr.errors import InvalidInputError, require

__all__ = ["DECISION_COLUMNS", "RouteBatches", "artifact_files", "route_spark"]

#: Output columns (before the prefix) and their Spark SQL types.
DECISION_COLUMNS = {
    "route": "string",
    "reason": "string",
    "confidence": "double",
    "source": "string",
    "uncertain": "boolean",
    "detail": "string",
}

_ROUTERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def artifact_files(model: str | os.PathLike[str]) -> dict[str, bytes]:
    """The verified bytes of an artifact: ``manifest.json`` and every file it lists (to ship
    to workers, which verify them again when they load)."""
    artifact = read_artifact(model)
    return {MANIFEST: (artifact.path / MANIFEST).read_bytes(), **artifact.files}


def _router(files: dict[str, bytes], key: str, uncertain: str, coverage: float | None) -> Any:
    """One Router per process and artifact, loaded from a private copy (verified on load).
    ``key`` names the artifact: the manifest's sha256, which pins every file's sha256."""
    from gqr.router import Router

    cache_key = f"{key}:{uncertain}:{coverage}"
    with _LOCK:
        router = _ROUTERS.get(cache_key)
        if router is None:
            where = Path(tempfile.mkdtemp(prefix=f"gqr-{key}-"))
            for name, data in files.items():
                (where / name).write_bytes(data)
            router = _ROUTERS[cache_key] = Router.load(where, uncertain=uncertain, coverage=coverage)
        return router


class RouteBatches:
    """Route the ``text_col`` of pandas DataFrames; adds the ``DECISION_COLUMNS`` (with
    ``prefix``). A bad row (null, not text, invalid UTF-8) gets ``invalid_input``.

    ``files`` is ``artifact_files(model_dir)``. The judge is not available here: executors
    should not call an LLM per row; use ``uncertain`` ``model``, ``reject`` or ``accept``.
    """

    def __init__(self, files: dict[str, bytes], text_col: str = "text", prefix: str = "gqr_",
                 uncertain: str = "model", coverage: float | None = None) -> None:
        if uncertain == "judge":
            raise InvalidInputError("the distributed path has no judge; use uncertain='model', 'reject' or 'accept'")
        self.files, self.text_col, self.prefix = files, text_col, prefix
        self.uncertain, self.coverage = uncertain, coverage
        self.key = hashlib.sha256(files[MANIFEST]).hexdigest()[:16]

    def __call__(self, frame: Any) -> Any:
        router = _router(self.files, self.key, self.uncertain, self.coverage)
        texts = frame[self.text_col].tolist()
        decisions = router.route_batch(texts) if texts else []
        out = frame.copy()
        p = self.prefix
        out[p + "route"] = [d.route for d in decisions]
        out[p + "reason"] = [d.reason.value for d in decisions]
        out[p + "confidence"] = [float(d.confidence) for d in decisions]
        out[p + "source"] = [d.source.value for d in decisions]
        out[p + "uncertain"] = [bool(d.uncertain) for d in decisions]
        out[p + "detail"] = [d.detail for d in decisions]
        return out


def route_spark(df: Any, model: str | os.PathLike[str], text_col: str = "text", *, prefix: str = "gqr_",
                uncertain: str = "model", coverage: float | None = None) -> Any:
    """``df`` (a Spark DataFrame) with the decision columns added, computed on the executors."""
    require("pyspark", "spark", "Distributed scoring on Spark")
    if text_col not in df.columns:
        raise InvalidInputError(f"column {text_col!r} not found; columns are {df.columns}")
    clash = [prefix + c for c in DECISION_COLUMNS if prefix + c in df.columns]
    if clash:
        raise InvalidInputError(f"the DataFrame already has column(s) {clash}; pass another prefix=")
    files = df.sparkSession.sparkContext.broadcast(artifact_files(model))
    columns = ", ".join(f"`{f.name.replace('`', '``')}` {f.dataType.simpleString()}" for f in df.schema.fields)
    extra = ", ".join(f"`{prefix}{name}` {kind}" for name, kind in DECISION_COLUMNS.items())
    def run(frames: Any) -> Any:
        route = RouteBatches(files.value, text_col, prefix, uncertain, coverage)
        for frame in frames:
            yield route(frame)

    return df.mapInPandas(run, f"{columns}, {extra}")
