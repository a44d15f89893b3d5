"""Spark as a user runs it: which Python the workers start, and local mode end to end from an
environment that is not activated (``python3`` on the PATH is not this interpreter)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gqr import Router
from gqr.distributed import SPARK_DEFAULT_PYTHON, worker_python
from gqr.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["What is an ETF?", "What are the side effects of ibuprofen?", "Bonjour, comment allez-vous ?",
         "Can I appeal a parking ticket in court?", "What is gradient descent?"]


class FakeContext:
    """The three things ``worker_python`` reads from a SparkContext."""

    def __init__(self, master: str, python: str = SPARK_DEFAULT_PYTHON, conf: dict[str, str] | None = None) -> None:
        self.master, self.pythonExec, self._conf = master, python, conf or {}

    def getConf(self) -> Any:
        return self._conf


@pytest.fixture(autouse=True)
def _no_pyspark_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)


def _fake_python(tmp_path: Path) -> Path:
    """An executable called python3 that cannot import anything."""
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'not the environment python' >&2\nexit 1\n")
    fake.chmod(0o755)
    return fake


def test_local_mode_runs_workers_with_this_interpreter() -> None:
    sc = FakeContext("local[2]")
    assert worker_python(sc) == sys.executable == sc.pythonExec


def test_a_cluster_keeps_its_default() -> None:
    sc = FakeContext("spark://head:7077")
    assert worker_python(sc) == SPARK_DEFAULT_PYTHON


def test_the_users_choice_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_python(tmp_path)
    monkeypatch.setenv("PYSPARK_PYTHON", SPARK_DEFAULT_PYTHON)  # set, even to the default: kept
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    sc = FakeContext("spark://head:7077")
    assert worker_python(sc) == SPARK_DEFAULT_PYTHON
    with pytest.raises(MissingDependencyError, match=f"cannot import gqr.*PYSPARK_PYTHON={re.escape(sys.executable)} "):
        worker_python(FakeContext("local[1]"))  # ... and checked in local mode


def test_a_conf_setting_is_applied() -> None:
    """pip-installed PySpark ignores spark.pyspark.python; gqr applies it."""
    sc = FakeContext("spark://head:7077", conf={"spark.pyspark.python": "/opt/env/bin/python"})
    assert worker_python(sc) == "/opt/env/bin/python" == sc.pythonExec


@pytest.mark.parametrize("python", ["bad", str(Path("/nonexistent/python"))])
def test_a_worker_python_without_gqr_is_refused_with_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 python: str) -> None:
    python = str(_fake_python(tmp_path)) if python == "bad" else python
    monkeypatch.setenv("PYSPARK_PYTHON", python)
    with pytest.raises(MissingDependencyError) as caught:
        worker_python(FakeContext("local[1]", python))
    message = str(caught.value)
    assert repr(python) in message and f"set PYSPARK_PYTHON={sys.executable} " in message and "gqr[spark]" in message


SPARK_JOB = """
import json, sys, warnings
warnings.simplefilter("ignore")
from pyspark.sql import SparkSession
from gqr.distributed import route_spark
spark = (SparkSession.builder.master("local[1]").appName("gqr-test").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "1").getOrCreate())
try:
    df = spark.read.json(sys.argv[1]).repartition(2)  # read by the JVM: no Python worker before route_spark
    rows = route_spark(df, sys.argv[2]).collect()
    print("RESULT " + json.dumps({r["id"]: [r["gqr_route"], r["gqr_reason"]] for r in rows}))
finally:
    spark.stop()
"""


def test_spark_local_mode_from_an_environment_that_is_not_activated(tmp_path: Path) -> None:
    """As the issue ran it: no PYSPARK_PYTHON, and ``python3`` on the PATH cannot import gqr."""
    pytest.importorskip("pyspark", reason="needs the spark extra: pip install 'gqr[spark]'")
    pytest.importorskip("pyarrow", reason="needs the spark extra: pip install 'gqr[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17+ (java on PATH or JAVA_HOME)")
    fake = _fake_python(tmp_path)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    model = ROOT / "models" / "default"
    queries = tmp_path / "queries.jsonl"
    rows = [{"id": i, "text": t} for i, t in enumerate([*TEXTS, None, "   "])]
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", SPARK_JOB, str(queries), str(model)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    got = {int(k): v for k, v in json.loads(line.removeprefix("RESULT ")).items()}
    expected = Router.load(model).route_batch(TEXTS)
    assert [got[i] for i in range(len(TEXTS))] == [[d.route, d.reason.value] for d in expected]
    assert got[len(TEXTS)][1] == got[len(TEXTS) + 1][1] == "invalid_input"
