"""``gqr train``: train a router on your labelled data (or the GQR-Bench pools) and export it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gqr.cli._common import DataDir, TrainDir, ensure_writable_dir, load_bench, parse_params, say, usage_error


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the trained model to.")],
    data: Annotated[Optional[list[Path]], typer.Option("--data", help="Labelled file or directory (JSONL, CSV, Parquet, TXT); repeatable.")] = None,
    text_field: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Column holding the domain label.")] = "label",
    outliers: Annotated[Optional[list[str]], typer.Option("--outliers", help="REASON=FILE with texts to reject (reason: out_of_domain, other_language, unsafe); repeatable.")] = None,
    benchmark: Annotated[bool, typer.Option("--benchmark", help="Train on the GQR-Bench domains and outlier pools.")] = False,
    data_dir: DataDir = None,
    train_dir: TrainDir = None,
    model: Annotated[str, typer.Option("--model", "-m", help="svm, widemlp, fasttext or xgboost.")] = "svm",
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Model hyper-parameter KEY=VALUE; repeatable.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same data + seed = same model).")] = 0,
    target_frr: Annotated[float, typer.Option(help="Share of held-out in-domain queries the OOD threshold may reject.")] = 0.02,
    ood_method: Annotated[str, typer.Option(help="OOD score: msp or energy.")] = "msp",
) -> None:
    """Train a router, calibrate it, choose its OOD threshold, and export it to --out."""
    from gqr.datasets import load_labeled_file
    from gqr.training import TrainConfig, TrainingSet, train_router

    if not 0.0 <= target_frr < 0.5:
        raise usage_error("--target-frr must be in [0, 0.5)")
    if out.exists() and not out.is_dir():
        raise usage_error(f"--out {out} is a file; give a directory for the model")
    ensure_writable_dir(out.parent, "--out")  # fail now, not after training
    validation = None
    if benchmark:
        from gqr.bench import benchmark_inputs

        train_set, validation, _, _ = benchmark_inputs(load_bench(data_dir, train_dir), seed)
    else:
        if not data:
            raise usage_error("give --data FILE (labelled texts) or --benchmark")
        domains: dict[str, list[str]] = {}
        for path in data:
            loaded = load_labeled_file(path, text_field=text_field, label_field=label_field, on_error="skip")
            for row in loaded.skipped:
                say(f"skipped {row.file}:{row.row}: {row.message}")
            for label, texts in loaded.by_label().items():
                domains.setdefault(label, []).extend(texts)
        background: dict[str, list[str]] = {}
        for item in outliers or []:
            reason, _, file = item.partition("=")
            if not file:
                raise usage_error(f"--outliers {item!r}: expected REASON=FILE")
            loaded = load_labeled_file(Path(file), text_field=text_field, label=reason, on_error="skip")
            background.setdefault(reason, []).extend(loaded.texts)
        train_set = TrainingSet(domains, background)
    config = TrainConfig(model=model, params=parse_params(param), seed=seed, target_frr=target_frr, method=ood_method)
    trained = train_router(train_set, config, progress=say, validation=validation)
    path = trained.export(out)
    m = trained.metrics
    say(f"validation: ID accuracy {m['id_accuracy']:.3f}, ID rejection {m['id_rejection_rate']:.3f}"
        + (f", outlier rejection {m['outlier_rejection']:.3f}" if "outlier_rejection" in m else "")
        + f", ECE {m['ece_before']:.3f} -> {m['ece_after']:.3f}")
    typer.echo(f"wrote {path}")
