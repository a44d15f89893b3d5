"""fastText backend: numpy featurizer == fastText's own ids, ONNX == Python, safe reload."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fasttext")
ort = pytest.importorskip("onnxruntime")

import fasttext_pybind  # installed with fasttext-wheel

from gqr.classifiers.base import Backend
from gqr.classifiers.fasttext import FastTextClassifier, _replicate
from gqr.errors import InvalidInputError, ManifestError, NotFittedError
from gqr.features import from_spec as any_from_spec
from gqr.features.fasttext import BUCKETS_FILE, VOCAB_FILE, FastTextFeaturizer, from_spec, tokenize

PARAMS = {"dim": 16, "epoch": 20, "lr": 0.5, "bucket": 2**14, "min_count": 2}
FT_EOS_EPSILON = 1e-5  # fastText's predict reports exp(log(p + 1e-5))


@pytest.fixture(scope="module")
def trained(small_corpus):  # type: ignore[no-untyped-def]
    """(classifier, the raw fastText model it was copied from), seed 0."""
    data = small_corpus.fit_data(balanced=True)
    clf = FastTextClassifier(**PARAMS)
    model, tokens = clf._train(data)
    clf._copy_out(model.f, tokens, data.n_classes)
    return clf, model


def _ft_probs(f, texts: list[str], n_classes: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """fastText's own probabilities through the binding (the wrapper's predict breaks on NumPy 2)."""
    out = np.zeros((len(texts), n_classes))
    for r, text in enumerate(texts):
        for prob, label in f.predict(" ".join(tokenize(text)) + "\n", n_classes, 0.0, "strict"):
            out[r, int(label.removeprefix("__label__"))] = prob - FT_EOS_EPSILON
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _full_featurizer(f) -> FastTextFeaturizer:  # type: ignore[no-untyped-def]
    args = f.getArgs()
    vocab = f.getVocab("strict")[0]
    return FastTextFeaturizer(vocab, bucket=args.bucket, minn=args.minn, maxn=args.maxn, word_ngrams=args.wordNgrams)


def _retrained(small_corpus, **params):  # type: ignore[no-untyped-def]
    model, _ = FastTextClassifier(**{**PARAMS, **params})._train(small_corpus.fit_data(balanced=True))
    return model


def test_tokenize_is_the_shared_preprocessing() -> None:
    assert tokenize("  Hello, WORLD!! 😀 ") == ["hello", ",", "world", "!", "!", "😀"]
    assert tokenize("Straße") == ["strasse"]
    assert tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # combining marks stay in the word
    assert tokenize("__label__3 x") == ["_", "_", "label", "_", "_", "3", "x"]  # no label spoofing
    assert tokenize("bad \ud800 surrogate") == ["bad", "\ufffd", "surrogate"]  # uncleaned text never crashes it
    assert tokenize(" ") == [] and tokenize("") == []
    with pytest.raises(InvalidInputError):
        tokenize(b"bytes")  # type: ignore[arg-type]


def test_fit_trains_a_useful_model_on_numpy2(trained, small_corpus) -> None:  # type: ignore[no-untyped-def]
    clf = FastTextClassifier(**PARAMS).fit(small_corpus.fit_data(balanced=True))
    assert isinstance(clf, Backend) and clf.name == "fasttext"
    logits = clf.decision_function(small_corpus.val_texts)
    assert logits.shape == (len(small_corpus.val_texts), len(small_corpus.classes)) and logits.dtype == np.float32
    assert clf.val_accuracy_ is not None and clf.val_accuracy_ > 0.7, clf.val_accuracy_
    # fit == _train + _copy_out (what the other tests inspect), and the seed makes it repeatable
    ref, _ = trained
    np.testing.assert_array_equal(clf.input_matrix_, ref.input_matrix_)
    np.testing.assert_array_equal(clf.output_matrix_, ref.output_matrix_)
    assert clf.featurizer_.vocab == ref.featurizer_.vocab  # type: ignore[union-attr]


def test_seed_changes_the_model(trained, small_corpus) -> None:  # type: ignore[no-untyped-def]
    other = FastTextClassifier(**PARAMS).fit(small_corpus.fit_data(seed=1, balanced=True))
    assert not np.array_equal(other.output_matrix_, trained[0].output_matrix_)


def test_subword_ids_match_fasttext(trained, parity_texts) -> None:  # type: ignore[no-untyped-def]
    _, model = trained
    full = _full_featurizer(model.f)
    words = sorted({w for t in parity_texts[:60] for w in tokenize(t)})[:400] + ["žluťoučký", "😀", "日本語"]
    for word in words:
        expected = model.f.getSubwords(word, "strict")[1]
        wid = full.word_ids.get(word)
        assert sorted(([] if wid is None else [wid]) + full.char_ngram_ids(word)) == sorted(expected), word


def test_hidden_vectors_match_fasttext_on_every_input_id(small_corpus, parity_texts) -> None:  # type: ignore[no-untyped-def]
    """With a random N(0, 1) input matrix every id (words, char n-grams, word n-grams, EOS,
    repeats) shows in the hidden vector, so equality means the ids are exactly fastText's.
    A prime bucket count exposes every bit of the hashes; minn=1 the single-character rule."""
    f = _retrained(small_corpus, bucket=10007, word_ngrams=3, minn=1, maxn=4, epoch=1).f
    dim = f.getArgs().dim
    full = _full_featurizer(f)
    rng = np.random.default_rng(0)
    f.setMatrices(rng.normal(size=(full.n_rows, dim)).astype(np.float32), np.array(f.getOutputMatrix()))
    matrix = np.array(f.getInputMatrix())
    hidden = np.asarray(full(parity_texts).to_csr(full.n_rows) @ matrix)
    for r, text in enumerate(parity_texts):
        vec = fasttext_pybind.Vector(dim)
        f.getSentenceVector(vec, " ".join(tokenize(text)) + "\n")
        # fastText adds its rows one by one in float32, then scales: replay that exactly
        ids = full.line_ids(tokenize(text))
        acc = np.zeros(dim, dtype=np.float32)
        for i in ids:
            acc += matrix[i]
        np.testing.assert_allclose(
            acc * np.float32(1.0 / len(ids)), np.array(vec), rtol=1e-6, atol=1e-7, err_msg=text[:80]
        )
        # the featurizer's weights give the same average (summed with fewer roundings)
        exact = matrix[ids].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(hidden[r], exact, rtol=1e-5, atol=1e-6, err_msg=text[:80])


def test_probabilities_match_fasttext_on_training_texts(trained, small_corpus) -> None:  # type: ignore[no-untyped-def]
    """Every id of a training text has a trained (kept) row: exact parity with fastText."""
    clf, model = trained
    texts = small_corpus.train_texts[::7]
    probs = _softmax(clf.decision_function(texts).astype(np.float64))
    expected = _ft_probs(model.f, texts, len(small_corpus.classes))
    np.testing.assert_allclose(probs, expected, atol=2e-6)


def test_probabilities_match_fasttext_without_untrained_rows(trained, small_corpus, parity_texts) -> None:  # type: ignore[no-untyped-def]
    """On unseen text, the model equals fastText whose never-updated (random) rows are zeroed."""
    clf, _ = trained
    model = _retrained(small_corpus)
    f = model.f
    full = _full_featurizer(f)
    matrix = np.array(f.getInputMatrix())
    nwords = len(full.vocab)
    dropped = np.flatnonzero(~clf.featurizer_.kept_buckets) + nwords  # type: ignore[union-attr]
    assert dropped.size > 0  # the small corpus leaves buckets untouched
    matrix[dropped] = 0.0
    f.setMatrices(matrix, np.array(f.getOutputMatrix()))
    probs = _softmax(clf.decision_function(parity_texts).astype(np.float64))
    # 5e-5: fastText sums the 16k rows of the 4000-char text one by one in float32
    np.testing.assert_allclose(probs, _ft_probs(f, parity_texts, len(small_corpus.classes)), atol=5e-5)
    assert clf.input_matrix_.shape[0] == full.n_rows - dropped.size  # type: ignore[union-attr]


def test_onnx_matches_decision_function(trained, small_corpus, parity_texts) -> None:  # type: ignore[no-untyped-def]
    clf, _ = trained
    texts = parity_texts + small_corpus.val_texts + ["", "   "]
    session = ort.InferenceSession(clf.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    featurize = from_spec(clf.featurizer_spec(), clf.featurizer_files())
    (onnx_logits,) = session.run(["logits"], featurize(texts).onnx_feeds())
    python_logits = clf.decision_function(texts)
    np.testing.assert_allclose(onnx_logits, python_logits, atol=1e-5)
    assert (onnx_logits.argmax(axis=1) == python_logits.argmax(axis=1)).all()


def test_graph_stores_one_number_a_class_per_input_row(trained, small_corpus) -> None:  # type: ignore[no-untyped-def]
    """The mean and the output layer are folded: the graph's table is [rows, classes], not
    [rows, dim] plus the output matrix, and it still gives fastText's logits."""
    clf, _ = trained
    model = clf.to_onnx()
    shapes = sorted(tuple(t.dims) for t in model.graph.initializer if len(t.dims) == 2)
    assert shapes == [(clf.input_matrix_.shape[0], len(small_corpus.classes))]  # type: ignore[union-attr]
    assert clf.dim > len(small_corpus.classes)  # so the folded table is the smaller one
    texts = small_corpus.val_texts[:50]
    hidden_logits = clf.hidden(texts) @ clf.output_matrix_.T  # type: ignore[union-attr]
    np.testing.assert_allclose(clf.decision_function(texts), hidden_logits, atol=1e-5)


def test_from_spec_round_trip(trained, parity_texts) -> None:  # type: ignore[no-untyped-def]
    clf, _ = trained
    spec = json.loads(json.dumps(clf.featurizer_spec()))
    for rebuilt in (from_spec(spec, clf.featurizer_files()), any_from_spec(spec, clf.featurizer_files())):
        a, b = clf.featurize(parity_texts), rebuilt(parity_texts)
        for name in ("ids", "values", "segments"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.n_rows == b.n_rows == len(parity_texts)
    batch = clf.featurize(parity_texts)
    assert batch.ids.max() < clf.input_matrix_.shape[0] == spec["n_rows"]  # type: ignore[union-attr]
    np.testing.assert_allclose(np.bincount(batch.segments, weights=batch.values) <= 1 + 1e-6, True)


def _mutations():  # type: ignore[no-untyped-def]
    yield "wrong kind", lambda s, f: s.update(kind="hashed-ngrams")
    yield "future version", lambda s, f: s.update(version=99)
    yield "bucket as text", lambda s, f: s.update(bucket="16384")
    yield "bucket as bool", lambda s, f: s.update(word_ngrams=True)
    yield "negative bucket", lambda s, f: s.update(bucket=-1)
    yield "minn > maxn", lambda s, f: s.update(minn=6)
    yield "missing field", lambda s, f: s.pop("n_rows")
    yield "wrong word count", lambda s, f: s.update(n_words=s["n_words"] + 1)
    yield "wrong row count", lambda s, f: s.update(n_rows=s["n_rows"] - 1)
    yield "missing vocab", lambda s, f: f.pop(VOCAB_FILE)
    yield "vocab not json", lambda s, f: f.update({VOCAB_FILE: b"\xff\xfe garbage"})
    yield "vocab not a list", lambda s, f: f.update({VOCAB_FILE: b'{"a": 1}'})
    yield "vocab with numbers", lambda s, f: f.update({VOCAB_FILE: b"[1, 2]"})
    yield "vocab with spaces", lambda s, f: f.update({VOCAB_FILE: json.dumps(["a b"] * s["n_words"]).encode()})
    yield "duplicate words", lambda s, f: f.update({VOCAB_FILE: json.dumps(["x"] * s["n_words"]).encode()})
    yield "short bitmap", lambda s, f: f.update({BUCKETS_FILE: f[BUCKETS_FILE][:-1]})
    yield "bitmap as text", lambda s, f: f.update({BUCKETS_FILE: "ff"})


@pytest.mark.parametrize("name,mutate", list(_mutations()), ids=[n for n, _ in _mutations()])
def test_garbage_spec_is_rejected(trained, name, mutate) -> None:  # type: ignore[no-untyped-def]
    clf, _ = trained
    spec, files = dict(clf.featurizer_spec()), dict(clf.featurizer_files())
    mutate(spec, files)
    with pytest.raises(ManifestError):
        from_spec(spec, files)
    with pytest.raises(ManifestError):
        any_from_spec(spec, files)


def test_use_before_fit_raises_not_fitted() -> None:
    clf = FastTextClassifier()
    for call in (
        lambda: clf.decision_function(["hello"]),
        lambda: clf.featurize(["hello"]),
        clf.to_onnx,
        clf.featurizer_spec,
        clf.featurizer_files,
    ):
        with pytest.raises(NotFittedError):
            call()


def test_sample_weight_is_applied_by_resampling(small_corpus) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(_replicate(3, np.array([2.0, 0.0, 1.0]), rng), [0, 0, 2])
    counts = np.bincount(_replicate(4000, np.r_[np.full(2000, 3.0), np.full(2000, 1.0)], rng) >= 2000)
    assert abs(counts[0] / counts[1] - 3.0) < 0.2 and abs(counts.sum() - 4000) < 100
    data = small_corpus.fit_data(balanced=True)
    data.sample_weight = -data.sample_weight  # type: ignore[operator]
    with pytest.raises(InvalidInputError):
        FastTextClassifier(**PARAMS).fit(data)
