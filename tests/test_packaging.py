"""A built wheel carries the shipped default model, so ``Router.load()`` works without a
checkout, and, where a C compiler is, the compiled kernel."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gqr import kernel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools")
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = out.glob("gqr-*.whl")
    return path


def test_wheel_ships_the_default_model(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        shipped = {Path(n).name: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if n.startswith("gqr/default_model/")}
    source = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "models" / "default").iterdir() if p.is_file()}
    assert shipped == source and "manifest.json" in shipped


def test_wheel_carries_the_compiled_kernel_where_a_compiler_is(wheel: Path) -> None:
    """gcc is on this machine (as on CI): a non-editable install must hash in C too."""
    if kernel.KERNEL is None:
        pytest.skip("the compiled kernel is not built here (no C compiler at install)")
    with zipfile.ZipFile(wheel) as zf:
        kernels = [n for n in zf.namelist() if n.startswith("gqr/_kernel") and not n.endswith(".c")]
    assert len(kernels) == 1 and kernels[0].endswith((".so", ".pyd")), kernels
