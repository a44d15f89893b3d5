"""Classifier backends behind one contract (see ``base.py``).

Backends import their training libraries lazily, so importing this package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BACKENDS", "make_backend"]

#: backend name -> (module, class)
BACKENDS: dict[str, tuple[str, str]] = {
    "svm": ("gqr.classifiers.linear_svm", "LinearSVMClassifier"),
    "svm-minilm": ("gqr.classifiers.hybrid_svm", "HybridSVMClassifier"),
    "widemlp": ("gqr.classifiers.widemlp", "WideMLPClassifier"),
    "fasttext": ("gqr.classifiers.fasttext", "FastTextClassifier"),
    "xgboost": ("gqr.classifiers.xgboost", "XGBoostClassifier"),
}


def make_backend(name: str, **params: Any) -> Any:
    """Create an unfitted backend by name, e.g. ``make_backend("svm", C=0.5)``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(**params)
