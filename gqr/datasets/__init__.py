"""Datasets: GQR-Bench (local copy or Hugging Face hub), training pools, leak-free splits and
the user's own labelled files.

::

    bench = load_benchmark("/data/gqr-bench")          # or $GQR_DATA_DIR, or the hub
    splits = make_splits(bench, seed=0)                # evaluation texts never reach train/val
    assert_no_leak(splits, bench)
    data = load_labeled_file("my_queries.csv", labels={"billing", "support"})

The OOD test sets (``Benchmark.ood_sets``) are evaluation data: they are never returned as
training pools.
"""

from __future__ import annotations

from gqr.datasets._files import load_labeled_file, sha256_file
from gqr.datasets._hub import (
    HubIdSplits,
    hub_available,
    load_hub_benchmark,
    load_hub_id_splits,
    load_hub_ood_sets,
    reference_split,
)
from gqr.datasets._local import ID_POOL_NAMES, load_benchmark, load_local_benchmark, load_train_pools
from gqr.datasets._manifest import PoolSpec, read_pool_manifest
from gqr.datasets._registry import BACKGROUND_CLASSES, DOMAINS, HUB_ID_SOURCES, OOD_SETS, HubSpec, OodSpec, manifest
from gqr.datasets._splits import SPLITS, Removed, SplitPart, Splits, assert_no_leak, leak_report, make_splits, overlap
from gqr.datasets._types import Benchmark, EvalSet, LabeledData, Pool, RowError, SourceInfo

__all__ = [
    "BACKGROUND_CLASSES",
    "DOMAINS",
    "HUB_ID_SOURCES",
    "ID_POOL_NAMES",
    "OOD_SETS",
    "SPLITS",
    "Benchmark",
    "EvalSet",
    "HubIdSplits",
    "HubSpec",
    "LabeledData",
    "OodSpec",
    "Pool",
    "PoolSpec",
    "Removed",
    "RowError",
    "SourceInfo",
    "SplitPart",
    "Splits",
    "assert_no_leak",
    "hub_available",
    "leak_report",
    "load_benchmark",
    "load_hub_benchmark",
    "load_hub_id_splits",
    "load_hub_ood_sets",
    "load_labeled_file",
    "load_local_benchmark",
    "load_train_pools",
    "make_splits",
    "manifest",
    "overlap",
    "read_pool_manifest",
    "reference_split",
    "sha256_file",
]
