"""Text -> hashed n-gram counts: the reference kernel, in numpy, shared by training and serving.

Every word n-gram and character n-gram of a query is a substring of one normalised string,
so all of them are hashed the same way: a polynomial hash over Unicode code points, computed
for all substrings at once with prefix sums (no Python loop over n-grams). The hash does not
depend on Python's salted ``hash``, so ids are stable across processes and machines.

Only this step runs outside ONNX. Everything learned (IDF weights, the classifier) lives in
the exported graph, whose inputs are the sparse triplets of ``SparseBatch``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from gqr.features.batch import SparseBatch, count_unique
from gqr.text import MAX_CHARS

__all__ = ["HASHED_NGRAMS", "HashingConfig", "hash_texts"]

_PRIME = np.uint64(2_147_483_647)  # 2**31 - 1: every product of two residues fits in uint64
_BASE = np.uint64(1_000_003)
_MAX_LEN = 4 * MAX_CHARS + 8  # normalised string: each char may gain a space on both sides
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGIT = re.compile(r"\d")
#: The featurizer kind (in manifests) of plain hashed n-gram counts.
HASHED_NGRAMS = "hashed-ngrams"
_CACHED_LEN = 1024  # strings up to this many code points reuse their n-gram spans
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_U64 = np.empty(0, dtype=np.uint64)


def _powers(base: int, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    acc = 1
    for i in range(n):
        out[i] = acc
        acc = acc * base % int(_PRIME)
    return out


_POW = _powers(int(_BASE), _MAX_LEN + 1)
_INV_POW = _powers(pow(int(_BASE), int(_PRIME) - 2, int(_PRIME)), _MAX_LEN + 1)


@dataclass(frozen=True)
class HashingConfig:
    """How text becomes hashed n-gram ids. Stored in the artifact manifest."""

    n_features: int = 2**18
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)

    def __post_init__(self) -> None:
        if not 2**8 <= self.n_features <= 2**24:
            raise ValueError("n_features must be between 2**8 and 2**24")
        for lo, hi in (self.word_ngrams, self.char_ngrams):
            if not 0 <= lo <= hi <= 8:
                raise ValueError("n-gram ranges must satisfy 0 <= low <= high <= 8 (0 disables)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["word_ngrams"] = list(self.word_ngrams)
        d["char_ngrams"] = list(self.char_ngrams)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HashingConfig:
        """The config from a manifest or a parameter dict; strict about types (a manifest is
        untrusted input): raises ``ValueError`` for anything but integers and [low, high] pairs."""
        def integer(value: Any, what: str) -> int:
            if type(value) is not int:
                raise ValueError(f"{what} must be an integer, got {value!r}")
            return value

        def pair(key: str) -> tuple[int, int]:
            value = d.get(key)
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError(f"{key} must be a [low, high] pair, got {value!r}")
            return integer(value[0], key), integer(value[1], key)

        return cls(integer(d.get("n_features"), "n_features"), pair("word_ngrams"), pair("char_ngrams"))


def _normalise(text: str) -> tuple[str, list[str]]:
    tokens = _TOKEN.findall(_DIGIT.sub("0", text.casefold()))
    return " " + " ".join(tokens) + " ", tokens


@lru_cache(maxsize=512)
def _char_spans(n: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, kinds) of every character n-gram, lo <= n-gram length <= hi, of a
    string of ``n`` code points; depends on ``n`` only, so cached for the common lengths."""
    parts = [np.arange(n - k + 1, dtype=np.int64) for k in range(max(lo, 1), hi + 1) if hi and n >= k]
    if not parts:
        return _EMPTY_I64, _EMPTY_I64, _EMPTY_U64
    starts = np.concatenate(parts)
    kinds = np.concatenate([np.full(p.size, n - p.size + 1, dtype=np.uint64) for p in parts])
    spans = (starts, starts + kinds.astype(np.int64), kinds)
    for array in spans:
        array.setflags(write=False)  # shared between calls
    return spans


def _row_ids(text: str, config: HashingConfig) -> np.ndarray:
    s, tokens = _normalise(text)
    s = s[:_MAX_LEN]
    cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = cp.size
    # prefix[i] = sum_{j<i} cp[j] * B^j  (mod p); substring hash [a, b) = (prefix[b]-prefix[a]) / B^a
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(cp * _POW[:n] % _PRIME, out=prefix[1:])
    prefix %= _PRIME
    char_spans = _char_spans if n <= _CACHED_LEN else _char_spans.__wrapped__
    a, b, kind = char_spans(n, *config.char_ngrams)
    lo, hi = config.word_ngrams
    if hi and tokens:
        spaces = np.flatnonzero(cp == 32)  # token t spans (spaces[t] + 1, spaces[t + 1])
        tok_start = spaces[:-1] + 1
        tok_end = spaces[1:]
        m = tok_start.size
        starts, ends, kinds = [a], [b], [kind]
        for k in range(max(lo, 1), hi + 1):
            if m >= k:
                starts.append(tok_start[: m - k + 1])
                ends.append(tok_end[k - 1 :])
                kinds.append(np.full(m - k + 1, 100 + k, dtype=np.uint64))
        a, b, kind = np.concatenate(starts), np.concatenate(ends), np.concatenate(kinds)
    if not a.size:
        return _EMPTY_I64
    h = (prefix[b] + _PRIME - prefix[a]) % _PRIME
    h = h * _INV_POW[a] % _PRIME
    h = (h * np.uint64(31) + kind) % _PRIME
    return (h % np.uint64(config.n_features)).astype(np.int64)


def _count_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, counts = count_unique(ids)
    return uniq, counts.astype(np.float32)


def hash_texts(texts: Sequence[str], config: HashingConfig) -> SparseBatch:
    """Hash cleaned texts into a ``SparseBatch`` of raw n-gram counts."""
    if len(texts) == 1:  # the serving hot path
        ids, counts = _count_ids(_row_ids(texts[0], config))
        return SparseBatch(ids, counts, np.zeros(ids.size, dtype=np.int64), 1)
    ids_list: list[np.ndarray] = []
    counts_list: list[np.ndarray] = []
    seg_list: list[np.ndarray] = []
    for row, text in enumerate(texts):
        uniq, counts = _count_ids(_row_ids(text, config))
        ids_list.append(uniq)
        counts_list.append(counts)
        seg_list.append(np.full(uniq.size, row, dtype=np.int64))
    if not ids_list:
        return SparseBatch(_EMPTY_I64, np.empty(0, dtype=np.float32), _EMPTY_I64, 0)
    return SparseBatch(
        np.concatenate(ids_list), np.concatenate(counts_list), np.concatenate(seg_list), len(texts)
    )


