"""The gqr exception tree. Every error gqr raises on purpose is a ``GQRError``.

::

    GQRError
    ├─ InvalidInputError (ValueError)          text or arguments that cannot be routed
    │   └─ DataFormatError                      a data file is unreadable or lacks a column
    ├─ NotFittedError (ValueError, AttributeError)
    ├─ ArtifactError                            a model directory cannot be used
    │   ├─ ArtifactNotFoundError (FileNotFoundError)
    │   ├─ ManifestError                        manifest.json is missing, malformed or invalid
    │   ├─ ChecksumMismatchError                a file changed after export
    │   └─ IncompatibleArtifactError            format version or graph signature not supported
    ├─ ExportError                              conversion to ONNX failed, or parity failed
    ├─ DatasetUnavailableError                  neither a local copy nor the hub can supply data
    ├─ MissingDependencyError (ImportError)     an optional extra is not installed
    └─ JudgeError                               the LLM judge could not give a verdict
        ├─ JudgeTimeoutError
        ├─ JudgeUnavailableError                connection refused, HTTP 5xx, circuit open
        ├─ JudgeResponseError                   the answer is not the strict JSON asked for
        └─ JudgeBudgetExceededError

``Router.route`` never lets a ``JudgeError`` escape: it falls back to the configured policy.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "ArtifactError",
    "ArtifactNotFoundError",
    "ChecksumMismatchError",
    "DataFormatError",
    "DatasetUnavailableError",
    "ExportError",
    "GQRError",
    "IncompatibleArtifactError",
    "InvalidInputError",
    "JudgeBudgetExceededError",
    "JudgeError",
    "JudgeResponseError",
    "JudgeTimeoutError",
    "JudgeUnavailableError",
    "ManifestError",
    "MissingDependencyError",
    "NotFittedError",
]


class GQRError(Exception):
    """Base class of every error raised by gqr."""


class InvalidInputError(GQRError, ValueError):
    """Text or arguments that cannot be routed (empty, not UTF-8, wrong type)."""


class DataFormatError(InvalidInputError):
    """A data file cannot be read: wrong format, missing column, unknown label, no rows."""


class NotFittedError(GQRError, ValueError, AttributeError):
    """A model was used before ``fit``. Call ``fit`` first, or load a trained artifact."""


class ArtifactError(GQRError):
    """A model directory cannot be used."""


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """The model directory or one of its files does not exist."""


class ManifestError(ArtifactError):
    """``manifest.json`` is missing, not JSON, or fails validation."""


class ChecksumMismatchError(ArtifactError):
    """A file's sha256 differs from the manifest: it changed after export."""


class IncompatibleArtifactError(ArtifactError):
    """The artifact's format version or graph signature is not supported by this gqr."""


class ExportError(GQRError):
    """Conversion to ONNX failed, or the exported graph disagrees with the Python model."""


class DatasetUnavailableError(GQRError):
    """Neither a local data directory nor the Hugging Face hub can supply a dataset."""


class MissingDependencyError(GQRError, ImportError):
    """An optional extra is needed; the message names the ``pip install`` line."""


class JudgeError(GQRError):
    """The LLM judge could not give a verdict."""


class JudgeTimeoutError(JudgeError):
    """The judge did not answer within the configured timeout."""


class JudgeUnavailableError(JudgeError):
    """The judge refused the connection, answered HTTP 5xx, or its circuit breaker is open."""


class JudgeResponseError(JudgeError):
    """The judge answered, but not with the strict JSON verdict that was asked for."""


class JudgeBudgetExceededError(JudgeError):
    """The per-process judge budget (share of queries or calls per second) is spent."""


#: pip's name for an optional module, where it differs from the import name.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "fasttext": "fasttext-wheel", "xgboost": "xgboost-cpu"}


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional module or raise ``MissingDependencyError`` naming the extra.

    >>> require("json", "none", "Reading JSON").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package = _DISTRIBUTIONS.get(top, top)
        raise MissingDependencyError(
            f"{purpose} needs the '{package}' package, which is not installed: pip install 'gqr[{extra}]'"
        ) from exc
