"""fastText's text -> input-row ids, re-implemented in numpy + stdlib (serving tier).

A supervised fastText model averages rows of its input matrix: for every token of a line,
the word's own row (if it is in the vocabulary) and one row per character n-gram of
``<token>``; then one row per word n-gram. ``FastTextFeaturizer`` computes the same ids
(same tokens, same FNV-1a hashing, same bucket arithmetic) and emits them as a
``SparseBatch`` whose values are the averaging weights, so ``X @ input_matrix`` is the
hidden vector fastText computes.

The shared preprocessing ``tokenize`` (casefold, split punctuation off words; the text is already cleaned) builds
both the training file and the serving features, so the two cannot drift.

Input rows that no training line touched keep fastText's random initialisation and carry no
information; the trained model drops them (``kept_buckets``). Their ids still count in the
average, as in fastText, but add nothing to the sum.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from gqr import kernel as _compiled
from gqr.errors import InvalidInputError, ManifestError
from gqr.features.batch import SparseBatch, count_unique
from gqr.features.hashing_fast import count_keys
from gqr.text import SURROGATE

__all__ = ["EOS", "FastTextFeaturizer", "from_spec", "tokenize"]

#: fastText's end-of-sentence token: every line (training or query) ends with it.
EOS = "</s>"
SPEC_VERSION = 1
VOCAB_FILE = "fasttext_vocab.json"
BUCKETS_FILE = "fasttext_buckets.bin"
MAX_BUCKET = 2**24
MAX_VOCAB_BYTES = 256 * 2**20

_FNV_BASIS = 2166136261
_FNV_PRIME = 16777619
_NGRAM_MULT = 116049371
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
# fastText XORs each byte as a *signed* char widened to 32 bits: bytes >= 0x80 sign-extend.
_SIGNED_BYTE = [b | 0xFFFFFF00 if b >= 0x80 else b for b in range(256)]
_CACHE_SIZE = 2**15  # tokens whose ids are kept (serving sees the same words again)
#: the compiled kernel (``gqr.kernel``): ``one`` counts and weighs a line's rows in one call
KERNEL = _compiled.KERNEL


def _word_class() -> str:
    """Regex ranges that add every combining mark (category M) to ``\\w``, so marks stay
    inside their words (Python's ``\\w`` splits e.g. Devanagari at vowel signs).

    A range may bridge letters, digits and unassigned code points (``\\w`` matches the
    first two anyway): that keeps the class to about 130 ranges, which matches fast."""
    ranges: list[tuple[int, int]] = []
    for block in (range(0x20000), range(0xE0000, 0xE1000)):
        start, has_mark = -1, False
        for code in block:
            char = chr(code)
            category = unicodedata.category(char)
            if category[0] == "M" or char.isalnum() or category == "Cn":
                start = code if start < 0 else start
                has_mark = has_mark or category[0] == "M"
                continue
            if start >= 0 and has_mark:
                ranges.append((start, code - 1))
            start, has_mark = -1, False
        if start >= 0 and has_mark:
            ranges.append((start, block[-1]))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


# A token is a run of letters/digits/marks, or any single other visible character
# (punctuation, symbol, emoji). "_" is split off first, so "__label__" is never a token.
_ASCII_TOKEN = re.compile(r"\w+|\S")
_TOKEN = re.compile(f"[\\w{_word_class()}]+|\\S")


def tokenize(text: str) -> list[str]:
    """The one preprocessing for training and serving of text that ``gqr.text.clean`` has
    already cleaned (the router and training do): casefold, then split into word runs and
    single punctuation/symbol characters. Empty text gives no tokens; non-text raises
    ``InvalidInputError``.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"expected text (str), got {type(text).__name__}")
    text = text.casefold().replace("_", " _ ")
    if text.isascii():
        return _ASCII_TOKEN.findall(text)
    return _TOKEN.findall(SURROGATE.sub("\ufffd", text))


def _fnv(data: bytes) -> int:
    h = _FNV_BASIS
    for b in data:
        h = ((h ^ _SIGNED_BYTE[b]) * _FNV_PRIME) & _M32
    return h


def _to_int64(h: int) -> int:
    """A uint32 hash read as fastText's int32, then widened to uint64 (sign extension)."""
    return h | 0xFFFFFFFF00000000 if h & 0x80000000 else h


class FastTextFeaturizer:
    """Texts -> ``SparseBatch`` over the rows of a (compacted) fastText input matrix.

    ``vocab`` lists the words in fastText's id order; ``kept_buckets`` (bool[bucket], or
    None for all) marks the n-gram buckets whose rows the model keeps. Row ``i < len(vocab)``
    is word ``i``; kept bucket ``b`` is row ``len(vocab) + (number of kept buckets < b)``.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        *,
        bucket: int,
        minn: int,
        maxn: int,
        word_ngrams: int,
        kept_buckets: np.ndarray | None = None,
    ) -> None:
        _check_params(bucket, minn, maxn, word_ngrams)
        self.vocab = list(vocab)
        self.word_ids = {w: i for i, w in enumerate(self.vocab)}
        if len(self.word_ids) != len(self.vocab):
            raise ManifestError("fastText vocabulary has duplicate words")
        self.bucket, self.minn, self.maxn, self.word_ngrams = bucket, minn, maxn, word_ngrams
        kept = np.ones(bucket, dtype=bool) if kept_buckets is None else np.asarray(kept_buckets, dtype=bool)
        if kept.shape != (bucket,):
            raise ManifestError(f"kept_buckets must have {bucket} entries, got {kept.shape}")
        self.kept_buckets = kept
        nwords = len(self.vocab)
        # raw fastText row id -> compact row id (-1: dropped, contributes zero)
        row_map = np.full(nwords + bucket, -1, dtype=np.int64)
        row_map[:nwords] = np.arange(nwords)
        row_map[nwords:][kept] = nwords + np.arange(int(kept.sum()))
        self._row_map = row_map
        self.n_rows = nwords + int(kept.sum())
        self._cache: dict[str, tuple[np.ndarray, int]] = {}
        self._fast_cache: dict[str, tuple[np.ndarray, int, int, bytes]] = {}

    # -- fastText's id computation ----------------------------------------------------------
    def char_ngram_ids(self, token: str) -> list[int]:
        """Raw input ids of the character n-grams of ``<token>`` (fastText's subwords)."""
        if self.maxn <= 0 or self.bucket <= 0 or token == EOS:
            return []
        # fastText walks the UTF-8 bytes of "<token>", starting n-grams at character starts
        chars = [[_SIGNED_BYTE[b] for b in c.encode("utf-8")] for c in "<" + token + ">"]
        size, nwords, bucket, minn, maxn = len(chars), len(self.vocab), self.bucket, self.minn, self.maxn
        out: list[int] = []
        for i in range(size):
            h = _FNV_BASIS
            for n in range(1, min(maxn, size - i) + 1):
                for b in chars[i + n - 1]:
                    h = ((h ^ b) * _FNV_PRIME) & _M32
                if n >= minn and not (n == 1 and (i == 0 or i + 1 == size)):
                    out.append(nwords + h % bucket)
        return out

    def _token(self, token: str) -> tuple[np.ndarray, int]:
        """(raw input ids of ``token``: its word row, then its subwords; its word hash)."""
        hit = self._cache.get(token)
        if hit is None:
            wid = self.word_ids.get(token)
            ids = ([] if wid is None else [wid]) + self.char_ngram_ids(token)
            hit = (np.array(ids, dtype=np.int64), _to_int64(_fnv(token.encode("utf-8"))))
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[token] = hit
        return hit

    def line_ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Raw fastText input ids of one line (``tokens`` followed by EOS), with repeats, in
        fastText's order: each token's ids, then the word n-grams."""
        cache = self._cache
        parts: list[np.ndarray] = []
        hashes: list[int] = []
        for token in [*tokens, EOS]:
            hit = cache.get(token) or self._token(token)
            parts.append(hit[0])
            hashes.append(hit[1])
        if self.bucket > 0 and self.word_ngrams > 1 and len(hashes) > 1:
            parts.append(self._word_ngram_ids(np.array(hashes, dtype=np.uint64)))
        return np.concatenate(parts)

    def _word_ngram_ids(self, hashes: np.ndarray) -> np.ndarray:
        """fastText's word n-gram ids: ``h = h * 116049371 + next`` in uint64 arithmetic,
        for n-grams of 2..word_ngrams tokens, ordered by start then length."""
        size, width = hashes.size, self.word_ngrams - 1
        table = np.zeros((size, width), dtype=np.uint64)
        valid = np.zeros((size, width), dtype=bool)
        acc = hashes
        for k in range(1, width + 1):
            if k >= size:
                break
            acc = acc[:-1] * np.uint64(_NGRAM_MULT) + hashes[k:]  # wraps modulo 2**64, as in C++
            table[: size - k, k - 1] = acc
            valid[: size - k, k - 1] = True
        ngrams = table[valid] % np.uint64(self.bucket)
        return ngrams.astype(np.int64) + len(self.vocab)

    # -- batch ------------------------------------------------------------------------------
    def __call__(self, texts: Sequence[str]) -> SparseBatch:
        """The fast path: ``reference(texts)``, with each token's kept (compact) rows cached
        and one numpy pass over the word n-grams and the counts of all lines."""
        n = len(texts)
        if n == 1:
            return self._one(texts[0])
        parts: list[np.ndarray] = []  # compact rows of words and subwords (kept ones only)
        hashes: list[int] = []  # word hashes, lines one after the other
        line_ends = np.zeros((2, n), dtype=np.int64)  # end of each line in parts, in hashes
        sizes = np.zeros(n, dtype=np.int64)  # raw ids of each line, dropped ones included (fastText averages over all)
        cache = self._fast_cache
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            tokens.append(EOS)
            hits = [cache.get(token) or self._fast_token(token) for token in tokens]
            parts += [hit[0] for hit in hits]
            hashes += [hit[2] for hit in hits]
            sizes[row] = sum(hit[1] for hit in hits)
            line_ends[0, row], line_ends[1, row] = len(parts), len(hashes)
        rows, ngrams = self._word_ngrams_fast(np.array(hashes, dtype=np.uint64), line_ends[1])
        sizes += np.bincount(rows, minlength=n)
        compact = self._row_map[ngrams]
        keep = compact >= 0
        parts.append(compact[keep])
        keys = np.concatenate(parts)
        width = max(self.n_rows, 1)
        lengths = np.fromiter(map(len, parts[:-1]), dtype=np.int64, count=len(parts) - 1)
        per_line = np.add.reduceat(lengths, np.concatenate(([0], line_ends[0, :-1]))) if lengths.size else lengths
        line = np.arange(n, dtype=np.int64)
        keys += np.concatenate((np.repeat(line, per_line), rows[keep])) * width
        inv_len = (1.0 / np.maximum(sizes, 1)).astype(np.float32)
        if not keys.size:
            return SparseBatch(keys, np.empty(0, np.float32), keys, n)
        uniq, counts = count_keys(keys)
        segments = uniq // width
        return SparseBatch(uniq - segments * width, counts * inv_len[segments], segments, n)

    def _one(self, text: str) -> SparseBatch:
        """``__call__`` for one line: the serving hot path."""
        ids, values = self.one(text)
        return SparseBatch(ids, values, np.zeros(ids.size, dtype=np.int64), 1)

    def one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values) of ``__call__([text])``'s one row, without the ``SparseBatch``."""
        tokens = tokenize(text)
        tokens.append(EOS)
        cache = self._fast_cache
        hits = [cache.get(token) or self._fast_token(token) for token in tokens]
        size = sum(hit[1] for hit in hits)
        if KERNEL is not None:  # the word n-grams, the count and the weights below, in C
            ids, weights = KERNEL.fasttext_row(
                [hit[3] for hit in hits], [hit[2] for hit in hits], size, self._row_map, len(self.vocab),
                self.bucket, self.word_ngrams,
            )
            return np.frombuffer(ids, dtype=np.int64), np.frombuffer(weights, dtype=np.float32)
        parts = [hit[0] for hit in hits]
        if self.bucket > 0 and self.word_ngrams > 1 and len(hits) > 1:
            hashes = np.array([hit[2] for hit in hits], dtype=np.uint64)
            ngrams = self._word_ngrams_fast(hashes, np.array([hashes.size]))[1]
            size += ngrams.size
            compact = self._row_map[ngrams]
            parts.append(compact[compact >= 0])
        keys = np.concatenate(parts)
        if not keys.size:
            return keys, np.empty(0, np.float32)
        uniq, counts = count_keys(keys)
        counts *= np.float32(1.0 / max(size, 1))
        return uniq, counts

    def _fast_token(self, token: str) -> tuple[np.ndarray, int, int, bytes]:
        """(compact rows of ``token`` that the model keeps, how many raw ids it has, its word
        hash, the rows' bytes for the compiled kernel)."""
        raw, word_hash = self._token(token)
        compact = self._row_map[raw]
        kept = compact[compact >= 0]
        hit = (kept, int(raw.size), word_hash, kept.tobytes())
        kept.setflags(write=False)
        if len(self._fast_cache) >= _CACHE_SIZE:
            self._fast_cache.clear()
        self._fast_cache[token] = hit
        return hit

    def _word_ngrams_fast(self, hashes: np.ndarray, line_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, raw id) of every word n-gram of the lines whose word hashes are concatenated
        in ``hashes`` (line ``i`` ends at ``line_ends[i]``): ``_word_ngram_ids`` for all at once."""
        if self.bucket <= 0 or self.word_ngrams <= 1 or hashes.size < 2:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        one_line = line_ends.size == 1
        line = np.zeros(hashes.size, np.int64) if one_line else np.repeat(np.arange(line_ends.size), np.diff(line_ends, prepend=0))
        lines, ids = [], []
        acc = hashes
        for k in range(1, min(self.word_ngrams, hashes.size)):
            acc = acc[:-1] * np.uint64(_NGRAM_MULT) + hashes[k:]  # wraps modulo 2**64, as in C++
            same = slice(None) if one_line else line[:-k] == line[k:]
            lines.append(line[:-k][same])
            ids.append(acc[same])
        raw = np.concatenate(ids) if len(ids) > 1 else ids[0]
        raw = (raw % np.uint64(self.bucket)).astype(np.int64) + len(self.vocab)
        return (np.concatenate(lines) if len(lines) > 1 else lines[0]), raw

    def reference(self, texts: Sequence[str]) -> SparseBatch:
        """Averaging weights over compact rows: row ``r`` of the result dotted with the input
        matrix is fastText's hidden vector for ``texts[r]``. The specification of ``__call__``."""
        rows = [self.line_ids(tokenize(text)) for text in texts]
        n, width = len(rows), max(self.n_rows, 1)
        sizes = np.array([r.size for r in rows], dtype=np.int64)
        flat = rows[0] if n == 1 else np.concatenate(rows or [np.empty(0, dtype=np.int64)])
        compact = self._row_map[flat]
        keep = compact >= 0
        key = compact[keep] if n == 1 else np.repeat(np.arange(n, dtype=np.int64), sizes)[keep] * width + compact[keep]
        uniq, counts = count_unique(key)
        segments = uniq // width
        inv_len = (1.0 / np.maximum(sizes, 1)).astype(np.float32)
        return SparseBatch(uniq - segments * width, counts.astype(np.float32) * inv_len[segments], segments, n)

    featurize = __call__

    # -- persistence --------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        return {
            "kind": "fasttext",
            "version": SPEC_VERSION,
            "bucket": self.bucket,
            "minn": self.minn,
            "maxn": self.maxn,
            "word_ngrams": self.word_ngrams,
            "n_words": len(self.vocab),
            "n_rows": self.n_rows,
        }

    def files(self) -> dict[str, bytes]:
        vocab = json.dumps(self.vocab, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return {VOCAB_FILE: vocab, BUCKETS_FILE: np.packbits(self.kept_buckets).tobytes()}


def _check_params(bucket: Any, minn: Any, maxn: Any, word_ngrams: Any) -> None:
    for name, value, lo, hi in (
        ("bucket", bucket, 0, MAX_BUCKET),
        ("minn", minn, 0, 32),
        ("maxn", maxn, 0, 32),
        ("word_ngrams", word_ngrams, 1, 16),
    ):
        if type(value) is not int or not lo <= value <= hi:
            raise ManifestError(f"fastText featurizer: {name} must be an integer in [{lo}, {hi}], got {value!r}")
    if maxn > 0 and not 1 <= minn <= maxn:
        raise ManifestError(f"fastText featurizer: need 1 <= minn <= maxn, got minn={minn}, maxn={maxn}")


def from_spec(spec: dict[str, Any], files: dict[str, bytes]) -> FastTextFeaturizer:
    """Rebuild the featurizer from ``FastTextFeaturizer.spec()`` and ``.files()``.

    Everything comes from a possibly untrusted artifact, so each field is checked and
    ``ManifestError`` names the first one that is wrong.
    """
    if not isinstance(spec, dict) or spec.get("kind") != "fasttext":
        raise ManifestError("not a fastText featurizer spec (expected kind 'fasttext')")
    if spec.get("version") != SPEC_VERSION:
        raise ManifestError(
            f"fastText featurizer spec version {spec.get('version')!r} is not supported (this gqr reads "
            f"version {SPEC_VERSION}); re-export the model with this gqr"
        )
    missing = [k for k in ("bucket", "minn", "maxn", "word_ngrams", "n_words", "n_rows") if k not in spec]
    if missing:
        raise ManifestError(f"fastText featurizer spec lacks {missing}")
    _check_params(spec["bucket"], spec["minn"], spec["maxn"], spec["word_ngrams"])
    for name in (VOCAB_FILE, BUCKETS_FILE):
        if not isinstance(files.get(name), (bytes, bytearray)):
            raise ManifestError(f"fastText featurizer needs the artifact file {name!r}; it is missing")
    vocab_bytes = files[VOCAB_FILE]
    if len(vocab_bytes) > MAX_VOCAB_BYTES:
        raise ManifestError(f"{VOCAB_FILE} is larger than {MAX_VOCAB_BYTES} bytes")
    try:
        vocab = json.loads(bytes(vocab_bytes).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{VOCAB_FILE} is not UTF-8 JSON: {exc}") from None
    if not isinstance(vocab, list) or not all(
        isinstance(w, str) and w and not any(c.isspace() for c in w) for w in vocab
    ):
        raise ManifestError(f"{VOCAB_FILE} must be a JSON list of non-empty words without white space")
    if len(vocab) != spec["n_words"]:
        raise ManifestError(f"{VOCAB_FILE} has {len(vocab)} words, the spec says {spec['n_words']!r}")
    bucket = spec["bucket"]
    bits = files[BUCKETS_FILE]
    if len(bits) != (bucket + 7) // 8:
        raise ManifestError(f"{BUCKETS_FILE} must be {(bucket + 7) // 8} bytes for {bucket} buckets, got {len(bits)}")
    unpacked = np.unpackbits(np.frombuffer(bytes(bits), dtype=np.uint8))
    if unpacked[bucket:].any():
        raise ManifestError(f"{BUCKETS_FILE} has bits set past bucket {bucket}")
    featurizer = FastTextFeaturizer(
        vocab,
        bucket=bucket,
        minn=spec["minn"],
        maxn=spec["maxn"],
        word_ngrams=spec["word_ngrams"],
        kept_buckets=unpacked[:bucket].astype(bool),
    )
    if featurizer.n_rows != spec["n_rows"]:
        raise ManifestError(f"fastText featurizer has {featurizer.n_rows} rows, the spec says {spec['n_rows']!r}")
    return featurizer
