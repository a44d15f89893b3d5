"""The contract every classifier backend meets.

A backend maps cleaned texts to logits over ``n_classes`` output columns (the router decides
what the columns mean). It owns two things that must agree exactly:

* ``featurize(texts) -> SparseBatch``: numpy only, run at training *and* serving time;
  ``featurizer_spec()`` is the JSON that lets ``gqr.features.from_spec`` rebuild it
  without the training libraries;
* ``to_onnx()``: a graph with the signature of ``gqr.features.graph`` (inputs padded ``ids`` and
  ``values``, output ``logits``) that computes ``decision_function`` from ``featurize``'s output.

``fit`` stores learned state in attributes ending in ``_`` and returns ``self``; using a
backend before ``fit`` raises ``gqr.errors.NotFittedError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gqr.errors import InvalidInputError, NotFittedError
from gqr.features import HASHED_NGRAMS, HashingConfig, SparseBatch
from gqr.features.hashing_fast import hash_texts_fast

__all__ = ["Backend", "FitData", "HashedNgrams", "check_fitted"]


@dataclass
class FitData:
    """What a backend trains on. ``y`` holds column indices in ``[0, n_classes)``.

    ``val_texts``/``val_y`` is held-out data for early stopping (may be empty).
    ``sample_weight`` balances classes (None = uniform).
    """

    texts: Sequence[str]
    y: np.ndarray
    n_classes: int
    val_texts: Sequence[str] = ()
    val_y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    sample_weight: np.ndarray | None = None
    seed: int = 0

    def weights(self) -> np.ndarray | None:
        """``sample_weight`` as float64 with mean 1 (``None`` stays ``None``); raises
        ``InvalidInputError`` unless it holds one finite, non-negative weight per text, not all 0."""
        if self.sample_weight is None:
            return None
        w = np.asarray(self.sample_weight, dtype=np.float64)
        if w.shape != (len(self.texts),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise InvalidInputError("sample_weight must hold one finite, non-negative weight per text (not all zero)")
        return w / w.mean()


@runtime_checkable
class Backend(Protocol):
    name: str

    def fit(self, data: FitData) -> Backend: ...

    def featurize(self, texts: Sequence[str]) -> SparseBatch: ...

    def decision_function(self, texts: Sequence[str]) -> np.ndarray: ...

    def featurizer_spec(self) -> dict[str, Any]: ...

    def featurizer_files(self) -> dict[str, bytes]: ...

    def to_onnx(self) -> Any: ...


def check_fitted(backend: Any, attribute: str) -> None:
    """Raise ``NotFittedError`` unless ``backend`` has the learned ``attribute``."""
    if getattr(backend, attribute, None) is None:
        raise NotFittedError(
            f"{type(backend).__name__} is not fitted yet: call fit(...) first, or load a trained artifact"
        )


class HashedNgrams:
    """The featurizer half of a backend over plain hashed n-gram counts: ``hashing`` is a
    ``HashingConfig``, its dict form (as stored in a manifest's params), or ``None`` for the
    class's ``default_hashing``."""

    hashing: HashingConfig | dict[str, Any] | None
    default_hashing = HashingConfig()

    @property
    def _hashing(self) -> HashingConfig:
        if isinstance(self.hashing, dict):
            return HashingConfig.from_dict(self.hashing)
        return self.hashing or self.default_hashing

    def featurize(self, texts: Sequence[str]) -> SparseBatch:
        """Raw n-gram counts: the fast path, equal to ``gqr.features.hash_texts`` (the reference)."""
        return hash_texts_fast(texts, self._hashing)

    def featurizer_spec(self) -> dict[str, Any]:
        return {"kind": HASHED_NGRAMS, **self._hashing.to_dict()}

    def featurizer_files(self) -> dict[str, bytes]:
        return {}
