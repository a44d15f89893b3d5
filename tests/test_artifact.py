"""Loading never trusts the file: tampered, edited or incompatible artifacts are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gqr.artifact import read_artifact
from gqr.errors import ArtifactNotFoundError, ChecksumMismatchError, IncompatibleArtifactError, ManifestError
from gqr.router import Router


@pytest.fixture()
def artifact_copy(svm_artifact: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(svm_artifact, dst)
    return dst


def _edit_manifest(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_round_trip_lists_checksums(svm_artifact: Path) -> None:
    art = read_artifact(svm_artifact)
    assert set(art.files) == {"model.onnx"}
    assert art.manifest["files"]["model.onnx"]["bytes"] == len(art.model_bytes)
    assert art.guard.labels == ("law", "finance", "healthcare")


def test_flipped_byte_is_refused_before_onnx_runtime_runs(artifact_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray((artifact_copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (artifact_copy / "model.onnx").write_bytes(bytes(data))

    import onnxruntime

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("InferenceSession reached before the checksum check")

    monkeypatch.setattr(onnxruntime, "InferenceSession", boom)
    with pytest.raises(ChecksumMismatchError, match="model.onnx.*sha256 mismatch"):
        Router.load(artifact_copy)


def test_edited_labels_are_caught_by_graph_metadata(artifact_copy: Path) -> None:
    _edit_manifest(artifact_copy, lambda m: m["guard"].update(labels=["finance", "law", "healthcare"]))
    with pytest.raises(IncompatibleArtifactError, match="edited"):
        Router.load(artifact_copy)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "sub/model.onnx", ""])
def test_paths_outside_the_directory_are_refused(artifact_copy: Path, name: str) -> None:
    _edit_manifest(artifact_copy, lambda m: m["files"].update({name: {"sha256": "0" * 64, "bytes": 1}}))
    with pytest.raises(ManifestError, match="plain file name"):
        read_artifact(artifact_copy)


def test_unlisted_files_are_ignored(artifact_copy: Path, trained_svm) -> None:  # type: ignore[no-untyped-def]
    (artifact_copy / "evil.pkl").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    art = read_artifact(artifact_copy)
    assert "evil.pkl" not in art.files
    text = "Is my landlord allowed to keep the deposit?"
    d = Router.load(artifact_copy).route(text)
    assert d.reason is not None
    # the loaded copy decides exactly as the in-process trained router it was exported from
    expected = trained_svm.router().route(text)
    assert (d.route, d.reason) == (expected.route, expected.reason)
    assert d.confidence == pytest.approx(expected.confidence, abs=1e-5)


def test_future_format_version_is_incompatible(artifact_copy: Path) -> None:
    _edit_manifest(artifact_copy, lambda m: m.update(format_version=99))
    with pytest.raises(IncompatibleArtifactError, match="format_version 99"):
        read_artifact(artifact_copy)


@pytest.mark.parametrize(
    "content, match",
    [(b"{not json", "not valid JSON"), (b"[]", "JSON object"), (b'{"format": "gqr-router"}', "missing field"), (b"\xff\xfe", "not valid JSON")],
)
def test_bad_manifest(artifact_copy: Path, content: bytes, match: str) -> None:
    (artifact_copy / "manifest.json").write_bytes(content)
    with pytest.raises(ManifestError, match=match):
        read_artifact(artifact_copy)


def test_threshold_out_of_range(artifact_copy: Path) -> None:
    _edit_manifest(artifact_copy, lambda m: m["guard"].update(threshold=1.5))
    with pytest.raises(ManifestError, match="outside"):
        read_artifact(artifact_copy)


@pytest.mark.parametrize(
    "guard, match",
    [({"method": "energy", "threshold": float("inf")}, "not a finite number"),  # json reads 'Infinity'
     ({"method": "energy", "uncertain_low": float("nan")}, "not a finite number"),
     ({"uncertain_low": 0.7, "uncertain_high": 0.3}, "is above"),
     ({"unsafe_min": float("nan")}, "unsafe_min"),
     ({"unsafe_min": 1.5}, "unsafe_min"),
     ({"logit_bias": [0.0, 1.0]}, "logit_bias must hold")],
)
def test_guard_numbers_out_of_range(artifact_copy: Path, guard: dict, match: str) -> None:
    _edit_manifest(artifact_copy, lambda m: m["guard"].update(guard))
    with pytest.raises(ManifestError, match=match):
        read_artifact(artifact_copy)


def test_missing_directory_and_file(tmp_path: Path, artifact_copy: Path) -> None:
    with pytest.raises(ArtifactNotFoundError):
        Router.load(tmp_path / "nope")
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(ArtifactNotFoundError, match="missing"):
        read_artifact(artifact_copy)


def test_export_is_byte_deterministic(trained_svm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = trained_svm.export(tmp_path / "a")
    b = trained_svm.export(tmp_path / "b")
    for name in ("model.onnx", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
