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
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from gqr.artifact import MANIFEST, read_artifact
from gqr.errors import InvalidInputError, MissingDependencyError, require

__all__ = ["DECISION_COLUMNS", "RouteBatches", "artifact_files", "route_spark", "worker_python"]

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

#: What PySpark runs its Python workers with when neither PYSPARK_PYTHON nor a conf names one.
SPARK_DEFAULT_PYTHON = "python3"
#: What a worker imports to run ``RouteBatches``.
WORKER_MODULES = ("gqr", "pandas", "pyarrow")
_CHECKED: set[str] = set()


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


def worker_python(sc: Any) -> str:
    """The interpreter Spark's Python workers will run, chosen so that they can import gqr.

    PySpark starts its workers with ``PYSPARK_PYTHON``, else ``python3`` from the PATH: in a
    virtual environment that is not activated, a Python without gqr. Nothing set: local mode
    uses this interpreter (``sys.executable``); a cluster keeps ``python3`` (see the README).
    ``spark.pyspark.python``, which pip-installed PySpark ignores, is applied. A user's choice
    is kept; in local mode it is checked, and one that cannot import gqr raises
    ``MissingDependencyError`` saying what to set.
    """
    local = str(sc.master).startswith("local")
    if sc.pythonExec == SPARK_DEFAULT_PYTHON and "PYSPARK_PYTHON" not in os.environ:
        chosen = sc.getConf().get("spark.pyspark.python")
        if chosen or local:
            sc.pythonExec = chosen or sys.executable
    if local:
        _check_worker_python(sc.pythonExec)
    return str(sc.pythonExec)


def _check_worker_python(python: str) -> None:
    """Raise ``MissingDependencyError`` unless ``python`` can import ``WORKER_MODULES``."""
    if python in _CHECKED or python == sys.executable:
        return
    code = "import " + ", ".join(WORKER_MODULES)
    try:
        ok = subprocess.run([python, "-c", code], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise MissingDependencyError(
            f"Spark's Python workers would run {python!r} (PYSPARK_PYTHON or spark.pyspark.python), "
            f"which cannot {code}: install gqr[spark] there, or set PYSPARK_PYTHON={sys.executable} "
            "before the Spark session starts"
        )
    _CHECKED.add(python)


def route_spark(df: Any, model: str | os.PathLike[str], text_col: str = "text", *, prefix: str = "gqr_",
                uncertain: str = "model", coverage: float | None = None) -> Any:
    """``df`` (a Spark DataFrame) with the decision columns added, computed on the executors.

    In local mode the workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise
    (``worker_python``).
    """
    require("pyspark", "spark", "Distributed scoring on Spark")
    if text_col not in df.columns:
        raise InvalidInputError(f"column {text_col!r} not found; columns are {df.columns}")
    clash = [prefix + c for c in DECISION_COLUMNS if prefix + c in df.columns]
    if clash:
        raise InvalidInputError(f"the DataFrame already has column(s) {clash}; pass another prefix=")
    sc = df.sparkSession.sparkContext
    worker_python(sc)
    files = sc.broadcast(artifact_files(model))
    columns = ", ".join(f"`{f.name.replace('`', '``')}` {f.dataType.simpleString()}" for f in df.schema.fields)
    extra = ", ".join(f"`{prefix}{name}` {kind}" for name, kind in DECISION_COLUMNS.items())
    def run(frames: Any) -> Any:
        route = RouteBatches(files.value, text_col, prefix, uncertain, coverage)
        for frame in frames:
            yield route(frame)

    return df.mapInPandas(run, f"{columns}, {extra}")
