from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from gqr.features import HashingConfig, SparseBatch, fit_idf, hash_texts, hashing, tfidf_weights
from gqr.features.graph import GraphBuilder
from gqr.text import clean


def test_same_text_same_ids_and_row_layout() -> None:
    cfg = HashingConfig()
    b = hash_texts(["Can my landlord keep my deposit?", "Can my landlord keep my deposit?"], cfg)
    first, second = b.ids[b.segments == 0], b.ids[b.segments == 1]
    assert np.array_equal(first, second)
    assert len(np.unique(first)) == len(first)  # ids unique within a row
    assert b.n_rows == 2 and (b.values >= 1).all()


def test_hash_is_stable_across_processes() -> None:
    """Python's str hash is salted per process; ours must not be."""
    code = (
        "from gqr.features import HashingConfig, hash_texts;"
        "print(hash_texts(['Ahoj, ako sa máš? 😀'], HashingConfig()).ids.sum())"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    here = str(hash_texts(["Ahoj, ako sa máš? 😀"], HashingConfig()).ids.sum())
    assert runs == {here + "\n"}


def test_unicode_words_are_features() -> None:
    """Non-ASCII tokens must not vanish (a known skl2onnx TF-IDF pitfall)."""
    cfg = HashingConfig(char_ngrams=(0, 0))
    a = hash_texts(["čučoriedka"], cfg)
    b = hash_texts(["cucoriedka"], cfg)
    assert a.ids.size == 1 and not np.array_equal(a.ids, b.ids)
    assert hash_texts(["日本語"], cfg).ids.size == 1
    assert hash_texts(["😀"], cfg).ids.size == 1


def test_digits_are_folded() -> None:
    cfg = HashingConfig()
    assert np.array_equal(hash_texts(["in 2019"], cfg).ids, hash_texts(["in 1987"], cfg).ids)


def test_empty_batch() -> None:
    b = hash_texts([], HashingConfig())
    assert b.n_rows == 0 and b.ids.size == 0


def test_config_validation_and_round_trip() -> None:
    cfg = HashingConfig(n_features=2**16, word_ngrams=(1, 3), char_ngrams=(3, 5))
    assert HashingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        HashingConfig(n_features=3)


def test_tfidf_rows_are_unit_length(parity_texts: list[str]) -> None:
    cfg = HashingConfig()
    counts = hash_texts([clean(t) for t in parity_texts], cfg)
    w = tfidf_weights(counts, fit_idf(counts, cfg.n_features))
    norms = np.sqrt(np.bincount(w.segments, weights=w.values.astype(np.float64) ** 2, minlength=w.n_rows))
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_onnx_tfidf_matmul_matches_numpy(parity_texts: list[str]) -> None:
    cfg = HashingConfig(n_features=2**16)
    texts = [clean(t) for t in parity_texts]
    counts = hash_texts(texts, cfg)
    idf = fit_idf(counts, cfg.n_features)
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((cfg.n_features, 4)).astype(np.float32)
    g = GraphBuilder("t")
    out = g.sparse_matmul(weights, g.tfidf(idf))
    session = ort.InferenceSession(g.finish(out, 4).SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(["logits"], counts.onnx_feeds())
    expected = tfidf_weights(counts, idf).to_csr(cfg.n_features) @ weights
    assert onnx_out.shape == (len(texts), 4)
    diff = np.abs(onnx_out - expected).max(axis=1)
    assert diff.max() < 1e-4, (diff.argmax(), texts[diff.argmax()][:80], diff.max())


def test_sparse_batch_csr_shape() -> None:
    b = SparseBatch(np.array([1, 3]), np.array([1.0, 2.0], np.float32), np.array([0, 2]), 3)
    assert b.to_csr(5).toarray().tolist() == [[0, 1, 0, 0, 0], [0] * 5, [0, 0, 0, 2, 0]]


def test_padded_and_take_keep_rows(parity_texts: list[str]) -> None:
    b = hash_texts([clean(t) for t in parity_texts[:5]], HashingConfig())
    ids, values = b.padded()
    assert ids.shape == values.shape and ids.shape[0] == 5
    for row in range(5):
        mask = values[row] > 0
        assert np.array_equal(ids[row][mask], b.ids[b.segments == row])
    sub = b.take(np.array([3, 1]))
    assert np.array_equal(sub.ids[sub.segments == 0], b.ids[b.segments == 3])
    assert np.array_equal(sub.ids[sub.segments == 1], b.ids[b.segments == 1])


def test_multithreaded_onnx_runtime_gives_the_same_sums(parity_texts: list[str]) -> None:
    """Regression: a ScatterND-add graph gave different sums on several threads."""
    cfg = HashingConfig()
    counts = hash_texts([clean(t) for t in parity_texts], cfg)
    idf = fit_idf(counts, cfg.n_features)
    weights = np.random.default_rng(1).standard_normal((cfg.n_features, 6)).astype(np.float32)
    g = GraphBuilder("t")
    model = g.finish(g.sparse_matmul(weights, g.tfidf(idf)), 6).SerializeToString()
    outs = []
    for threads in (1, 2, 4):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        outs += [session.run(["logits"], counts.onnx_feeds())[0] for _ in range(5)]
    assert max(float(np.abs(o - outs[0]).max()) for o in outs) < 1e-5


@pytest.mark.parametrize(
    "config",
    [HashingConfig(), HashingConfig(char_ngrams=(0, 0)), HashingConfig(word_ngrams=(0, 0), char_ngrams=(3, 3))],
    ids=["default", "words-only", "char-3-only"],
)
def test_single_row_fast_path_matches_batch_rows(parity_texts: list[str], config: HashingConfig) -> None:
    texts = parity_texts[:40] + ["a", "x" * 1500]  # 1500 chars: past the span cache
    batch = hash_texts(texts, config)
    for row, text in enumerate(texts):
        one = hash_texts([text], config)
        mine = batch.segments == row
        assert np.array_equal(one.ids, batch.ids[mine])
        assert np.array_equal(one.values, batch.values[mine])
        raw = hashing._row_ids(text, config)  # every n-gram occurrence, before counting
        ids, counts = np.unique(raw, return_counts=True)
        assert np.array_equal(ids, one.ids) and np.array_equal(counts.astype(np.float32), one.values)
    padded_ids, padded_values = hash_texts([texts[0]], config).padded()
    assert padded_ids.shape == (1, hash_texts([texts[0]], config).ids.size) and padded_values.dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [{"n_features": 4096.9}, {"word_ngrams": ["1", 2]}, {"char_ngrams": [True, 5]}, {"char_ngrams": [2]}],
    ids=["float", "string", "bool", "short"],
)
def test_hashing_config_from_a_manifest_is_strict(bad: dict) -> None:  # type: ignore[type-arg]
    good = {"n_features": 4096, "word_ngrams": [1, 2], "char_ngrams": [2, 5]}
    assert HashingConfig.from_dict(good) == HashingConfig(4096, (1, 2), (2, 5))
    with pytest.raises(ValueError):
        HashingConfig.from_dict({**good, **bad})


def test_unit_rows_keep_zero_rows_zero_and_the_graph_has_no_identity() -> None:
    """``unit_rows`` is one LpNormalization node: unit rows, and a row of zeros (a text
    without any token of the part) stays zeros, not NaN. ``finish`` renames, no Identity."""
    g = GraphBuilder("t")
    out = g.unit_rows("values")
    model = g.finish(out, 3)
    assert [n.op_type for n in model.graph.node] == ["LpNormalization"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    (got,) = session.run(["logits"], {"ids": np.zeros((3, 3), np.int64), "values": values})
    expected = values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
    assert np.allclose(got, expected, atol=1e-7) and not np.isnan(got).any()
