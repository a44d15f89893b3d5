"""Text -> features: everything between a cleaned query and the ONNX graph's inputs.

One module per featurizer kind (the ``kind`` of a manifest's ``featurizer`` entry), on a
shared kernel; every kind returns a ``SparseBatch``:

=================  ===============================  =========================================
module             what                             kind
=================  ===============================  =========================================
``batch``          ``SparseBatch``, the rows every featurizer returns and every graph reads
``hashing``        hashed word/char n-gram counts   ``hashed-ngrams`` (linear-svm, widemlp, xgboost)
``hashing_fast``   the same, by the C kernel (``gqr.kernel``) or with fewer numpy calls (what serving runs)
``wordpiece``      BERT-uncased WordPiece tokens    (part of ``hashed-ngrams+wordpiece``)
``hybrid``         WordPiece counts + hashed counts ``hashed-ngrams+wordpiece`` (svm-minilm)
``fasttext``       fastText's input-row ids         ``fasttext``
``tfidf``          IDF and TF-IDF (training side; the graphs compute the same formula)
``spec``           manifest spec -> featurizer      (``from_spec``)
``graph``          ONNX builders for the graphs that read a ``SparseBatch`` (training side)
=================  ===============================  =========================================

Every featurizer has a fast path (what ``from_spec`` returns) beside its Python reference
(``from_spec(..., reference=True)``; ``HybridFeaturizer.reference``, ``FastTextFeaturizer.reference``),
which is the specification and the test oracle: both give the same ids, layout and values
(``tests/test_fast_features.py``; every benchmark row: ``scripts/feature_parity.py``).
Serving needs only numpy (and the standard library).
"""

from __future__ import annotations

from gqr.features.batch import SparseBatch, count_unique, gather_rows
from gqr.features.hashing import HASHED_NGRAMS, HashingConfig, hash_texts
from gqr.features.spec import Featurizer, from_spec
from gqr.features.tfidf import fit_idf, tfidf_weights

__all__ = [
    "HASHED_NGRAMS",
    "Featurizer",
    "HashingConfig",
    "SparseBatch",
    "count_unique",
    "fit_idf",
    "from_spec",
    "gather_rows",
    "hash_texts",
    "tfidf_weights",
]
