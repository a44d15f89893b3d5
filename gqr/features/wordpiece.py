"""BERT-uncased WordPiece tokenisation (all-MiniLM-L6-v2's), stdlib only (serving tier).

Three steps, each matching the Hugging Face ``tokenizers`` pipeline of the model
(``BertNormalizer`` lowercase + strip accents + clean text + CJK, ``BertPreTokenizer``,
``WordPiece``):

1. normalise character by character: drop control/format/private-use characters and
   combining marks, turn white space into " ", lowercase and strip accents;
2. split into words at spaces, with every punctuation mark and CJK ideograph on its own;
3. greedy longest-match WordPiece, continuation pieces prefixed ``##``; a word with an
   unmatched rest (or longer than ``max_word_chars``) becomes ``[UNK]``.

The character tables of step 1-2 are data, not Python's ``unicodedata`` (whose Unicode
version changes with the interpreter): ``scripts/build_static_embeddings.py`` derives them
from the reference tokenizer, checks this module against it on every code point, and writes
``resources/bert_uncased_chars.json``. They are read on first use, so importing is free.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["CHARS_FILE", "CHARS_VERSION", "WordPieceTokenizer", "parse_vocab"]

CHARS_FILE = Path(__file__).resolve().parent.parent / "resources" / "bert_uncased_chars.json"
#: bumped whenever the character tables change meaning (stored in artifact specs)
CHARS_VERSION = 1
CONTINUATION = "##"
MAX_VOCAB = 1_000_000
MAX_TOKEN_CHARS = 1000
_CACHE_SIZE = 1 << 16  # words whose pieces are kept (queries repeat words)
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3


class _Tables(NamedTuple):
    drop: re.Pattern[str]  # characters removed
    mapping: dict[int, str]  # characters replaced (lowercase, accents stripped, space)
    split: re.Pattern[str]  # words, or one punctuation mark / CJK ideograph
    ascii_mapping: dict[int, str | None]  # the same three steps for ASCII-only text
    ascii_split: re.Pattern[str]
    printable_is_lower: bool  # ascii_mapping is str.lower on printable ASCII (U+0020-U+007E)


@functools.cache
def _tables() -> _Tables:
    data = json.loads(CHARS_FILE.read_text(encoding="utf-8"))
    if data.get("version") != CHARS_VERSION:
        raise RuntimeError(f"{CHARS_FILE} has version {data.get('version')!r}, expected {CHARS_VERSION}; reinstall gqr")
    mapping = {int(cp): out for cp, out in data["map"].items()}
    for cp in data["space"]:
        mapping[cp] = " "
    if data.get("hangul") == "decompose":
        for cp in range(_HANGUL_FIRST, _HANGUL_LAST + 1):
            mapping[cp] = _hangul(cp)
    isolated = data["punctuation"] + data["cjk"]
    split = re.compile(f"[{_char_class(isolated)}]|[^ {_char_class(isolated)}]+")
    ascii_mapping: dict[int, str | None] = {cp: out for cp, out in mapping.items() if cp < 128}
    ascii_mapping.update({cp: None for a, b in data["drop"] for cp in range(a, min(b, 127) + 1)})
    ascii_isolated = [[a, min(b, 127)] for a, b in isolated if a < 128]
    ascii_split = re.compile(f"[{_char_class(ascii_isolated)}]|[^ {_char_class(ascii_isolated)}]+")
    drop = re.compile(f"[{_char_class(data['drop'])}]+")
    printable_is_lower = all(ascii_mapping.get(cp, chr(cp)) == chr(cp).lower() for cp in range(0x20, 0x7F))
    return _Tables(drop, mapping, split, ascii_mapping, ascii_split, printable_is_lower)


def _hangul(cp: int) -> str:
    """Canonical decomposition of a precomposed Hangul syllable into conjoining jamo."""
    index = cp - _HANGUL_FIRST
    lead, vowel, tail = index // 588, index % 588 // 28, index % 28
    return chr(0x1100 + lead) + chr(0x1161 + vowel) + (chr(0x11A7 + tail) if tail else "")


def _char_class(ranges: list[list[int]]) -> str:
    """``[[first, last], ...]`` code point ranges as the body of a regex character class."""
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges
    )


def parse_vocab(data: bytes, *, unk_token: str = "[UNK]") -> list[str]:
    """A ``vocab.txt`` (one token per line, id = line number) as a list of tokens.

    Raises ``ValueError`` naming the first problem: not UTF-8, an empty or duplicate token,
    white space inside a token, a token over ``MAX_TOKEN_CHARS``, no ``unk_token``, too many lines.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"vocabulary is not UTF-8 (bad byte at {exc.start})") from None
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens or len(tokens) > MAX_VOCAB:
        raise ValueError(f"vocabulary must hold 1..{MAX_VOCAB} tokens, got {len(tokens)}")
    for i, token in enumerate(tokens):
        if not token or len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ValueError(f"vocabulary line {i + 1} is empty, too long or contains white space: {token[:40]!r}")
    if len(set(tokens)) != len(tokens):
        raise ValueError("vocabulary has duplicate tokens")
    if unk_token not in tokens:
        raise ValueError(f"vocabulary lacks the unknown token {unk_token!r}")
    return tokens


class WordPieceTokenizer:
    """Text -> WordPiece token ids of a BERT-uncased vocabulary (``vocab[i]`` has id ``i``).

    >>> tok = WordPieceTokenizer(["[UNK]", "un", "##aff", "##able", ","])
    >>> tok.encode("Un-affable, UNAFFABLE")
    [1, 0, 0, 4, 1, 2, 3]
    """

    def __init__(self, vocab: Sequence[str], *, unk_token: str = "[UNK]", max_word_chars: int = 100) -> None:
        self.vocab = list(vocab)
        self.token_ids = {token: i for i, token in enumerate(self.vocab)}
        if len(self.token_ids) != len(self.vocab):
            raise ValueError("vocabulary has duplicate tokens")
        if unk_token not in self.token_ids:
            raise ValueError(f"vocabulary lacks the unknown token {unk_token!r}")
        self.unk_id = self.token_ids[unk_token]
        self.max_word_chars = max_word_chars
        # longest piece in characters (without "##"): bounds the longest-match search
        self._longest = max(len(t) - len(CONTINUATION) if t.startswith(CONTINUATION) else len(t) for t in self.vocab)
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def words(self, text: str) -> list[str]:
        """The normalised words and isolated punctuation/CJK characters of ``text``."""
        tables = _tables()
        if text.isascii():
            if tables.printable_is_lower and text.isprintable():  # as translate, 20x faster
                return tables.ascii_split.findall(text.lower())
            return tables.ascii_split.findall(text.translate(tables.ascii_mapping))
        return tables.split.findall(tables.drop.sub("", text).translate(tables.mapping))

    def word_ids(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match pieces of one normalised word (``(unk_id,)`` if it fails)."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        ids = self._pieces(word)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _pieces(self, word: str) -> tuple[int, ...]:
        n = len(word)
        if n > self.max_word_chars:
            return (self.unk_id,)
        lookup = self.token_ids.get
        out: list[int] = []
        start = 0
        while start < n:
            end = min(n, start + self._longest)
            found = None
            while end > start:
                found = lookup(word[start:end] if start == 0 else CONTINUATION + word[start:end])
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)
            out.append(found)
            start = end
        return tuple(out)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without ``[CLS]``/``[SEP]``."""
        ids: list[int] = []
        cache = self._cache
        for word in self.words(text):
            hit = cache.get(word)
            ids.extend(hit if hit is not None else self.word_ids(word))
        return ids

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, unk_id={self.unk_id})"
