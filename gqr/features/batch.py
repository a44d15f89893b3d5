"""``SparseBatch``: the sparse rows every featurizer returns and every router graph reads."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from gqr.errors import require

__all__ = ["SparseBatch", "count_unique", "gather_rows"]


@dataclass(frozen=True)
class SparseBatch:
    """A batch of sparse rows as flat triplets: row ``segments[i]`` has ``values[i]`` at
    column ``ids[i]``. Ids are unique within a row. This is the ONNX graphs' input."""

    ids: np.ndarray  # int64 [nnz]
    values: np.ndarray  # float32 [nnz]
    segments: np.ndarray  # int64 [nnz]
    n_rows: int

    def with_values(self, values: np.ndarray) -> SparseBatch:
        return SparseBatch(self.ids, values.astype(np.float32), self.segments, self.n_rows)

    def to_csr(self, n_features: int) -> Any:
        """The batch as a ``scipy.sparse.csr_matrix`` (training side only)."""
        csr_matrix = require("scipy.sparse", "train", "Training").csr_matrix

        return csr_matrix(
            (self.values, (self.segments, self.ids)), shape=(self.n_rows, n_features), dtype=np.float32
        )

    def row_lengths(self) -> np.ndarray:
        return np.bincount(self.segments, minlength=self.n_rows)

    @cached_property
    def indptr(self) -> np.ndarray:
        """Row ``r`` is ``ids[indptr[r]:indptr[r + 1]]`` (rows are stored in order); computed once."""
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(self.row_lengths(), out=indptr[1:])
        return indptr

    def take(self, rows: np.ndarray) -> SparseBatch:
        """The sub-batch of ``rows`` (in that order)."""
        idx, offsets = gather_rows(self.indptr, np.asarray(rows, dtype=np.int64))
        segs = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(np.append(offsets, idx.size)))
        return SparseBatch(self.ids[idx], self.values[idx], segs, len(rows))

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, values)`` as ``[n_rows, max_len]`` arrays; padding is id 0 with value 0."""
        if self.n_rows == 1 and self.ids.size:  # one row: no padding, no copy
            return self.ids.reshape(1, -1), self.values.reshape(1, -1)
        indptr = self.indptr
        width = max(int(np.diff(indptr).max()) if self.n_rows else 0, 1)
        cols = np.arange(self.ids.size, dtype=np.int64) - indptr[self.segments]
        ids = np.zeros((self.n_rows, width), dtype=np.int64)
        values = np.zeros((self.n_rows, width), dtype=np.float32)
        ids[self.segments, cols] = self.ids
        values[self.segments, cols] = self.values
        return ids, values

    def onnx_feeds(self) -> dict[str, np.ndarray]:
        """The graph inputs: padded ``ids`` and ``values`` (see ``gqr.features.graph``)."""
        ids, values = self.padded()
        return {"ids": ids, "values": values}


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR rows given by ``indptr``: the flat positions of ``rows`` (in that order) and
    where each row starts among them, without a Python loop over rows."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = np.zeros(len(rows), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    idx = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return idx, offsets


def count_unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``keys`` and their int64 counts: ``np.unique(keys, return_counts=True)``
    with fewer temporaries (11 vs 14 µs for a 200-id query; it runs once per query)."""
    keys = np.sort(keys)
    first = np.empty(keys.size, dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(starts.size, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1:] = keys.size - starts[-1:]
    return keys[starts], counts
