"""GQR-Bench from the Hugging Face hub (extra ``hub``), following the reference loader.

In-domain data: for each domain, the ``train`` split of its hub dataset; rows whose text is
null or blank, and rows with any null column, are dropped; the first 15,000 remain. The three
are concatenated (law, finance, healthcare) and split exactly as the reference does:

1. ``datasets.Dataset.train_test_split(test_size=0.2, seed=42)``: with ``n`` rows,
   ``perm = numpy.random.default_rng(42).permutation(n)``; test = ``perm[:ceil(0.2 n)]``,
   train = the rest (in permutation order).
2. ``DataFrame.sample(frac=1, random_state=42)`` of train: reorder train by
   ``numpy.random.RandomState(42).permutation(len(train))``.
3. ``sklearn.model_selection.train_test_split(test_size=0.2, random_state=42,
   stratify=domain)``: train -> train and validation.

OOD test sets: the file, filter and text column of each ``OodSpec.hub``; null and blank texts
are dropped.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gqr.datasets._registry import HUB_ID_SOURCES, OOD_SETS, HubSpec
from gqr.datasets._types import Benchmark, EvalSet, LabeledData, Pool, SourceInfo
from gqr.errors import DataFormatError, DatasetUnavailableError, require

__all__ = [
    "HubIdSplits",
    "hub_available",
    "load_hub_benchmark",
    "load_hub_id_splits",
    "load_hub_ood_sets",
    "reference_split",
]

SEED = 42
TEST_SIZE = 0.2


@dataclass(frozen=True)
class HubIdSplits:
    """The reference in-domain splits: train, validation ("eval") and test."""

    train: LabeledData
    validation: LabeledData
    test: LabeledData
    sources: tuple[SourceInfo, ...]


def hub_available() -> bool:
    """True when the ``datasets`` package (extra ``hub``) is importable."""
    return importlib.util.find_spec("datasets") is not None


def fetch_table(spec: HubSpec) -> dict[str, list[Any]]:
    """One hub table as ``{column: values}`` via ``datasets.load_dataset``."""
    lib: Any = require("datasets", "hub", "loading GQR-Bench from the Hugging Face hub")
    kwargs: dict[str, Any] = {"split": spec.split}
    if spec.data_files:
        kwargs["data_files"] = spec.data_files
    if spec.config:
        kwargs["name"] = spec.config
    try:
        table = lib.load_dataset(spec.hub_id, **kwargs)
    except Exception as exc:  # the hub raises many types (FileNotFoundError, HTTP, auth)
        raise DatasetUnavailableError(
            f"cannot load {spec.hub_id} from the Hugging Face hub ({type(exc).__name__}: {exc}); "
            "check the network and `huggingface-cli login`, or pass --data-dir to a local copy"
        ) from exc
    return {name: list(table[name]) for name in table.column_names}


def select_texts(spec: HubSpec, table: Mapping[str, Sequence[Any]]) -> list[str]:
    """Apply the spec's filter, null / blank-text rules and row cap; return the texts."""
    missing = [c for c in (spec.text_field, *spec.filter_columns) if c not in table]
    if missing:
        raise DataFormatError(f"{spec.hub_id}: column {missing[0]!r} not found; columns are {sorted(table)}")
    column = table[spec.text_field]
    texts: list[str] = []
    for i, value in enumerate(column):
        if spec.filter_columns and not any(table[c][i] == spec.filter_value for c in spec.filter_columns):
            continue
        if spec.drop_rows_with_nulls and any(table[c][i] is None for c in table):
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            continue
        texts.append(str(value))
        if spec.max_rows is not None and len(texts) >= spec.max_rows:
            break
    return texts


def reference_split(domains: Sequence[str], seed: int = SEED, test_size: float = TEST_SIZE
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(train, validation, test)`` of the reference recipe (module docstring)."""
    train_test_split = require("sklearn.model_selection", "train", "The reference split").train_test_split

    n = len(domains)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = math.ceil(test_size * n)
    test, rest = perm[:n_test], perm[n_test:]
    rest = rest[np.random.RandomState(seed).permutation(len(rest))]
    labels = np.asarray(domains, dtype=object)[rest]
    train, validation = train_test_split(rest, test_size=test_size, random_state=seed, stratify=labels)
    return np.asarray(train), np.asarray(validation), test


def _id_specs(hub_ids: Mapping[str, str | HubSpec] | None) -> dict[str, HubSpec]:
    specs = dict(HUB_ID_SOURCES)
    for domain, value in (hub_ids or {}).items():
        if isinstance(value, HubSpec):
            specs[domain] = value
        elif domain in specs:
            specs[domain] = replace(specs[domain], hub_id=value)
        else:
            raise DataFormatError(
                f"new domain {domain!r} needs a HubSpec(hub_id, text_field), not just the id {value!r}"
            )
    return specs


def load_hub_id_splits(hub_ids: Mapping[str, str | HubSpec] | None = None, *, seed: int = SEED
                       ) -> HubIdSplits:
    """The reference in-domain train / validation / test splits. ``hub_ids`` overrides a
    domain's dataset id (e.g. ``{"finance": "..."}``: ``4DR1455/finance_questions`` was
    removed from the hub) or adds a domain with a full ``HubSpec``."""
    texts: list[str] = []
    domains: list[str] = []
    sources: list[SourceInfo] = []
    for domain, spec in _id_specs(hub_ids).items():
        try:
            rows = select_texts(spec, fetch_table(spec))
        except DatasetUnavailableError as exc:
            if spec.hub_id == HUB_ID_SOURCES["finance"].hub_id:
                raise DatasetUnavailableError(
                    f"{exc}. Note: {spec.hub_id} was removed from the hub; pass another finance "
                    "dataset with hub_ids={'finance': '<id>'} or use a local copy"
                ) from exc
            raise
        if not rows:
            raise DatasetUnavailableError(f"{spec.hub_id}: no usable {domain} rows in column {spec.text_field!r}")
        texts += rows
        domains += [domain] * len(rows)
        sources.append(SourceInfo(name=domain, role="domain_pool", rows=len(rows), hub_id=spec.hub_id,
                                  fidelity="hub"))
    train, validation, test = reference_split(domains, seed)

    def take(idx: np.ndarray) -> LabeledData:
        return LabeledData(tuple(texts[i] for i in idx), tuple(domains[i] for i in idx), tuple(sources))

    return HubIdSplits(take(train), take(validation), take(test), tuple(sources))


def load_hub_ood_sets(names: Collection[str] | None = None) -> tuple[EvalSet, ...]:
    """The OOD test sets from the hub, in reference order (``names`` picks some)."""
    out = []
    for spec in OOD_SETS:
        if names is not None and spec.name not in names and spec.gqr_key not in names:
            continue
        texts = select_texts(spec.hub, fetch_table(spec.hub))
        info = SourceInfo(name=spec.name, role="ood_test", rows=len(texts), hub_id=spec.hub.hub_id,
                          expected_rows=spec.local.rows, fidelity="hub", licence=spec.licence)
        out.append(EvalSet(spec.name, spec.gqr_key, spec.unsafe, tuple(texts), info))
    return tuple(out)


def load_hub_benchmark(
    hub_ids: Mapping[str, str | HubSpec] | None = None,
    train_dir: str | os.PathLike[str] | None = None,
    *,
    pools: Collection[str] | None = None,
) -> Benchmark:
    """GQR-Bench from the hub: ``id_test`` is the whole reference ID test split; the pools
    are the reference train and validation parts (``Pool.split`` fixed), plus the pools of
    ``train_dir`` when given."""
    splits = load_hub_id_splits(hub_ids)
    found: list[Pool] = []
    for part, split in ((splits.train, "train"), (splits.validation, "validation")):
        by_domain = part.by_label()
        for info in splits.sources:  # domains in source order, not shuffled order
            suffix = "" if split == "train" else "_validation"
            texts = tuple(by_domain.get(info.name, ()))
            found.append(Pool(f"{info.name}_hub{suffix}", info.name, "domain", texts, info, split))
    notes: list[str] = []
    if train_dir is not None:
        from gqr.datasets._local import load_train_pools

        found += load_train_pools(train_dir, pools=pools, notes=notes)
    tdir = None if train_dir is None else Path(train_dir)
    return Benchmark(load_hub_ood_sets(), splits.test, tuple(found), "hub", None, tdir, (), tuple(notes))
