"""The shortcuts in text cleaning, WordPiece and the rules give what the long way gives."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import pytest

from gqr.errors import InvalidInputError
from gqr.features.wordpiece import _tables
from gqr.rules import abusive_folded, match_abusive, match_unsafe, unsafe_folded
from gqr.text import _CONTROL, SURROGATE, clean

_SPACE = re.compile(r"\s+")


def _clean_long_way(text: str, max_chars: int = 4000) -> str:
    """``clean`` for str input as it was written before its shortcuts."""
    surrogate = SURROGATE.search(text)
    if surrogate:
        raise InvalidInputError("surrogate")
    text = unicodedata.normalize("NFKC", text[: max_chars * 2])
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()[:max_chars]
    if not text:
        raise InvalidInputError("empty")
    return text


def _outcome(fn, text: str, max_chars: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return fn(text, max_chars)
    except InvalidInputError:
        return "<invalid>"


def test_every_control_character_is_unprintable() -> None:
    """``clean`` skips the control-character pass for printable text."""
    hits = [chr(c) for c in range(sys.maxunicode + 1) if _CONTROL.match(chr(c))]
    assert len(hits) > 60 and not any(ch.isprintable() for ch in hits)


def test_clean_equals_the_long_way() -> None:
    rng = random.Random(0)
    pool = [chr(c) for c in [*range(0x250), *range(0x2000, 0x2070), 0x3000, 0xFEFF, 0xD800, 0x1F600, 0xFF21, 0xFB01]]
    texts = ["".join(rng.choice(pool) for _ in range(rng.randrange(25))) for _ in range(20_000)]
    texts += ["  Can my\tlandlord\n keep my deposit?  ", "ＡＢＣ\u200b  x", "\x00\x1f\x7f", "a\u2028b\u00a0c"]
    for text in texts:
        for max_chars in (3, 4000):
            assert _outcome(clean, text, max_chars) == _outcome(_clean_long_way, text, max_chars), repr(text)


def test_printable_ascii_lowercases_as_the_wordpiece_table() -> None:
    tables = _tables()
    assert tables.printable_is_lower
    printable = "".join(chr(c) for c in range(0x20, 0x7F))
    assert printable.lower() == printable.translate(tables.ascii_mapping)


@pytest.mark.parametrize("text", ["How do I launder money?", "you IDIOT", "what is money laundering", "İstanbul idiot"])
def test_rules_on_folded_text(text: str) -> None:
    assert unsafe_folded(text.casefold()) == match_unsafe(text)
    assert abusive_folded(text.casefold()) == match_abusive(text)
