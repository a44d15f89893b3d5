"""The fast path of ``gqr.features.hashing``: the same ids and counts, with fewer numpy calls.

``hashing.hash_texts`` is the specification: one row at a time, readable. This module computes
the same polynomial hashes, rearranged so that numpy's per-call overhead (about a microsecond,
which is what a short query costs) is paid as few times as possible:

* one query: the residues ``B**-a * 31`` are one table, so a substring hash is three gathers,
  a subtraction, a product and a modulo; the spans of a string of ``n`` code points are cached
  per ``n``, those of ``m`` words per ``m``; counting is one sort and a few vector operations;
* a batch: all rows are hashed in one pass over their concatenated code points (powers of
  ``B`` are taken at each row's own positions, so every hash equals the row-alone one), and
  ``(row, id)`` pairs are counted with one sort.

Where the C kernel (``gqr.kernel``) was built at install (optional, so installing needs no
compiler), it normalises casefolded text and hashes its n-grams in one pass over the
code points, and numpy only counts the keys; without it, the numpy code below computes the same keys.
``tests/test_fast_features.py`` and ``scripts/feature_parity.py`` check both against the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType

import numpy as np

from gqr import kernel
from gqr.features.batch import SparseBatch
from gqr.features.hashing import _CACHED_LEN, _INV_POW, _MAX_LEN, _POW, _PRIME, HashingConfig, _normalise

__all__ = ["KERNEL", "batch_keys", "count_keys", "hash_one", "hash_texts_fast", "row_ids"]

_P = int(_PRIME)
_POW_I64 = _POW.astype(np.int64)
_INV31 = (_INV_POW * np.uint64(31) % _PRIME).astype(np.int64)  # B**-a * 31 (mod p)
_POW_AT = np.concatenate(([0], _POW_I64))  # B**j at index j + 1 (row_ids' shifted code points)
_SHORT = 2048  # up to this many code points, sum(cp * B**j) fits int64 before one modulo
_WORD_KIND = 100  # word k-grams have kind 100 + k, character k-grams kind k (as in the reference)
_CHUNK_CHARS = 1 << 18  # a batch is hashed in slices of about this many code points (bounds memory)
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_F32 = np.empty(0, dtype=np.float32)
for _array in (_POW_I64, _INV31, _POW_AT):
    _array.setflags(write=False)

#: the compiled kernel, if it cuts texts where the reference does; None: numpy computes the keys
KERNEL = kernel.KERNEL if kernel.KERNEL is not None and kernel.KERNEL.MAX_LEN == _MAX_LEN else None


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


@lru_cache(maxsize=1024)
def _char_plan(n: int, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """(starts, ends, kinds) of the character n-grams of a string of ``n`` code points."""
    ks = [k for k in range(max(lo, 1), hi + 1) if n >= k]
    if not ks:
        return _EMPTY_I64, _EMPTY_I64, _EMPTY_I64
    starts = np.concatenate([np.arange(n - k + 1, dtype=np.int64) for k in ks])
    kinds = np.concatenate([np.full(n - k + 1, k, dtype=np.int64) for k in ks])
    return _frozen(starts, starts + kinds, kinds)


@lru_cache(maxsize=1024)
def _row_kinds(n: int, spaces: int, config: HashingConfig) -> np.ndarray:
    """The kinds of a row's character n-grams, then of its word n-grams (``row_ids``' order)."""
    char_plan = _char_plan if n <= _CACHED_LEN else _char_plan.__wrapped__
    kinds = np.concatenate((char_plan(n, *config.char_ngrams)[2], _word_plan(spaces, *config.word_ngrams)[2]))
    return _frozen(kinds)[0]


@lru_cache(maxsize=1024)
def _word_plan(spaces: int, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """For a row with ``spaces`` word-separating spaces: (index of the space before the
    n-gram, index of the space after it, kind) of each word n-gram."""
    words = spaces - 1
    ks = [k for k in range(max(lo, 1), hi + 1) if words >= k]
    if not ks:
        return _EMPTY_I64, _EMPTY_I64, _EMPTY_I64
    before = np.concatenate([np.arange(words - k + 1, dtype=np.int64) for k in ks])
    kinds = np.concatenate([np.full(words - k + 1, _WORD_KIND + k, dtype=np.int64) for k in ks])
    return _frozen(before, before + kinds - _WORD_KIND, kinds)


def _prefix(cp: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """``prefix[i] = sum_{j<i} cp[j] * powers[j] (mod p)``, with ``prefix[0] = 0``."""
    prefix = np.zeros(cp.size + 1, dtype=np.int64)
    terms = cp.astype(np.int64)  # one cast, not a mixed-type (buffered) product
    terms *= powers
    if cp.size > _SHORT:
        terms %= _P
    np.cumsum(terms, out=prefix[1:])
    prefix %= _P
    return prefix


def _finish(prefix: np.ndarray, spans: np.ndarray, kind: np.ndarray, inverse: np.ndarray, n_features: int) -> np.ndarray:
    """The hashed id of every span ``[a, b)``, given as ``spans = [all a | all b]`` (one gather)
    and ``inverse = _INV31[a's position in its row]``: the reference's formula, rearranged."""
    ends = prefix[spans]
    m = spans.size // 2
    h = ends[m:] - ends[:m]
    h *= inverse  # |h| < 2**62: no overflow
    h += kind  # the reference's (h * 31 + kind) mod p, with 31 folded into the table
    h %= _P  # numpy's % is Python's: non-negative for a positive divisor
    if n_features & (n_features - 1) == 0:
        h &= n_features - 1
    else:
        h %= n_features
    return h


def row_ids(text: str, config: HashingConfig) -> np.ndarray:
    """Every n-gram id of one text, with repeats (``hashing._row_ids``, in another order)."""
    if KERNEL is not None:
        (clo, chi), (wlo, whi) = config.char_ngrams, config.word_ngrams
        return np.frombuffer(KERNEL.keys([text.casefold()], config.n_features, clo, chi, wlo, whi, 0, 0), dtype=np.int64)
    s, tokens = _normalise(text)
    return _numpy_row_ids(s[:_MAX_LEN], tokens, config)


def _numpy_row_ids(s: str, tokens: list[str], config: HashingConfig) -> np.ndarray:
    """``row_ids`` of the normalised, cut string ``s`` with numpy."""
    # a leading code point 0 makes the product its own prefix array: prefix[0] = 0 * _POW_AT[0]
    prefix = np.frombuffer(("\0" + s).encode("utf-32-le"), dtype=np.uint32)
    n = prefix.size - 1
    spaces = (prefix == 32).nonzero()[0]  # positions + 1 of the word-separating spaces
    prefix = np.multiply(prefix, _POW_AT[: n + 1])  # int64: cp[j] * B**j at j + 1, as _prefix
    if n > _SHORT:
        prefix %= _P
    np.cumsum(prefix, out=prefix)
    prefix %= _P
    char_plan = _char_plan if n <= _CACHED_LEN else _char_plan.__wrapped__
    a, b, kind = char_plan(n, *config.char_ngrams)
    lo, hi = config.word_ngrams
    if hi and tokens:
        before, after, _ = _word_plan(spaces.size, lo, hi)
        if before.size:
            ends = spaces[after]
            ends -= 1
            spans = np.concatenate((a, spaces[before], b, ends))
            kinds = _row_kinds(n, spaces.size, config) if n <= _CACHED_LEN else _row_kinds.__wrapped__(n, spaces.size, config)
            return _finish(prefix, spans, kinds, _INV31[spans[: spans.size // 2]], config.n_features)
    if not a.size:
        return _EMPTY_I64
    return _finish(prefix, np.concatenate((a, b)), kind, _INV31[a], config.n_features)


def hash_one(text: str, config: HashingConfig) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ids, float32 counts) of one text."""
    ids = row_ids(text, config)
    if not ids.size:
        return _EMPTY_I64, _EMPTY_F32
    return count_keys(ids)


def batch_keys(texts: Sequence[str], config: HashingConfig, stride: int, offset: int = 0) -> np.ndarray:
    """``row * stride + offset + id`` for every n-gram of every text, with repeats (rows
    numbered from 0); ``stride`` >= ``offset + config.n_features`` keeps rows apart."""
    if KERNEL is not None:
        return _kernel_keys(KERNEL, texts, config, stride, offset)
    keys: list[np.ndarray] = []
    strings: list[str] = []
    has_tokens: list[bool] = []
    size, first = 0, 0
    for row, text in enumerate(texts):
        s, tokens = _normalise(text)
        s = s[:_MAX_LEN]
        strings.append(s)
        has_tokens.append(bool(tokens))
        size += len(s)
        if size >= _CHUNK_CHARS or row == len(texts) - 1:
            rows, ids = _chunk_ids(strings, np.array(has_tokens), config)
            rows += first
            rows *= stride
            rows += offset
            keys.append(rows + ids)
            first, size = row + 1, 0
            strings, has_tokens = [], []
    if not keys:
        return _EMPTY_I64
    return np.concatenate(keys) if len(keys) > 1 else keys[0]


def _kernel_keys(compiled: ModuleType, texts: Sequence[str], config: HashingConfig, stride: int, offset: int) -> np.ndarray:
    """``batch_keys`` by the compiled kernel, which normalises too: casefolded texts in, keys
    out, in slices of about ``_CHUNK_CHARS`` code points (bounds memory)."""
    (clo, chi), (wlo, whi) = config.char_ngrams, config.word_ngrams
    keys: list[np.ndarray] = []
    folded: list[str] = []
    size, first = 0, 0
    for row, text in enumerate(texts):
        folded.append(text.casefold())
        size += min(len(folded[-1]), _MAX_LEN)
        if size >= _CHUNK_CHARS or row == len(texts) - 1:
            chunk = compiled.keys(folded, config.n_features, clo, chi, wlo, whi, stride, first * stride + offset)
            keys.append(np.frombuffer(chunk, dtype=np.int64))
            first, size, folded = row + 1, 0, []
    if not keys:
        return _EMPTY_I64
    return np.concatenate(keys) if len(keys) > 1 else keys[0]


def _chunk_ids(strings: list[str], has_tokens: np.ndarray, config: HashingConfig) -> tuple[np.ndarray, np.ndarray]:
    """(row, id) of every n-gram of ``strings`` (normalised and cut), hashed in one pass."""
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    cp = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32)
    total = cp.size
    row_of = np.repeat(np.arange(len(strings), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    position = np.arange(total, dtype=np.int64)
    local = position - (ends - lengths)[row_of]  # position within its own row
    prefix = _prefix(cp, _POW_I64[local])
    to_end = ends[row_of] - position  # code points from here to the end of the row
    starts, stops, kinds = [], [], []
    lo, hi = config.char_ngrams
    for k in range(max(lo, 1), hi + 1) if hi else ():
        a = np.flatnonzero(to_end >= k)
        starts.append(a)
        stops.append(a + k)
        kinds.append(np.full(a.size, k, dtype=np.int64))
    lo, hi = config.word_ngrams
    if hi:
        spaces = np.flatnonzero(cp == 32)
        space_row = row_of[spaces]
        for k in range(max(lo, 1), min(hi, spaces.size - 1) + 1):
            same = (space_row[:-k] == space_row[k:]) & has_tokens[space_row[k:]]
            a = spaces[:-k][same] + 1
            starts.append(a)
            stops.append(spaces[k:][same])
            kinds.append(np.full(a.size, _WORD_KIND + k, dtype=np.int64))
    if not starts:
        return _EMPTY_I64, _EMPTY_I64
    spans, kind = np.concatenate(starts + stops), np.concatenate(kinds)
    a = spans[: spans.size // 2]
    return row_of[a], _finish(prefix, spans, kind, _INV31[local[a]], config.n_features)


def count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``keys`` and their float32 counts (sorts ``keys`` in place)."""
    keys.sort()
    edges = np.empty(keys.size + 1, dtype=bool)
    edges[0] = edges[-1] = True
    np.not_equal(keys[1:], keys[:-1], out=edges[1:-1])
    bounds = edges.nonzero()[0]  # not np.flatnonzero, nor np.diff below: each a µs of Python
    return keys[bounds[:-1]], (bounds[1:] - bounds[:-1]).astype(np.float32)


def hash_texts_fast(texts: Sequence[str], config: HashingConfig) -> SparseBatch:
    """``hashing.hash_texts``: the same ``SparseBatch`` (ids, counts and row layout)."""
    n = len(texts)
    if n == 1:
        ids, counts = hash_one(texts[0], config)
        return SparseBatch(ids, counts, np.zeros(ids.size, dtype=np.int64), 1)
    keys = batch_keys(texts, config, config.n_features)
    if not keys.size:
        return SparseBatch(_EMPTY_I64, _EMPTY_F32, _EMPTY_I64, n)
    uniq, counts = count_keys(keys)
    rows = uniq // config.n_features
    return SparseBatch(uniq - rows * config.n_features, counts, rows, n)
