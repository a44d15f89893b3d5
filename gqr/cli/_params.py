"""``--model`` and ``--param KEY=VALUE`` checked against what each backend declares (its
keyword-only ``__init__`` parameters and their annotations), before any data is read.

Importing a backend module is cheap: the training libraries are imported inside ``fit``.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

from gqr.classifiers import BACKENDS
from gqr.cli._common import usage_error

__all__ = ["backend_params", "check_model"]


def check_model(model: str) -> None:
    """A usage error unless ``model`` names a backend."""
    if model not in BACKENDS:
        raise usage_error(f"--model {model!r} is not a router backend; choose one of: {', '.join(BACKENDS)}")


def declared_params(model: str) -> dict[str, str]:
    """The keyword parameters of ``model``'s backend, each with its annotation as text."""
    module, name = BACKENDS[model]
    init = getattr(importlib.import_module(module), name).__init__
    return {p.name: _text(p.annotation) for p in inspect.signature(init).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _text(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise ValueError(raw)
    return lowered == "true"


def _dict(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(raw)
    return value


#: annotation kind -> parser of the command-line text, tried in this order
_PARSERS: dict[str, Callable[[str], Any]] = {"bool": _bool, "int": int, "float": float, "dict": _dict, "str": str}
_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number", "dict": "a JSON object", "str": "text"}


def _convert(model: str, key: str, raw: str, annotation: str) -> Any:
    kinds = {part.strip().split("[")[0] for part in annotation.split("|")}
    if "None" in kinds and raw.lower() == "none":
        return None
    for kind, parse in _PARSERS.items():
        if kind in kinds:
            try:
                return parse(raw)
            except ValueError:
                pass
    wanted = [_WORDS[k] for k in _PARSERS if k in kinds]
    if not wanted:
        raise usage_error(f"--param {key}: {model}'s {key} ({annotation}) cannot be set from the command line")
    raise usage_error(f"--param {key}={raw}: {model}'s {key} must be {' or '.join(wanted)}")


def backend_params(model: str, items: list[str] | None) -> dict[str, Any]:
    """``["C=0.5", "max_iter=100"]`` -> ``{"C": 0.5, "max_iter": 100}``, each value parsed as
    the backend declares it; a usage error for a parameter it does not take or a bad value."""
    declared = declared_params(model)
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise usage_error(f"--param {item!r}: expected KEY=VALUE, e.g. C=0.5")
        if key not in declared:
            raise usage_error(f"--param {key}: {model} has no parameter {key!r}; it takes {', '.join(declared)}")
        out[key] = _convert(model, key, raw.strip(), declared[key])
    return out
