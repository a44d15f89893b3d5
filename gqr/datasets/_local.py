"""GQR-Bench from a local directory (``id/*.jsonl``, ``ood/*.jsonl``) plus the training pools,
and ``load_benchmark``, which picks the local copy or the hub."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from gqr.datasets._files import read_file
from gqr.datasets._manifest import PoolSpec, read_pool_manifest
from gqr.datasets._registry import ID_FILES, OOD_SETS, HubSpec, LocalFile
from gqr.datasets._types import Benchmark, EvalSet, LabeledData, Pool, SourceInfo
from gqr.errors import DatasetUnavailableError, InvalidInputError

__all__ = ["ID_POOL_NAMES", "load_benchmark", "load_local_benchmark", "load_train_pools"]

_ID_POOLS = tuple(f for f in ID_FILES if f.role == "domain_pool")
#: The pools under GQR-Bench's ``id/`` (the other pools come from the train dir's MANIFEST.json).
ID_POOL_NAMES = tuple(f.name for f in _ID_POOLS)
_SAMPLE = next(f for f in ID_FILES if f.role == "id_test")
_UNAVAILABLE = (
    "pass --data-dir (or set GQR_DATA_DIR) to a local GQR-Bench copy with id/ and ood/, "
    "or pip install 'gqr[hub]' to download it from the Hugging Face hub"
)


def load_benchmark(
    data_dir: str | os.PathLike[str] | None = None,
    train_dir: str | os.PathLike[str] | None = None,
    *,
    pools: Collection[str] | None = None,
    hub: bool | None = None,
    hub_ids: Mapping[str, str | HubSpec] | None = None,
) -> Benchmark:
    """Load GQR-Bench and the training pools.

    ``data_dir`` defaults to ``$GQR_DATA_DIR``; ``train_dir`` to ``$GQR_TRAIN_DIR``, else
    ``<data_dir>/../train``. With no local directory, the hub is used when the ``hub`` extra
    is installed (``hub=None``); ``hub=True`` forces it, ``hub=False`` forbids it.
    ``pools`` picks pools by name (default: all: ``ID_POOL_NAMES`` and the train dir's manifest).
    Raises ``DatasetUnavailableError`` when no source can supply the data.
    """
    local = data_dir if data_dir is not None else os.environ.get("GQR_DATA_DIR") or None
    if hub is True or (local is None and hub is None and _hub_available()):
        from gqr.datasets._hub import load_hub_benchmark

        explicit_train = train_dir if train_dir is not None else os.environ.get("GQR_TRAIN_DIR") or None
        return load_hub_benchmark(hub_ids=hub_ids, train_dir=explicit_train, pools=pools)
    if local is None:
        raise DatasetUnavailableError(f"no GQR-Bench data given: {_UNAVAILABLE}")
    return load_local_benchmark(local, train_dir, pools=pools)


def _hub_available() -> bool:
    from gqr.datasets._hub import hub_available

    return hub_available()


def load_local_benchmark(
    data_dir: str | os.PathLike[str],
    train_dir: str | os.PathLike[str] | None = None,
    *,
    pools: Collection[str] | None = None,
) -> Benchmark:
    """GQR-Bench from ``data_dir`` (laid out as ``id/`` and ``ood/``) and the training pools."""
    root = Path(data_dir).expanduser()
    if not (root / "ood").is_dir() or not (root / _SAMPLE.path).is_file():
        raise DatasetUnavailableError(
            f"GQR-Bench data not found at {root} (needs ood/*.jsonl and {_SAMPLE.path}); {_UNAVAILABLE}"
        )
    notes: list[str] = []
    ood_sets = []
    for spec in OOD_SETS:
        path = root / spec.local.path
        if not path.is_file():
            raise DatasetUnavailableError(
                f"{path} is missing: the seven OOD test sets must all be present; re-copy the GQR-Bench data"
            )
        part = read_file(path, "text", None, "jsonl", role="ood_test")
        ood_sets.append(EvalSet(spec.name, spec.gqr_key, spec.unsafe, tuple(part.texts),
                                _with_registry(part.sources[0], spec.local)))
    known = {Path(s.local.path).name for s in OOD_SETS}
    for extra in sorted((root / "ood").glob("*.jsonl")):
        if extra.name not in known:
            notes.append(f"ignored {extra}: not one of the seven GQR-Bench OOD sets")
    sample = read_file(root / _SAMPLE.path, "text", "domain", "jsonl", role="id_test")
    id_test = LabeledData(tuple(sample.texts), tuple(sample.labels),
                          (_with_registry(sample.sources[0], _SAMPLE),))
    eval_only = []
    for held_out in (f for f in ID_FILES if f.role == "eval_only"):
        path = root / held_out.path
        if path.is_file():
            part = read_file(path, "text", None, "jsonl", role="eval_only")
            eval_only.append(_with_registry(part.sources[0], held_out))
            outside = set(part.texts) - set(sample.texts)
            if outside:
                notes.append(f"{path}: {len(outside)} rows are not in the exact sample; they are never trained on")
    tdir = _train_dir(root, train_dir, notes)
    specs = read_pool_manifest(tdir) if tdir is not None else []
    wanted = _check_pool_names(pools, ID_POOL_NAMES + tuple(s.name for s in specs))
    found: list[Pool] = [_read_pool(root / f.path, _id_spec(f), notes) for f in _ID_POOLS if f.name in wanted]
    if tdir is not None:
        found += [_read_pool(tdir / s.file, s, notes) for s in specs if s.name in wanted]
    found = [p for p in found if p is not None]
    return Benchmark(tuple(ood_sets), id_test, tuple(found), "local", root, tdir, tuple(eval_only), tuple(notes))


def load_train_pools(
    train_dir: str | os.PathLike[str],
    *,
    pools: Collection[str] | None = None,
    notes: list[str] | None = None,
) -> list[Pool]:
    """The pools listed in ``train_dir/MANIFEST.json`` (``gqr.datasets._manifest``), in manifest
    order, each checked against the rows and sha256 the manifest states. ``pools`` picks
    names (``ID_POOL_NAMES`` are accepted and ignored here). Listed files that are missing
    are skipped with a note."""
    root = Path(train_dir)
    specs = read_pool_manifest(root)
    wanted = _check_pool_names(pools, ID_POOL_NAMES + tuple(s.name for s in specs))
    notes = notes if notes is not None else []
    found = (_read_pool(root / s.file, s, notes) for s in specs if s.name in wanted)
    return [p for p in found if p is not None]


def _check_pool_names(pools: Collection[str] | None, known: tuple[str, ...]) -> frozenset[str]:
    if pools is None:
        return frozenset(known)
    if isinstance(pools, str):
        raise InvalidInputError("pools must be a collection of pool names, not one string")
    unknown = sorted(set(pools) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown pool(s) {unknown}; choose from {list(known)}")
    return frozenset(pools)


def _id_spec(f: LocalFile) -> PoolSpec:
    return PoolSpec(f.name, f.path, f.label, f.role, f.rows, f.sha256, f.licence, f.note)


def _read_pool(path: Path, spec: PoolSpec, notes: list[str]) -> Pool | None:
    if not path.is_file():
        notes.append(f"pool {spec.name} not found at {path}; training goes on without it")
        return None
    part = read_file(path, "text", None, "jsonl", role=spec.role)
    info = part.sources[0]
    info = SourceInfo(
        name=spec.name, role=spec.role, rows=info.rows, path=info.path, sha256=info.sha256,
        expected_sha256=spec.sha256, expected_rows=spec.rows,
        fidelity=next((f.fidelity for f in _ID_POOLS if f.name == spec.name), "real"),
        licence=spec.licence, field_counts=info.field_counts,
    )
    if info.verified is False:
        notes.append(f"pool {spec.name}: {path} does not match its manifest (rows {info.rows} vs {spec.rows}, "
                     f"sha256 {info.sha256[:12]}... vs {(spec.sha256 or '')[:12]}...); re-copy the file")
    return Pool(spec.name, spec.label or "", spec.kind, tuple(part.texts), info, sources=tuple(part.row_sources))


def _train_dir(root: Path, train_dir: str | os.PathLike[str] | None, notes: list[str]) -> Path | None:
    explicit = train_dir if train_dir is not None else os.environ.get("GQR_TRAIN_DIR") or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise DatasetUnavailableError(
                f"training pools not found at {path}; pass --train-dir (or set GQR_TRAIN_DIR) to the pools directory"
            )
        return path
    default = root.parent / "train"
    if default.is_dir():
        return default
    notes.append(f"no training pools at {default} (set GQR_TRAIN_DIR); law has no training data without them")
    return None


def _with_registry(info: SourceInfo, spec: LocalFile) -> SourceInfo:
    return SourceInfo(
        name=spec.name, role=spec.role, rows=info.rows, path=info.path, sha256=info.sha256,
        expected_sha256=spec.sha256, expected_rows=spec.rows, fidelity=spec.fidelity,
        licence=spec.licence, field_counts=info.field_counts,
    )
