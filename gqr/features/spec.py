"""Rebuild a serving featurizer from an artifact's JSON spec (serving tier: numpy only).

The spec names one of a fixed set of kinds; nothing in an artifact can make gqr import or
run code of its choosing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from gqr.errors import ManifestError
from gqr.features.batch import SparseBatch
from gqr.features.hashing import HASHED_NGRAMS, HashingConfig, hash_texts
from gqr.features.hashing_fast import hash_one, hash_texts_fast

__all__ = ["Featurizer", "from_spec"]

Featurizer = Callable[[Sequence[str]], SparseBatch]


def from_spec(spec: dict[str, Any], files: dict[str, bytes], *, reference: bool = False) -> Featurizer:
    """Return ``texts -> SparseBatch`` for a manifest's ``featurizer`` entry: the fast path,
    or with ``reference=True`` the Python reference it must equal (for parity checks)."""
    kind = spec.get("kind")
    try:
        if kind == HASHED_NGRAMS:
            config = HashingConfig.from_dict(spec)
            if reference:
                return functools.partial(hash_texts, config=config)
            fast = functools.partial(hash_texts_fast, config=config)
            fast.one = functools.partial(hash_one, config=config)  # type: ignore[attr-defined]  # one row: (ids, counts)
            return fast
        if kind == "hashed-ngrams+wordpiece":
            from gqr.features.hybrid import from_spec as embedding_from_spec

            featurizer = embedding_from_spec(spec, files)
            return featurizer.reference if reference else featurizer
        if kind == "fasttext":
            from gqr.features.fasttext import from_spec as fasttext_from_spec

            ft = fasttext_from_spec(spec, files)
            return ft.reference if reference else ft
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"invalid featurizer spec ({kind}): {exc}") from exc
    raise ManifestError(f"unknown featurizer kind {kind!r}; this gqr knows: hashed-ngrams, hashed-ngrams+wordpiece, fasttext")
