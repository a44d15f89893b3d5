"""A built wheel carries the shipped default model, so ``Router.load()`` works without a checkout."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_default_model(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("gqr-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {Path(n).name: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if n.startswith("gqr/default_model/")}
    source = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "models" / "default").iterdir() if p.is_file()}
    assert shipped == source and "manifest.json" in shipped
