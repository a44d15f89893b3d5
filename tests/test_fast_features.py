"""The fast featurizers equal their Python references (the specification): same ids, same
row layout, same values, on real benchmark rows and on hostile text, with the compiled kernel
(``gqr.kernel``) and with its numpy fallback. ``scripts/feature_parity.py`` runs the same comparison on
every benchmark row."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections import Counter

import numpy as np
import pytest

from gqr import Router, kernel, rules
from gqr.features import SparseBatch, from_spec, hashing_fast
from gqr.features import fasttext as fasttext_features
from gqr.features.fasttext import FastTextFeaturizer, tokenize
from gqr.features.hashing import HashingConfig, hash_texts
from gqr.features.hybrid import HybridFeaturizer, default_vocab
from gqr.features.wordpiece import parse_vocab
from gqr.text import clean


def _random_unicode(rng: random.Random, n: int) -> str:
    """Code points from many scripts, emoji, combining marks and spaces (no surrogates)."""
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x3000, 0x30FF),
              (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0xE0000, 0xE007F)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)) if rng.random() > 0.15 else " ")
    return "".join(out)


HOSTILE = [
    "😀🔥💯", "👨‍👩‍👧‍👦 family 👍🏽 🏳️‍🌈 🇸🇰🇩🇪", "Zalgo Z̷̢̛a̶l̵g̴o̸ e\u0301", "مرحبا بالعالم ١٢٣٤",
    "नमस्ते दुनिया क्या हाल है", "สวัสดีครับ", "日本語のテキストです。", "안녕하세요 세계", "ＡＢＣ１２３ ｆｕｌｌ",
    "İstanbul ǅ ﬁ ß ΣΑΣ ŉ", "a\u200bb\u2028c\u0085d\ufeffe", "?!...", "12345 6789", "_", "__label__x _ __",
    "a b c d e f g h", "x", "x" * 5000, "word " * 3000, "\U000e0041\U000e0042 tags",
    *(_random_unicode(random.Random(seed), 400) for seed in range(6)),
]
MEGABYTE = ["word " * 200_000, "é" * 500_000]


@pytest.fixture(params=["compiled", "numpy"])
def kernel_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled kernel, then with the Python and numpy code it falls back to
    (in every module that uses the kernel)."""
    if request.param == "numpy":
        for module in (hashing_fast, fasttext_features, rules):
            monkeypatch.setattr(module, "KERNEL", None)
    elif kernel.KERNEL is None:
        pytest.skip("the compiled kernel is not built here (no C compiler at install)")
    return str(request.param)


def test_the_kernel_is_built_where_ci_asks_for_it() -> None:
    """CI sets GQR_REQUIRE_KERNEL=1: a broken build must not pass as the numpy fallback."""
    if os.environ.get("GQR_REQUIRE_KERNEL") != "1":
        pytest.skip("GQR_REQUIRE_KERNEL is not set")
    assert kernel.KERNEL is not None and hashing_fast.KERNEL is kernel.KERNEL


def test_without_the_kernel_gqr_says_so_once_and_hashes_with_numpy(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "gqr._kernel", None)  # as when it was never built
    with caplog.at_level(logging.WARNING, logger="gqr"):
        assert kernel.load() is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "compiled kernel is not built" in caplog.text


def test_gqr_kernel_0_turns_the_kernel_off_quietly(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GQR_KERNEL", "0")
    with caplog.at_level(logging.WARNING, logger="gqr"):
        assert kernel.load() is None
    assert not caplog.records
    monkeypatch.setenv("GQR_KERNEL", "1")
    assert (kernel.load() is None) == (kernel.KERNEL is None)


def test_a_stale_kernel_build_is_not_used(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An editable install keeps the kernel it built; after a change of ``_kernel.c`` that
    build no longer computes what this gqr expects."""
    monkeypatch.setattr(kernel, "VERSION", -1)
    with caplog.at_level(logging.WARNING, logger="gqr"):
        assert kernel.load() is None
    assert "built from other sources" in caplog.text


def test_the_kernel_refuses_what_the_numpy_path_refuses() -> None:
    compiled = hashing_fast.KERNEL
    if compiled is None:
        pytest.skip("the compiled kernel is not built here")
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        compiled.keys(["fine", "caf\udce9"], 256, 2, 5, 1, 2, 0, 0)
    with pytest.raises(TypeError, match="expected str, got bytes"):
        compiled.keys(["ok", b"bytes"], 256, 2, 5, 1, 2, 0, 0)
    with pytest.raises(TypeError):
        compiled.keys("not a list", 256, 2, 5, 1, 2, 0, 0)
    with pytest.raises(ValueError, match="n_features"):
        compiled.keys(["ok"], 0, 2, 5, 1, 2, 0, 0)
    assert compiled.keys([], 256, 2, 5, 1, 2, 0, 0) == bytearray()


def test_the_kernel_splits_every_code_point_as_the_re_module_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel normalises in C: its digit, word and space classes must be ``re``'s on every
    code point ("a" + c gives one token "ac", "a0", "a", or two, "a" and c, by c's class).
    Compared with the numpy path, whose equality with the reference the tests above show."""
    compiled = hashing_fast.KERNEL
    if compiled is None:
        pytest.skip("the compiled kernel is not built here")
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [" ".join("a" + chr(c) for c in code_points[i : i + 1024]) for i in range(0, len(code_points), 1024)]
    config = HashingConfig(word_ngrams=(1, 1), char_ngrams=(1, 1))
    in_c = hashing_fast.hash_texts_fast(texts, config)
    monkeypatch.setattr(hashing_fast, "KERNEL", None)
    _same(in_c, hashing_fast.hash_texts_fast(texts, config))


def _same(fast: SparseBatch, ref: SparseBatch) -> None:
    assert fast.n_rows == ref.n_rows
    assert np.array_equal(fast.ids, ref.ids) and fast.ids.dtype == ref.ids.dtype
    assert np.array_equal(fast.segments, ref.segments)
    assert fast.values.dtype == ref.values.dtype == np.float32
    assert np.abs(fast.values - ref.values).max(initial=0.0) <= 1e-6


def _texts(parity_texts: list[str]) -> list[str]:
    return parity_texts + HOSTILE + [clean(t) for t in parity_texts + HOSTILE]


@pytest.mark.parametrize(
    "config",
    [HashingConfig(2**17), HashingConfig(char_ngrams=(0, 0)), HashingConfig(word_ngrams=(0, 0), char_ngrams=(3, 3)),
     HashingConfig(2**8, (1, 8), (1, 8)), HashingConfig(5000, (0, 3), (0, 1))],
    ids=["shipped", "words-only", "char-3-only", "wide-ranges", "not-a-power-of-two"],
)
def test_hashing_fast_equals_reference(kernel_path: str, parity_texts: list[str], config: HashingConfig) -> None:
    texts = _texts(parity_texts)
    _same(hashing_fast.hash_texts_fast(texts, config), hash_texts(texts, config))
    for text in texts:
        _same(hashing_fast.hash_texts_fast([text], config), hash_texts([text], config))


def test_hashing_fast_on_megabyte_input_and_empty_batches(kernel_path: str) -> None:
    config = HashingConfig(2**17)
    for text in MEGABYTE:
        _same(hashing_fast.hash_texts_fast([text], config), hash_texts([text], config))
    _same(hashing_fast.hash_texts_fast(MEGABYTE + ["x"], config), hash_texts(MEGABYTE + ["x"], config))
    _same(hashing_fast.hash_texts_fast([], config), hash_texts([], config))


def test_batch_hashed_in_several_chunks_equals_reference(
    kernel_path: str, parity_texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing_fast, "_CHUNK_CHARS", 500)  # a chunk every few rows
    texts = _texts(parity_texts)
    _same(hashing_fast.hash_texts_fast(texts, HashingConfig()), hash_texts(texts, HashingConfig()))


def test_invalid_utf8_is_refused_alike(kernel_path: str) -> None:
    """A lone surrogate (bytes that were not UTF-8, read with surrogateescape) is not text;
    ``clean`` refuses it before serving, and both hashers raise the same error."""
    bad = b"caf\xe9 ok".decode("utf-8", "surrogateescape")
    for featurize in (hash_texts, hashing_fast.hash_texts_fast):
        with pytest.raises(UnicodeEncodeError):
            featurize([bad], HashingConfig())
        with pytest.raises(UnicodeEncodeError):
            featurize(["fine", bad], HashingConfig())


def test_hybrid_fast_equals_reference(kernel_path: str, parity_texts: list[str]) -> None:
    featurizer = HybridFeaturizer(HashingConfig(2**12), parse_vocab(default_vocab()))
    texts = _texts(parity_texts)
    _same(featurizer(texts), featurizer.reference(texts))
    for text in texts + MEGABYTE[:1]:
        _same(featurizer([text]), featurizer.reference([text]))
    _same(featurizer([]), featurizer.reference([]))


def _fasttext(texts: list[str], word_ngrams: int) -> FastTextFeaturizer:
    """A featurizer whose vocabulary is the commonest tokens of ``texts``; half the buckets
    are dropped, as in a trained model, so dropped ids must still count in the average."""
    vocab = [w for w, _ in Counter(t for text in texts for t in tokenize(text)).most_common(300)]
    kept = np.random.default_rng(0).random(2**12) < 0.5
    return FastTextFeaturizer(vocab, bucket=2**12, minn=2, maxn=5, word_ngrams=word_ngrams, kept_buckets=kept)


@pytest.mark.parametrize("word_ngrams", [1, 2, 3])
def test_fasttext_fast_equals_reference(kernel_path: str, parity_texts: list[str], word_ngrams: int) -> None:
    texts = _texts(parity_texts)
    featurizer = _fasttext(texts, word_ngrams)
    _same(featurizer(texts), featurizer.reference(texts))
    for text in texts:
        _same(featurizer([text]), featurizer.reference([text]))


def test_from_spec_gives_the_fast_path_or_the_reference() -> None:
    spec = {"kind": "hashed-ngrams", **HashingConfig(2**12).to_dict()}
    fast, ref = from_spec(spec, {}), from_spec(spec, {}, reference=True)
    assert fast.func is hashing_fast.hash_texts_fast and ref.func is hash_texts  # type: ignore[attr-defined]


def test_shipped_router_decides_the_same_on_both_paths(kernel_path: str, parity_texts: list[str]) -> None:
    fast = Router.load()
    reference = Router.load()
    reference.scorer.featurize = reference.scorer.featurize.reference  # type: ignore[attr-defined]
    texts = parity_texts + HOSTILE + MEGABYTE + [b"caf\xe9", b"\xff\xfe", ""]
    pairs = list(zip(fast.route_batch(texts), reference.route_batch(texts)))
    pairs += [(fast.route(text), reference.route(text)) for text in texts[:40] + HOSTILE]
    for a, b in pairs:
        assert (a.route, a.reason, a.uncertain, a.detail) == (b.route, b.reason, b.uncertain, b.detail)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
        assert a.scores == pytest.approx(b.scores, abs=1e-6)
    assert {a.reason.value for a, _ in pairs} >= {"in_domain", "invalid_input"}


def test_fasttext_row_refuses_inconsistent_input() -> None:
    compiled = kernel.KERNEL
    if compiled is None:
        pytest.skip("the compiled kernel is not built here")
    row_map = np.arange(20, dtype=np.int64)
    ids, weights = compiled.fasttext_row([np.array([3, 1, 3], np.int64).tobytes()], [7], 4, row_map, 10, 10, 2)
    assert np.frombuffer(ids, np.int64).tolist() == [1, 3]
    assert np.frombuffer(weights, np.float32).tolist() == pytest.approx([0.25, 0.5])
    with pytest.raises(ValueError, match="inconsistent"):
        compiled.fasttext_row([b""], [1, 2], 0, row_map, 10, 10, 2)
    with pytest.raises(TypeError, match="int64"):
        compiled.fasttext_row([np.array([1], np.int64)], [1], 1, row_map, 10, 10, 2)
    with pytest.raises(TypeError, match="int64"):
        compiled.fasttext_row([b""], [1], 1, row_map.astype(np.int32), 10, 10, 2)
    with pytest.raises(ValueError, match="shorter"):
        compiled.fasttext_row([b"", b""], [1, 2], 0, row_map[:5], 10, 10, 2)
    with pytest.raises(OverflowError):
        compiled.fasttext_row([b""], [-1], 0, row_map, 10, 10, 2)
