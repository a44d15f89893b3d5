"""Reload the model when its directory changes (polling: no extra dependency, works on any
file system, and sees a symlink swapped to a new version)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gqr.serve._holder import RouterHolder

__all__ = ["signature", "watch_model"]

logger = logging.getLogger("gqr.serve")

Signature = tuple[str, tuple[tuple[str, int, int], ...]]


def signature(path: Path) -> Signature:
    """What changes when the artifact changes: the resolved directory and each file's
    name, size and modification time."""
    try:
        real = os.path.realpath(path)
        entries = sorted(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(real) if e.is_file()
        )
    except OSError:
        return ("", ())
    return real, tuple(entries)


async def watch_model(holder: RouterHolder, interval: float) -> None:
    """Poll every ``interval`` seconds; reload when the signature changes and then stays
    the same for one more poll (so a half-written artifact is not loaded)."""
    assert holder.path is not None
    seen = signature(holder.path)
    pending: Signature | None = None
    while True:
        await asyncio.sleep(interval)
        now = signature(holder.path)
        if now == seen:
            pending = None
            continue
        if now != pending:
            pending = now  # changed: wait one poll for the writer to finish
            continue
        seen, pending = now, None
        logger.info("model directory changed; reloading", extra={"event": "watch"})
        await holder.areload()
