"""``gqr export`` and ``gqr inspect``: verify an artifact, copy it for deployment, show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gqr.cli._common import check_model_out


def export(
    model: Annotated[Path, typer.Argument(help="A trained model directory (from `gqr train`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the verified copy.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the model already in --out.")] = False,
) -> None:
    """Verify a model (checksums, graph signature, labels) and copy it for deployment.

    The copy holds the ONNX file(s) and the manifest; serving it needs only numpy and onnxruntime.
    """
    from gqr.artifact import read_artifact, write_artifact
    from gqr.router import Router

    check_model_out(out, overwrite)
    Router.load(model)  # full verification, including the ONNX graph signature
    artifact = read_artifact(model)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("files", "format", "format_version")}
    write_artifact(out, manifest, artifact.files)
    typer.echo(f"exported {model} -> {out} ({sum(len(b) for b in artifact.files.values()) / 1e6:.2f} MB)")


def inspect(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
) -> None:
    """Show a model's labels, thresholds, training data and validation metrics."""
    from gqr.artifact import read_artifact

    artifact = read_artifact(model)
    m = artifact.manifest
    g = artifact.guard
    typer.echo(f"model     {model}  (backend {m['backend']}, gqr {m.get('gqr_version')}, format {m['format_version']})")
    typer.echo(f"domains   {', '.join(g.labels)}")
    typer.echo(f"rejects   {', '.join(g.background) or '(threshold only)'}")
    zone = (f"uncertain when P(wrong) >= {g.error_model.cut:.3f} (error model)" if g.error_model
            else f"uncertain [{g.uncertain_low:.3f}, {g.uncertain_high:.3f})")
    typer.echo(f"guard     {g.method} threshold {g.threshold:.4f}, temperature {g.temperature:.4f}, {zone}")
    for name, entry in sorted(m["files"].items()):
        typer.echo(f"file      {name}  {entry['bytes'] / 1e6:.2f} MB  sha256 {entry['sha256'][:16]}...")
    val = m.get("training", {}).get("validation")
    if val:
        typer.echo("validation " + json.dumps({k: v for k, v in val.items() if not isinstance(v, dict)}, default=str))
