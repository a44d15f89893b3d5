"""``RouterHolder``: the one live ``Router`` of a server, swapped atomically on reload.

A request takes ``holder.router`` once and keeps that object to the end, so a reload never
disturbs requests in flight: they finish on the old model while new requests get the new
one. A reload that fails (missing file, checksum mismatch, corrupt ONNX) keeps the old
model serving and records the error for ``/healthz`` and ``/admin/reload``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gqr.router import Router

__all__ = ["ReloadResult", "RouterHolder"]

logger = logging.getLogger("gqr.serve")

Loader = Callable[[Path], Router]


@dataclass(frozen=True)
class ReloadResult:
    """How one reload attempt ended."""

    ok: bool
    generation: int
    path: str
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "generation": self.generation, "path": self.path,
                "error": self.error, "seconds": round(self.seconds, 4)}


class RouterHolder:
    """Holds the serving ``Router`` and reloads it from ``path`` with ``loader``.

    ``loader`` turns a model directory into a ``Router`` (default ``Router.load``); the CLI
    passes one that keeps the judge and the uncertain-zone policy across reloads.
    """

    def __init__(self, router: Router, path: str | os.PathLike[str] | None = None, loader: Loader | None = None) -> None:
        self._router = router
        self.path = Path(path) if path is not None else None
        self._loader: Loader = loader or (lambda p: Router.load(p))
        self.generation = 1
        self.loaded_at = time.time()
        self.last_error: str | None = None
        self.attempts = 0
        self.last_result: ReloadResult | None = None
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self._listeners: list[Callable[[ReloadResult], None]] = []

    @classmethod
    def load(cls, path: str | os.PathLike[str], loader: Loader | None = None) -> RouterHolder:
        """Load ``path`` now (errors propagate: a server must not start without a model)."""
        load = loader or (lambda p: Router.load(p))
        return cls(load(Path(path)), path, load)

    @property
    def router(self) -> Router:
        """The current router; take it once per request."""
        return self._router

    def on_reload(self, listener: Callable[[ReloadResult], None]) -> None:
        """Call ``listener(result)`` after every reload attempt (metrics, logs)."""
        self._listeners.append(listener)

    def reload(self, notify: bool = True) -> ReloadResult:
        """Load the model directory again and swap it in; on failure keep the old one.

        ``notify=False`` skips the listeners (the pre-fork parent reloads its own copy, which
        serves no request and must not count in the workers' metrics)."""
        with self._lock:
            return self._reload_locked(notify)

    async def areload(self) -> ReloadResult:
        """``reload`` in a worker thread, so the event loop keeps serving meanwhile."""
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            return await asyncio.to_thread(self.reload)

    def _reload_locked(self, notify: bool = True) -> ReloadResult:
        if self.path is None:
            result = ReloadResult(False, self.generation, "", "this server was given a Router object, not a model path")
            self._finish(result, notify)
            return result
        start = time.perf_counter()
        try:
            new = self._loader(self.path)
        except Exception as exc:  # any failure must leave the old model serving
            self.last_error = f"{type(exc).__name__}: {exc}"
            result = ReloadResult(False, self.generation, str(self.path), self.last_error, time.perf_counter() - start)
            logger.error("model reload failed; the previous model keeps serving",
                         extra={"event": "reload", "ok": False, "error": self.last_error, "generation": self.generation})
        else:
            self._router = new
            self.generation += 1
            self.loaded_at = time.time()
            self.last_error = None
            result = ReloadResult(True, self.generation, str(self.path), None, time.perf_counter() - start)
            logger.info("model reloaded", extra={"event": "reload", "ok": True, "generation": self.generation,
                                                  "seconds": round(result.seconds, 4)})
        self._finish(result, notify)
        return result

    def _finish(self, result: ReloadResult, notify: bool) -> None:
        self.last_result = result
        self.attempts += 1
        for listener in self._listeners if notify else ():
            listener(result)

    def describe(self) -> dict[str, Any]:
        """What ``/healthz`` shows about the model."""
        info = self._router.info
        return {
            "path": str(self.path) if self.path is not None else None,
            "generation": self.generation,
            "loaded_at": round(self.loaded_at, 3),
            "backend": info.get("backend"),
            "labels": self._router.labels,
            "uncertain": self._router.uncertain,
            "last_reload_error": self.last_error,
        }
