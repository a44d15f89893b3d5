"""Hashed n-gram counts and WordPiece token counts in one ``SparseBatch`` (serving tier).

A row holds two kinds of columns, told apart by the id alone:

* ``id < n_features``: a hashed word/character n-gram and its raw count (``gqr.features.hashing``);
* ``id = n_features + t``: WordPiece token ``t`` of the BERT-uncased vocabulary
  (``gqr.features.wordpiece``) and how often it occurs.

The graph turns the first kind into TF-IDF and the second into the mean of static token
vectors (``gqr.classifiers.hybrid_svm``). Token columns come first in each row, so a graph
can slice them off cheaply. The vocabulary travels with the artifact (``VOCAB_FILE``);
``from_spec`` checks everything in it, since an artifact may come from anyone.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gqr.errors import ManifestError
from gqr.features.batch import SparseBatch, count_unique
from gqr.features.hashing import HashingConfig, hash_texts
from gqr.features.hashing_fast import batch_keys, count_keys, row_ids
from gqr.features.wordpiece import CHARS_VERSION, WordPieceTokenizer, parse_vocab

__all__ = [
    "KIND",
    "VOCAB_FILE",
    "HybridFeaturizer",
    "default_vocab",
    "from_spec",
    "load_table",
    "split_batch",
]

KIND = "hashed-ngrams+wordpiece"
SPEC_VERSION = 1
VOCAB_FILE = "wordpiece_vocab.txt"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEFAULT_VOCAB = RESOURCES / "minilm_vocab.txt"
MAX_VOCAB_BYTES = 16 * 2**20
UNK = "[UNK]"
MAX_WORD_CHARS = 1000  # bounds the longest-match search (BERT uses 100)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_EMPTY_F32 = np.empty(0, dtype=np.float32)


def default_vocab() -> bytes:
    """The shipped all-MiniLM-L6-v2 ``vocab.txt``."""
    return DEFAULT_VOCAB.read_bytes()


def load_table(dims: int) -> np.ndarray:
    """The shipped float16 static token vectors ``[vocab_size, dims]`` (training side)."""
    path = RESOURCES / f"minilm_static_{int(dims)}.npy"
    if not path.is_file():
        shipped = sorted(p.name for p in RESOURCES.glob("minilm_static_*.npy"))
        raise FileNotFoundError(
            f"no static embedding table for dims={dims} (shipped: {shipped or 'none'}); "
            f"build it with: python scripts/build_static_embeddings.py --dims {dims}"
        )
    table = np.load(path, allow_pickle=False)
    if table.dtype != np.float16 or table.ndim != 2 or table.shape[1] != dims:
        raise ValueError(f"{path} must be float16 [vocab, {dims}], got {table.dtype} {table.shape}")
    return table


class HybridFeaturizer:
    """Texts -> ``SparseBatch`` of token counts (ids ``n_features + t``, first in each row)
    followed by hashed n-gram counts (ids ``< n_features``)."""

    def __init__(self, hashing: HashingConfig, vocab: Sequence[str], *, max_word_chars: int = 100) -> None:
        self.hashing = hashing
        self.tokenizer = WordPieceTokenizer(vocab, unk_token=UNK, max_word_chars=max_word_chars)
        self._vocab_bytes = ("\n".join(self.tokenizer.vocab) + "\n").encode("utf-8")

    @property
    def n_features(self) -> int:
        return self.hashing.n_features

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def __call__(self, texts: Sequence[str]) -> SparseBatch:
        """The fast path: ``reference(texts)``, computed with ``hashing_fast`` and one count
        of token and n-gram keys together (tokens sort first: they get the smaller keys)."""
        n = len(texts)
        vocab = self.vocab_size
        if n == 1:  # the serving hot path
            ids, counts = self.one(texts[0])
            return SparseBatch(ids, counts, np.zeros(ids.size, dtype=np.int64), 1)
        if n == 0:
            return SparseBatch(_EMPTY_I64, _EMPTY_F32, _EMPTY_I64, 0)
        # row r: tokens at r * stride + t, n-grams at r * stride + vocab + id; any stride that
        # keeps rows apart sorts the same, and a power of two splits keys by shift and mask
        shift = (vocab + self.n_features - 1).bit_length()
        stride = 1 << shift
        encoded = [self.tokenizer.encode(t) for t in texts]
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=int(sizes.sum()))
        token_keys = np.repeat(np.arange(0, n * stride, stride, dtype=np.int64), sizes) + flat
        keys, counts = count_keys(np.concatenate((token_keys, batch_keys(texts, self.hashing, stride, vocab))))
        rows = keys >> shift
        local = keys & (stride - 1)
        ids = np.where(local < vocab, local + self.n_features, local - vocab)
        return SparseBatch(ids, counts, rows, n)

    def one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values) of ``__call__([text])``'s one row, without the ``SparseBatch``."""
        tokens = self.tokenizer.encode(text)
        vocab = self.vocab_size
        keys = np.concatenate((np.array(tokens, dtype=np.int64) - vocab, row_ids(text, self.hashing)))
        if not keys.size:
            return _EMPTY_I64, _EMPTY_F32
        ids, counts = count_keys(keys)
        ids[: len(set(tokens))] += vocab + self.n_features  # token t: key t - vocab, id n_features + t
        return ids, counts

    def reference(self, texts: Sequence[str]) -> SparseBatch:
        """The specification of ``__call__`` (and its test oracle): one numpy pass per row."""
        n = len(texts)
        hashed = hash_texts(texts, self.hashing)
        if n == 1:
            return self._one(self.tokenizer.encode(texts[0]), hashed)
        encoded = [self.tokenizer.encode(t) for t in texts]
        sizes = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=n)
        flat = np.fromiter((i for e in encoded for i in e), dtype=np.int64, count=int(sizes.sum()))
        width = self.vocab_size
        keys, counts = count_unique(np.repeat(np.arange(n, dtype=np.int64), sizes) * width + flat)
        tok_rows = keys // width
        ids = np.concatenate([keys - tok_rows * width + self.n_features, hashed.ids])
        values = np.concatenate([counts.astype(np.float32), hashed.values])
        segments = np.concatenate([tok_rows, hashed.segments])
        order = np.argsort(segments, kind="stable")  # rows in order, tokens first in each
        return SparseBatch(ids[order], values[order], segments[order], n)

    def _one(self, token_ids: list[int], hashed: SparseBatch) -> SparseBatch:
        counts: dict[int, int] = {}
        for t in token_ids:
            counts[t] = counts.get(t, 0) + 1
        keys = sorted(counts)
        ids = np.concatenate([np.array(keys, dtype=np.int64) + self.n_features, hashed.ids])
        values = np.concatenate([np.array([counts[k] for k in keys], dtype=np.float32), hashed.values])
        return SparseBatch(ids, values, np.zeros(ids.size, dtype=np.int64), 1)

    featurize = __call__

    def spec(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": SPEC_VERSION,
            "hashing": self.hashing.to_dict(),
            "vocab_size": self.vocab_size,
            "vocab_sha256": hashlib.sha256(self._vocab_bytes).hexdigest(),
            "unk_token": UNK,
            "max_word_chars": self.tokenizer.max_word_chars,
            "chars_version": CHARS_VERSION,
        }

    def files(self) -> dict[str, bytes]:
        return {VOCAB_FILE: self._vocab_bytes}


def split_batch(batch: SparseBatch, n_features: int) -> tuple[SparseBatch, SparseBatch]:
    """(hashed n-gram part, token part with ids shifted back to token ids ``0..vocab-1``)."""
    is_token = batch.ids >= n_features
    hashed = SparseBatch(batch.ids[~is_token], batch.values[~is_token], batch.segments[~is_token], batch.n_rows)
    tokens = SparseBatch(
        batch.ids[is_token] - n_features, batch.values[is_token], batch.segments[is_token], batch.n_rows
    )
    return hashed, tokens


def _int(spec: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = spec.get(key)
    if type(value) is not int or not lo <= value <= hi:
        raise ManifestError(f"{KIND} featurizer: {key!r} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _hashing(value: Any) -> HashingConfig:
    if not isinstance(value, dict) or set(value) != {"n_features", "word_ngrams", "char_ngrams"}:
        raise ManifestError(f"{KIND} featurizer: 'hashing' must be an object with n_features, word_ngrams, char_ngrams")
    try:
        return HashingConfig.from_dict(value)
    except ValueError as exc:
        raise ManifestError(f"{KIND} featurizer: invalid 'hashing': {exc}") from None


def from_spec(spec: dict[str, Any], files: dict[str, bytes]) -> HybridFeaturizer:
    """Rebuild the featurizer from ``HybridFeaturizer.spec()`` and ``.files()``.

    Every field comes from a possibly untrusted artifact: each is checked, and
    ``ManifestError`` names the first one that is wrong.
    """
    if not isinstance(spec, dict) or spec.get("kind") != KIND:
        raise ManifestError(f"not a {KIND} featurizer spec")
    if spec.get("version") != SPEC_VERSION:
        raise ManifestError(
            f"{KIND} featurizer spec version {spec.get('version')!r} is not supported (this gqr reads "
            f"version {SPEC_VERSION}); re-export the model with this gqr"
        )
    if spec.get("chars_version") != CHARS_VERSION:
        raise ManifestError(
            f"{KIND} featurizer: character tables version {spec.get('chars_version')!r} differs from this "
            f"gqr's ({CHARS_VERSION}); re-export the model with this gqr"
        )
    if spec.get("unk_token") != UNK:
        raise ManifestError(f"{KIND} featurizer: unk_token must be {UNK!r}, got {spec.get('unk_token')!r}")
    hashing = _hashing(spec.get("hashing"))
    vocab_size = _int(spec, "vocab_size", 1, 1_000_000)
    max_word_chars = _int(spec, "max_word_chars", 1, MAX_WORD_CHARS)
    digest = spec.get("vocab_sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise ManifestError(f"{KIND} featurizer: 'vocab_sha256' must be 64 lowercase hex digits")
    data = files.get(VOCAB_FILE)
    if not isinstance(data, (bytes, bytearray)):
        raise ManifestError(f"{KIND} featurizer needs the artifact file {VOCAB_FILE!r} (bytes); it is missing")
    if len(data) > MAX_VOCAB_BYTES:
        raise ManifestError(f"{VOCAB_FILE} is larger than {MAX_VOCAB_BYTES} bytes")
    if hashlib.sha256(bytes(data)).hexdigest() != digest:
        raise ManifestError(f"{VOCAB_FILE} does not match the spec's vocab_sha256; re-export the model")
    try:
        vocab = parse_vocab(bytes(data), unk_token=UNK)
    except ValueError as exc:
        raise ManifestError(f"{VOCAB_FILE}: {exc}") from None
    if len(vocab) != vocab_size:
        raise ManifestError(f"{VOCAB_FILE} has {len(vocab)} tokens, the spec says {vocab_size}")
    featurizer = HybridFeaturizer(hashing, vocab, max_word_chars=max_word_chars)
    if featurizer.files()[VOCAB_FILE] != bytes(data):
        raise ManifestError(f"{VOCAB_FILE} must be one token per line, each ending in a newline")
    return featurizer
