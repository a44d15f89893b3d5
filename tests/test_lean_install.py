"""The lean install (``pip install gqr``, no extras): serving imports no training library and no
other extra; a command that needs one says in one line which extra to install.

Each test runs a fresh interpreter whose ``sys.meta_path`` refuses every extra's packages, as
if they were not installed, so it holds in the full dev environment too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ("sklearn", "scipy", "xgboost", "fasttext", "onnx", "torch")
EXTRAS = ("pandas", "pyarrow", "httpx", "fastapi", "starlette", "uvicorn", "matplotlib", "datasets",
          "pyspark", "prometheus_client")

BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {TRAINING + EXTRAS!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None
sys.meta_path.insert(0, Block())
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
"""


def _run(code: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True,
                          cwd=tmp_path, input=stdin, timeout=120)


def test_blocker_blocks() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCKER + "import sklearn"], capture_output=True, text=True)
    assert out.returncode == 1 and "blocked" in out.stderr


def test_library_serves_without_extras(tmp_path: Path) -> None:
    code = """
import json
from gqr import Router
router = Router.load()
one = router.route("What are the side effects of ibuprofen?")
batch = router.route_batch(["What is an ETF?", "", "Bonjour, comment allez-vous ?"])
print(json.dumps({"one": one.to_dict(), "batch": [d.to_dict() for d in batch], "loaded": loaded()}))
"""
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["loaded"] == []
    assert got["one"]["route"] == "healthcare"
    assert [d["reason"] for d in got["batch"]] == ["in_domain", "invalid_input", "other_language"]


def test_cli_serving_commands_without_extras(tmp_path: Path) -> None:
    """route (arguments and stdin), score, inspect and export: the commands a lean install has."""
    (tmp_path / "queries.txt").write_text("What is an ETF?\nWhat are the symptoms of flu?\n", encoding="utf-8")
    code = """
import json
from typer.testing import CliRunner
from gqr.cli import app
runner = CliRunner()
runs = {
    "route": runner.invoke(app, ["route", "--json", "What is an ETF?"]),
    "stdin": runner.invoke(app, ["route", "--json"], input="What are the symptoms of flu?\\n"),
    "score": runner.invoke(app, ["score", "queries.txt", "-o", "out.jsonl"]),
    "inspect": runner.invoke(app, ["inspect", "MODEL"]),
    "export": runner.invoke(app, ["export", "MODEL", "--out", "exported"]),
}
print(json.dumps({"runs": {k: [r.exit_code, r.output] for k, r in runs.items()}, "loaded": loaded()}))
""".replace("MODEL", str(ROOT / "models" / "default"))
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["loaded"] == []
    assert {k: code for k, (code, _) in got["runs"].items()} == dict.fromkeys(got["runs"], 0), got["runs"]
    runs = got["runs"]
    assert json.loads(runs["route"][1].splitlines()[0])["route"] == "finance"
    assert json.loads(runs["stdin"][1].splitlines()[0])["route"] == "healthcare"
    assert [json.loads(line)["route"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [
        "finance", "healthcare"]
    assert "domains   finance, healthcare, law" in runs["inspect"][1]
    assert (tmp_path / "exported" / "manifest.json").is_file()


@pytest.mark.parametrize("model", ["svm", "svm-minilm", "xgboost", "fasttext"])
def test_train_without_the_extra_says_which_to_install(tmp_path: Path, model: str) -> None:
    """One line naming the extra, before any data is read (the data file does not even exist)."""
    code = f"""
sys.argv = ["gqr", "train", "--data", "missing.csv", "--model", {model!r}, "--out", "model"]
from gqr.cli import main
main()
"""
    out = _run(code, tmp_path)
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert len(errors) == 1 and "'scipy'" in errors[0] and "pip install 'gqr[train]'" in errors[0], out.stderr


def test_core_dependencies_hold_no_training_library() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_name(req) for req in project["dependencies"]}
    assert names == {"numpy", "onnxruntime", "typer", "tqdm"}
    extras = project["optional-dependencies"]
    assert {_name(req) for req in extras["train"]} >= {"scikit-learn", "scipy", "xgboost-cpu", "fasttext-wheel", "onnx"}
    dev = " ".join(extras["dev"])
    for extra in ("train", "spark", "serve", "judge", "files", "widemlp", "report"):
        assert extra in dev


def _name(requirement: str) -> str:
    for stop in "<>=![; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()
