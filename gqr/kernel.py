"""gqr's compiled hot loops (``gqr/_kernel.c``), when the install could build them.

``setup.py`` builds the extension where a C compiler is found; it is optional, so installing
needs none. Each loop has a Python twin that stays its specification and the test oracle:
``keys`` (hashed n-gram keys; ``gqr.features.hashing_fast``), ``finder``/``find`` (the first
of a set of words in a text; the gates of ``gqr.rules``) and ``fasttext_row`` (one line's
fastText rows and weights; ``FastTextFeaturizer.one``). ``KERNEL`` is None when the extension
is missing, was built from other sources, or the environment sets ``GQR_KERNEL=0`` (to compare
the two paths, or to rule the kernel out): gqr then computes the same results without it, and
says so once in its log (not for ``GQR_KERNEL=0``).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

__all__ = ["KERNEL", "VERSION", "load"]

#: ``_kernel.c``'s VERSION: a build of other sources (a stale editable install) is not used
VERSION = 5


def load() -> ModuleType | None:
    """The compiled kernel, or None (see the module docstring)."""
    if os.environ.get("GQR_KERNEL") == "0":
        return None
    try:
        kernel = importlib.import_module("gqr._kernel")
    except ImportError:
        problem = "is not built (no C compiler at install?)"
    else:
        if getattr(kernel, "VERSION", None) == VERSION:
            return kernel
        problem = "was built from other sources than this gqr's"
    logging.getLogger("gqr").warning(
        "gqr's compiled kernel %s: its loops run in Python and numpy instead, with the same results, "
        "slower. Reinstall gqr (pip install -e .) with a C compiler (gcc, clang) for the fast path.",
        problem,
    )
    return None


KERNEL = load()
