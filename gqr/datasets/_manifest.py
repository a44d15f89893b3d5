"""A pools directory's ``MANIFEST.json``: which files are training pools, their label and role,
and the rows and sha256 they must have. A new pool is a new manifest entry, not new code.

::

    {"format": 1, "pools": [
      {"name": "law_questions", "file": "law_questions.jsonl", "label": "law",
       "role": "domain_pool", "rows": 3699, "sha256": "...", "licence": "..."}, ...]}

Roles: ``domain_pool`` (label = a domain), ``background_pool`` (label = ``out_of_domain``,
``other_language`` or ``unsafe``) and ``control`` (never trained on: a set the router must not
call unsafe, such as safe look-alikes). Rows are JSONL ``{"text", "source", ...}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gqr.datasets._registry import BACKGROUND_CLASSES
from gqr.errors import DataFormatError

__all__ = ["MANIFEST_NAME", "POOL_ROLES", "PoolSpec", "read_pool_manifest"]

MANIFEST_NAME = "MANIFEST.json"
POOL_ROLES = ("domain_pool", "background_pool", "control")
_MAX_BYTES = 4 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PoolSpec:
    """One manifest entry."""

    name: str
    file: str
    label: str | None
    role: str
    rows: int | None
    sha256: str | None
    licence: str = ""
    what: str = ""

    @property
    def kind(self) -> str:
        """``Pool.kind``: ``domain``, ``background`` or ``control``."""
        return {"domain_pool": "domain", "background_pool": "background"}.get(self.role, "control")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def read_pool_manifest(directory: str | Path) -> list[PoolSpec]:
    """The pools listed in ``directory/MANIFEST.json``, in manifest order.

    Raises ``DataFormatError`` naming the entry and field that is wrong.
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise DataFormatError(
            f"{path} not found: a pools directory lists its pools in {MANIFEST_NAME} "
            '({"pools": [{"name", "file", "label", "role", "rows", "sha256"}, ...]})'
        )
    if path.stat().st_size > _MAX_BYTES:
        raise DataFormatError(f"{path} is larger than {_MAX_BYTES >> 20} MB: not a pool manifest")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path} is not valid UTF-8 JSON ({exc}); fix or regenerate the manifest") from exc
    entries = doc.get("pools") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: expected an object with a 'pools' list")
    specs = [_spec(path, i, entry) for i, entry in enumerate(entries)]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataFormatError(f"{path}: pool names must be unique; repeated: {dupes}")
    return specs


def _spec(path: Path, index: int, entry: Any) -> PoolSpec:
    where = f"{path}: pools[{index}]"
    if not isinstance(entry, dict):
        raise DataFormatError(f"{where} is not an object")
    name, file, role = entry.get("name"), entry.get("file"), entry.get("role")
    if not isinstance(name, str) or not _NAME.match(name):
        raise DataFormatError(f"{where}: 'name' must be a plain name (letters, digits, _ . -), got {name!r}")
    where = f"{path}: pool {name!r}"
    if not isinstance(file, str) or not _NAME.match(file):
        raise DataFormatError(f"{where}: 'file' must be a file name inside the directory, got {file!r}")
    if role not in POOL_ROLES:
        raise DataFormatError(f"{where}: 'role' must be one of {list(POOL_ROLES)}, got {role!r}")
    label = entry.get("label")
    if role == "background_pool" and label not in BACKGROUND_CLASSES:
        raise DataFormatError(f"{where}: a background pool's label must be one of {list(BACKGROUND_CLASSES)}")
    if role == "domain_pool" and (not isinstance(label, str) or not label.strip() or label in BACKGROUND_CLASSES):
        raise DataFormatError(f"{where}: a domain pool needs a domain label, got {label!r}")
    rows, sha = entry.get("rows"), entry.get("sha256")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        raise DataFormatError(f"{where}: 'rows' must be a non-negative integer, got {rows!r}")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise DataFormatError(f"{where}: 'sha256' must be 64 lower-case hex digits")
    return PoolSpec(name, file, label if isinstance(label, str) else None, role, rows, sha,
                    str(entry.get("licence") or ""), str(entry.get("what") or ""))
