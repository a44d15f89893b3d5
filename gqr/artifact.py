"""The artifact on disk: a directory with ONNX file(s) and ``manifest.json``. No pickle.

Loading follows parse -> audit -> construct: the manifest is size-capped and parsed as JSON,
validated, every listed file is checked (plain name inside the directory, size, sha256),
and only then does anyone build an ONNX session from the verified bytes.

``FORMAT_VERSION`` is bumped at the first breaking change of the layout; readers of older
versions are kept next to this one and tested.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gqr.errors import ArtifactNotFoundError, ChecksumMismatchError, IncompatibleArtifactError, ManifestError
from gqr.guard import GuardRule

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedArtifact", "read_artifact", "write_artifact"]

FORMAT = "gqr-router"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024
REQUIRED = ("format", "format_version", "backend", "guard", "featurizer", "onnx", "files")


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified artifact: the manifest, its guard rule and the bytes of every listed file."""

    path: Path
    manifest: dict[str, Any]
    guard: GuardRule
    files: dict[str, bytes]

    @property
    def model_bytes(self) -> bytes:
        return self.files[self.manifest["onnx"]["file"]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_name(name: Any, where: Path) -> str:
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name == MANIFEST
    ):
        raise ManifestError(f"{where / MANIFEST}: file name {name!r} is not a plain file name in the artifact")
    return name


def _validate(manifest: Any, where: Path) -> GuardRule:
    if not isinstance(manifest, dict):
        raise ManifestError(f"{where / MANIFEST}: expected a JSON object")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise ManifestError(f"{where / MANIFEST}: missing field(s) {', '.join(missing)}; re-export the model")
    if manifest["format"] != FORMAT:
        raise IncompatibleArtifactError(f"{where}: format {manifest['format']!r} is not {FORMAT!r}")
    version = manifest["format_version"]
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise IncompatibleArtifactError(
            f"{where}: format_version {version!r} is not supported by this gqr (reads 1..{FORMAT_VERSION}); "
            "upgrade gqr or re-export the model"
        )
    if not isinstance(manifest["files"], dict) or not manifest["files"]:
        raise ManifestError(f"{where / MANIFEST}: 'files' must list the artifact's files")
    onnx_entry = manifest["onnx"]
    if not isinstance(onnx_entry, dict) or onnx_entry.get("file") not in manifest["files"]:
        raise ManifestError(f"{where / MANIFEST}: 'onnx.file' must name a listed file")
    if not isinstance(manifest["featurizer"], dict):
        raise ManifestError(f"{where / MANIFEST}: 'featurizer' must be an object")
    try:
        guard = GuardRule.from_dict(manifest["guard"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{where / MANIFEST}: invalid 'guard': {exc}") from exc
    if not 0.0 <= guard.unsafe_min <= 1.0:
        raise ManifestError(f"{where / MANIFEST}: guard.unsafe_min = {guard.unsafe_min} is outside [0, 1]")
    for key in ("threshold", "uncertain_low", "uncertain_high"):
        value = getattr(guard, key)
        if guard.method == "msp" and not 0.0 <= value <= 1.0:
            raise ManifestError(f"{where / MANIFEST}: guard.{key} = {value} is outside [0, 1]")
        if not math.isfinite(value):
            raise ManifestError(f"{where / MANIFEST}: guard.{key} = {value} is not a finite number")
    if guard.uncertain_low > guard.uncertain_high:
        raise ManifestError(f"{where / MANIFEST}: guard.uncertain_low ({guard.uncertain_low}) is above "
                            f"guard.uncertain_high ({guard.uncertain_high})")
    if "domains" in manifest:  # optional: one-line descriptions for the LLM judge
        from gqr.judge._prompt import check_descriptions

        try:
            check_descriptions(manifest["domains"], guard.labels)
        except ValueError as exc:
            raise ManifestError(f"{where / MANIFEST}: invalid 'domains': {exc}") from None
    return guard


def read_artifact(path: str | os.PathLike[str]) -> LoadedArtifact:
    """Parse, validate and verify an artifact directory; return its verified bytes."""
    root = Path(path)
    if not root.is_dir():
        raise ArtifactNotFoundError(f"{root} is a file, not a model directory (the folder holding manifest.json)"
                                    if root.exists() else f"model directory not found: {root}")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ArtifactNotFoundError(f"{mpath} not found: is {root} a gqr model directory?")
    if mpath.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{mpath} is larger than {MAX_MANIFEST_BYTES} bytes; refusing to parse it")
    try:
        manifest = json.loads(mpath.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{mpath} is not valid JSON ({exc}); re-export the model") from None
    guard = _validate(manifest, root)
    files: dict[str, bytes] = {}
    real_root = root.resolve()
    for name, entry in manifest["files"].items():
        _check_name(name, root)
        fpath = root / name
        if fpath.is_symlink() and real_root not in fpath.resolve().parents:
            raise ManifestError(f"{fpath} is a link that leaves the model directory; refusing it")
        if not fpath.is_file():
            raise ArtifactNotFoundError(f"{fpath} is listed in the manifest but missing; re-export the model")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ManifestError(f"{mpath}: files[{name!r}] needs a sha256")
        size = fpath.stat().st_size
        if size > MAX_FILE_BYTES or size != entry.get("bytes", size):
            raise ChecksumMismatchError(
                f"{name} in {root}: size {size} differs from the manifest's {entry.get('bytes')}; "
                "the file changed after export; re-run `gqr export` or `gqr train`"
            )
        data = fpath.read_bytes()
        digest = sha256(data)
        if digest != entry["sha256"]:
            raise ChecksumMismatchError(
                f"{name} in {root}: sha256 mismatch (expected {entry['sha256'][:12]}..., got {digest[:12]}...); "
                "the file changed after export; re-run `gqr export` or `gqr train`"
            )
        files[name] = data
    return LoadedArtifact(root, manifest, guard, files)


def write_artifact(path: str | os.PathLike[str], manifest: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write ``files`` and the manifest (with checksums) atomically into ``path``.

    The directory is built next to the target and renamed into place; JSON keys are sorted,
    so the same model gives the same bytes.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["format_version"] = FORMAT_VERSION
    manifest["files"] = {
        _check_name(name, target): {"sha256": sha256(data), "bytes": len(data)} for name, data in sorted(files.items())
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        _validate(manifest, tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
