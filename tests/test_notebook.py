"""``notebooks/benchmark.ipynb`` runs top to bottom on a tiny real benchmark's results.json."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, Corpus
from test_bench import run_tiny, shared_cache

NOTEBOOK = REPO / "notebooks" / "benchmark.ipynb"


def test_notebook_runs_top_to_bottom(
    bench_dir: Path, small_corpus: Corpus, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs the dev extra (nbformat, nbclient, ipykernel)")
    nbclient = pytest.importorskip("nbclient", reason="needs the dev extra (nbformat, nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="needs the dev extra (nbformat, nbclient, ipykernel)")
    pytest.importorskip("matplotlib", reason="the notebook's plots need the report extra: pip install 'gqr[report]'")
    results = tmp_path / "results.json"
    run_tiny(bench_dir, small_corpus, shared_cache(tmp_path_factory)).write_json(results)
    monkeypatch.setenv("GQR_RESULTS", str(results))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path-migration warning
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert 'id="table-leaderboard"' in html and 'id="table-zones"' in html
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 5
    text = "".join(o.get("text", "") for o in outputs)
    assert str(results) in text and "gqr bench --models svm" in text and "accuracy" in text
