from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gqr.errors import InvalidInputError
from gqr.text import MAX_CHARS, clean, normalize_for_dedup


def test_clean_normalises_space_and_controls() -> None:
    assert clean("  Can my\tlandlord\x00 keep\n\nmy deposit?  ") == "Can my landlord keep my deposit?"


def test_clean_accepts_utf8_bytes_and_nfkc() -> None:
    assert clean("Ａｈｏｊ máš".encode()) == "Ahoj máš"


@pytest.mark.parametrize("bad", ["", "   \n\t", "\x00\x01\x7f", b"", b"\xff\xfe\xfa"])
def test_clean_rejects_empty_and_invalid(bad: str | bytes) -> None:
    with pytest.raises(InvalidInputError):
        clean(bad)


def test_invalid_utf8_message_names_position() -> None:
    with pytest.raises(InvalidInputError, match="position 2"):
        clean(b"ok\xff")


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="surrogate"):
        clean("abc\ud800def")
    with pytest.raises(InvalidInputError, match="surrogate"):
        clean(b"caf\xe9".decode("utf-8", "surrogateescape"))


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="int"):
        clean(42)  # type: ignore[arg-type]


def test_huge_text_is_capped() -> None:
    out = clean("word " * 300_000)  # 1.5 MB
    assert len(out) <= MAX_CHARS
    assert len(out) == MAX_CHARS  # cut to exactly the cap, not shorter
    assert out == ("word " * 300_000)[:MAX_CHARS]  # the start of the text is kept
    assert clean("x" * (MAX_CHARS + 1)) == "x" * MAX_CHARS
    assert clean("x" * MAX_CHARS) == "x" * MAX_CHARS  # at the cap nothing is cut
    assert clean("y" * 10, max_chars=4) == "yyyy"


def test_emoji_only_is_kept() -> None:
    assert clean("😀🔥") == "😀🔥"


def test_dedup_key_ignores_case_and_punctuation() -> None:
    assert normalize_for_dedup("Can a lease last FOREVER?!") == normalize_for_dedup("can a lease last forever")


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_clean_never_crashes(value: str | bytes) -> None:
    try:
        out = clean(value)
    except InvalidInputError:
        return
    assert out and out == out.strip() and len(out) <= MAX_CHARS
