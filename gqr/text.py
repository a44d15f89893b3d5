"""Input hygiene: turn whatever the caller passed into clean text, or say why not.

The same function runs at training and at serving time, so both paths see identical text.
"""

from __future__ import annotations

import re
import unicodedata

from gqr.errors import InvalidInputError

__all__ = ["MAX_CHARS", "SURROGATE", "bad_utf8", "clean", "has_words", "is_small_talk", "normalize_for_dedup"]

#: Characters kept from one query; the rest is cut (routing needs the start of a text, and
#: the cap bounds latency and memory for a 1 MB paste).
MAX_CHARS = 4000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACE = re.compile(r"\s+")
#: A lone surrogate: a byte that was not UTF-8 (read with ``surrogateescape``) or a stray
#: ``\\ud800``-style JSON escape. No valid text holds one.
SURROGATE = re.compile("[\ud800-\udfff]")
_NON_WORD = re.compile(r"[\W_]+")


def clean(text: str | bytes, max_chars: int = MAX_CHARS) -> str:
    """Return ``text`` as NFKC-normalised str with control characters removed and runs of
    white space collapsed, cut to ``max_chars`` characters.

    Raises ``InvalidInputError`` for bytes that are not UTF-8, for non-text objects, and
    for text that is empty once cleaned.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"input is not valid UTF-8 (bad byte at position {exc.start}); decode it first"
            ) from None
    if not isinstance(text, str):
        raise InvalidInputError(f"expected text (str or UTF-8 bytes), got {type(text).__name__}")
    if text.isascii():  # no surrogate, and NFKC leaves ASCII as it is
        text = text[: max_chars * 2]
    else:
        surrogate = SURROGATE.search(text)
        if surrogate:
            raise InvalidInputError(
                f"input holds a lone surrogate (U+{ord(surrogate.group()):04X}) at position {surrogate.start()}: "
                "it is not valid Unicode text; decode the original bytes as UTF-8"
            )
        # Cut before the expensive steps so a huge paste costs no more than a long query.
        text = unicodedata.normalize("NFKC", text[: max_chars * 2])
    if not text.isprintable():  # every _CONTROL character is unprintable
        text = _CONTROL.sub(" ", text)
    # runs of white space to one space, none at the ends: _SPACE.sub(" ", text).strip(), faster
    # (re's \s and str.split both test Py_UNICODE_ISSPACE)
    text = " ".join(text.split())[:max_chars]
    if not text:
        raise InvalidInputError("input is empty (or only white space and control characters)")
    return text


def bad_utf8(value: str) -> str | None:
    """A message if ``value`` holds bytes that were not valid UTF-8 (or lone surrogates)."""
    m = SURROGATE.search(value)
    if m is None:
        return None
    ch = ord(m.group())
    what = f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else f"lone surrogate U+{ch:04X}"
    return f"not valid UTF-8 ({what} at character {m.start()})"


def normalize_for_dedup(text: str) -> str:
    """Casefolded text with every run of non-word characters collapsed to one space.

    Used to find the same text across splits and sources (leakage checks, deduplication).
    """
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


_LETTER = re.compile(r"[^\W\d_]")


def has_words(text: str) -> bool:
    """True when ``text`` holds at least one letter of any script (not only digits, symbols,
    emoji or punctuation)."""
    return _LETTER.search(text) is not None


#: Whole messages that ask nothing of any domain: greetings, thanks, tests, yes/no.
SMALL_TALK = frozenset("""
hi|hello|hey|hiya|howdy|yo|sup|greetings|hallo|hola|bonjour|ciao
good morning|good afternoon|good evening|good night|gm|gn
thanks|thank you|thank you so much|thanks a lot|thx|ty|cheers|many thanks
ok|okay|k|kk|cool|great|nice|awesome|sure|alright|got it|understood|noted
yes|no|yeah|yep|nope|nah|maybe|hmm|hm|lol|haha|wow|oops|ah|oh|uh|um
test|testing|test test|test 123|this is a test|just testing|ping|asdf|qwerty|foo|bar|foo bar|lorem ipsum
bye|goodbye|see you|see ya|later|cya|help|hello there|hi there|hey there|how are you|whats up|what's up
""".replace("|", "\n").split("\n")) - {""}
_SMALL_TALK_WORDS = frozenset(w for w in SMALL_TALK if " " not in w)
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def is_small_talk(text: str) -> bool:
    """True for a whole message that is only a greeting, thanks, a test or a yes/no
    ("hello", "Thanks!", "test 123", "ok ok"), case and punctuation aside."""
    folded = text.casefold()
    start, end = 0, len(folded)  # strip non-word characters ([\W_], i.e. not isalnum) at both ends,
    while start < end and not folded[start].isalnum():  # as _EDGES does, without its slow "...$" scan
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    folded = " ".join(folded[start:end].split())
    if len(folded) > 40:
        return False
    if folded in SMALL_TALK:
        return True
    words = folded.split()  # every word small talk; the first that is not ends the test
    return bool(words) and all(_EDGES.sub("", w) in _SMALL_TALK_WORDS for w in words)
