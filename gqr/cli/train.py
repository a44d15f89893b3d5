"""``gqr train``: train a router on your labelled data and pools (alone, or added to the
GQR-Bench pools) and export it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gqr.classifiers import BACKENDS
from gqr.cli._common import (
    DataDir,
    TrainDir,
    check_model_out,
    ensure_writable_dir,
    load_bench,
    require_training,
    say,
    usage_error,
    warn,
)
from gqr.cli._params import backend_params, check_model

#: fewer held-out rows than this cannot calibrate probabilities or place the OOD threshold
MIN_VALIDATION_ROWS = 50
#: share of the user's rows held out when they are added to the benchmark's (as its pools are)
ADDED_VALIDATION = 0.1
REASONS = ("out_of_domain", "other_language", "unsafe")
NO_POOLS = ("no outlier pools: the router learns no out_of_domain, other_language or unsafe class, so it rejects "
            "almost nothing; add pools with --outliers REASON=FILE, --pools DIR (a MANIFEST.json pools directory) "
            "or --benchmark (the GQR-Bench pools)")

# class -> [(text, source)], one dict for domains and one for outlier pools
Rows = dict[str, list[tuple[str, str]]]


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the trained model to.")],
    data: Annotated[Optional[list[Path]], typer.Option("--data", metavar="PATH", help="Labelled file or directory (JSONL, CSV, Parquet, TXT); repeatable.")] = None,
    text_field: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Column holding the domain label.")] = "label",
    outliers: Annotated[Optional[list[str]], typer.Option("--outliers", metavar="REASON=FILE", help="A file of texts to reject, for REASON out_of_domain, other_language or unsafe; repeatable.")] = None,
    pools: Annotated[Optional[Path], typer.Option("--pools", metavar="DIR", help="Your own pools directory: a MANIFEST.json listing JSONL pools (file, label, role, rows, sha256).")] = None,
    benchmark: Annotated[bool, typer.Option("--benchmark", help="Train on the GQR-Bench domains and outlier pools (plus --data, --outliers and --pools, if given).")] = False,
    data_dir: DataDir = None,
    train_dir: TrainDir = None,
    model: Annotated[str, typer.Option("--model", "-m", help=f"Router backend: {', '.join(BACKENDS)}.")] = "svm",
    param: Annotated[Optional[list[str]], typer.Option("--param", metavar="KEY=VALUE", help="Backend hyper-parameter KEY=VALUE, e.g. C=0.5; repeatable.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same data + seed = same model).")] = 0,
    target_frr: Annotated[float, typer.Option(help="Share of held-out in-domain queries the OOD threshold may reject.")] = 0.02,
    ood_method: Annotated[str, typer.Option(help="OOD score: msp or energy.")] = "msp",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the model already in --out.")] = False,
    describe: Annotated[Optional[list[str]], typer.Option("--describe", metavar="DOMAIN=TEXT", help="One line describing a domain for the LLM judge's prompt, stored in the manifest; repeatable (--benchmark has defaults for its domains).")] = None,
) -> None:
    """Train a router, calibrate it, choose its OOD threshold, and export it to --out."""
    check_model(model)
    params = backend_params(model, param)
    require_training()
    if ood_method not in ("msp", "energy"):
        raise usage_error(f"--ood-method {ood_method!r}: use msp or energy")
    if not 0.0 <= target_frr < 0.5:
        raise usage_error("--target-frr must be in [0, 0.5)")
    if not (benchmark or data or pools):
        raise usage_error("give --data FILE (labelled texts), --pools DIR or --benchmark")
    if pools is not None and not pools.is_dir():
        raise usage_error(f"--pools {pools}: not a directory; give a folder holding MANIFEST.json and its pools")
    outlier_files = parse_outliers(outliers)
    described = parse_describe(describe)
    check_model_out(out, overwrite)
    ensure_writable_dir(out.parent, "--out")  # fail now, not after training
    from gqr.training import TrainConfig

    domains, background = read_user_data(data or [], outlier_files, pools, text_field, label_field)
    if benchmark:
        train_set, validation = with_benchmark(load_bench(data_dir, train_dir), domains, background, seed)
    else:
        train_set, validation = training_set(domains, background), None
    if not train_set.background:
        warn(NO_POOLS)
    descriptions = domain_descriptions(described, sorted(train_set.domains), benchmark)
    config = TrainConfig(model=model, params=params, seed=seed, target_frr=target_frr, method=ood_method)
    trained = fit(train_set, config, validation, param or [])
    check_validation_size(trained.data_stats, config.val_fraction)
    from gqr.export import export_router

    path = export_router(trained, out, descriptions=descriptions)
    m = trained.metrics
    say(f"validation: ID accuracy {m['id_accuracy']:.3f}, ID rejection {m['id_rejection_rate']:.3f}"
        + (f", outlier rejection {m['outlier_rejection']:.3f}" if "outlier_rejection" in m else "")
        + f", ECE {m['ece_before']:.3f} -> {m['ece_after']:.3f}")
    typer.echo(f"wrote {path}")


def fit(train_set: Any, config: Any, validation: Any, given: list[str]) -> Any:
    """``train_router``; a backend's refusal of a ``--param`` value (a ``ValueError`` from its
    library, e.g. ``C=-1``) becomes one usage-error line instead of a traceback."""
    from gqr.errors import GQRError
    from gqr.training import train_router

    try:
        return train_router(train_set, config, progress=say, validation=validation)
    except ValueError as exc:
        if isinstance(exc, GQRError) or not given:
            raise
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise usage_error(f"{config.model} refused --param {' '.join(given)}: {reason}") from None


def parse_outliers(items: list[str] | None) -> list[tuple[str, Path]]:
    """``["unsafe=abuse.txt"]`` -> ``[("unsafe", Path("abuse.txt"))]``; a usage error for a
    bad form or an unknown reason (checked before any file is read)."""
    out = []
    for item in items or []:
        reason, _, file = item.partition("=")
        if not file:
            raise usage_error(f"--outliers {item!r}: expected REASON=FILE, e.g. out_of_domain=chitchat.txt")
        if reason not in REASONS:
            raise usage_error(f"--outliers {item!r}: reason {reason!r} is not one of {', '.join(REASONS)}")
        out.append((reason, Path(file)))
    return out


def parse_describe(items: list[str] | None) -> dict[str, str]:
    """``["law=Legal questions"]`` -> ``{"law": "Legal questions"}``; a usage error for a bad form."""
    out: dict[str, str] = {}
    for item in items or []:
        name, _, text = item.partition("=")
        if not name.strip() or not text.strip():
            raise usage_error(f"--describe {item!r}: expected DOMAIN=TEXT, e.g. law=\"Legal questions: contracts, courts\"")
        out[name.strip()] = text.strip()
    return out


def domain_descriptions(given: dict[str, str], labels: list[str], benchmark: bool) -> dict[str, str]:
    """The descriptions to store: the benchmark's defaults (with --benchmark) overridden by
    --describe; a usage error for a domain the data does not have or a description too long."""
    from gqr.judge._prompt import BENCHMARK_DESCRIPTIONS, check_descriptions

    defaults = {k: v for k, v in BENCHMARK_DESCRIPTIONS.items() if k in labels} if benchmark else {}
    try:
        return check_descriptions({**defaults, **given}, labels)
    except ValueError as exc:
        raise usage_error(f"--describe: {exc}") from None


def read_user_data(data: list[Path], outliers: list[tuple[str, Path]], pools: Path | None,
                   text_field: str, label_field: str) -> tuple[Rows, Rows]:
    """The user's domains and outlier pools from --data, --outliers and --pools; each row's
    source is its file (or the pool's own row sources)."""
    from gqr.datasets import load_labeled_file

    domains: Rows = {}
    background: Rows = {}
    for path in data:
        loaded = load_labeled_file(path, text_field=text_field, label_field=label_field, on_error="skip")
        for row in loaded.skipped:
            say(f"skipped {row.file}:{row.row}: {row.message}")
        for label, texts in loaded.by_label().items():
            domains.setdefault(label, []).extend((t, path.name) for t in texts)
    for reason, file in outliers:
        loaded = load_labeled_file(file, text_field=text_field, label=reason, on_error="skip")
        background.setdefault(reason, []).extend((t, file.name) for t in loaded.texts)
    if pools is not None:
        read_pools(pools, domains, background)
    return domains, background


def read_pools(directory: Path, domains: Rows, background: Rows) -> None:
    """Add the domain and background pools listed in ``directory/MANIFEST.json``."""
    from gqr.datasets import load_train_pools
    from gqr.errors import DataFormatError

    notes: list[str] = []
    found = load_train_pools(directory, notes=notes)
    for note in notes:
        say(f"note: {note}")
    used = [p for p in found if p.kind in ("domain", "background")]
    if not used:
        raise DataFormatError(f"{directory}/MANIFEST.json lists no domain_pool or background_pool that could be read; "
                              "list your pools there (file, label, role, rows, sha256)")
    for pool in used:
        sources = pool.sources if len(pool.sources) == len(pool.texts) else (pool.name,) * len(pool.texts)
        rows = zip(pool.texts, sources)
        (domains if pool.kind == "domain" else background).setdefault(pool.label, []).extend(rows)
    say(f"pools from {directory}: " + ", ".join(f"{p.name} ({p.label}, {len(p.texts)})" for p in used))


def training_set(domains: Rows, background: Rows, base: Any = None) -> Any:
    """A ``TrainingSet``: ``base`` (a ``TrainingSet``, or nothing) plus these rows and their sources."""
    from gqr.training import TrainingSet

    base = base if base is not None else TrainingSet({}, {})
    texts = {c: list(v) for c, v in base.domains.items()}
    extra = {c: list(v) for c, v in base.background.items()}
    for rows, into in ((domains, texts), (background, extra)):
        for label, pairs in rows.items():
            into.setdefault(label, []).extend(t for t, _ in pairs)
    given = {**domains, **background}  # row weights per source need each row's source
    sources = {c: base.source_of(c) + [s for _, s in given.get(c, [])] for c in [*texts, *extra]}
    return TrainingSet(texts, extra, sources)


def holdout(rows: Rows, fraction: float, seed: int) -> tuple[Rows, Rows]:
    """Seeded split of each class: ``fraction`` of its rows (at least one of two or more) held out."""
    rng = random.Random(seed)
    kept: Rows = {}
    held: Rows = {}
    for label, pairs in rows.items():
        order = list(range(len(pairs)))
        rng.shuffle(order)
        n = max(1, round(len(pairs) * fraction)) if len(pairs) > 1 else 0
        held[label] = [pairs[i] for i in sorted(order[:n])]
        kept[label] = [pairs[i] for i in sorted(order[n:])]
    return kept, held


def with_benchmark(bench: Any, domains: Rows, background: Rows, seed: int) -> tuple[Any, Any]:
    """The benchmark's training and validation sets with the user's rows added (held out as
    the benchmark's pools are), so that user domains and pools are never dropped."""
    from gqr.bench import benchmark_inputs

    train_set, validation, _, _ = benchmark_inputs(bench, seed)
    if not (domains or background):
        return train_set, validation
    fit_d, val_d = holdout(domains, ADDED_VALIDATION, seed)
    fit_b, val_b = holdout(background, ADDED_VALIDATION, seed)
    added = {**domains, **background}
    say("added to the benchmark's data: " + ", ".join(f"{c} {len(r)}" for c, r in added.items()))
    return training_set(fit_d, fit_b, train_set), training_set(val_d, val_b, validation)


def check_validation_size(stats: dict[str, Any], val_fraction: float) -> None:
    """Warn when too few rows were held out to calibrate and to place the OOD threshold."""
    n = int(stats.get("val_rows", MIN_VALIDATION_ROWS))
    if n < MIN_VALIDATION_ROWS:
        warn(f"only {n} validation rows (fewer than {MIN_VALIDATION_ROWS}): calibration and the OOD threshold "
             f"rest on too few rows to trust; add labelled data ({val_fraction:.0%} is held out, so at least "
             f"{round(MIN_VALIDATION_ROWS / val_fraction)} rows in all)")
