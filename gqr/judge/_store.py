"""A persistent on-disk answer cache for the judge (SQLite, standard library only).

Meant for benchmarks and offline evaluation: a re-run after the router was retrained only
asks the judge about the queries it has not answered before. A verdict is stored under a key
that covers everything that shapes the answer: the server URL, the model name, the prompt
and schema version (``PROMPT_VERSION`` and a digest of the prompt template and the verdict
schema), the domains and their descriptions, the language, the sampling settings and the
(normalised) query text. Change any of them and the old answers are simply not found.
Failures are never stored. Each verdict keeps the seconds its call took, so cached answers
still say what they cost.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gqr.decision import Reason
from gqr.judge._config import JudgeConfig, JudgeVerdict
from gqr.judge._prompt import PROMPT_VERSION, prompt_digest

__all__ = ["DiskVerdictCache", "context_key"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY, label TEXT, reason TEXT NOT NULL, raw TEXT, seconds REAL, created REAL NOT NULL)"""


def context_key(config: JudgeConfig, domains: Mapping[str, str]) -> str:
    """A digest of everything but the query that shapes a verdict."""
    context = {
        "server": config.base_url,
        "model": config.model,
        "prompt_version": PROMPT_VERSION,
        "prompt": prompt_digest(domains, config.language, config.answer_shape),
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "formats": list(config.answer_formats),
    }
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()


class DiskVerdictCache:
    """Verdicts kept in one SQLite file, shared by every client with the same context.

    Thread-safe (one connection behind a lock); several processes may share the file (SQLite
    locks it; a write that finds it busy waits up to 30 s).
    """

    def __init__(self, path: str | Path, config: JudgeConfig, domains: Mapping[str, str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._context = context_key(config, domains)
        self._confidence = config.verdict_confidence
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def _key(self, query_key: str) -> str:
        return hashlib.sha256(f"{self._context}\n{query_key}".encode()).hexdigest()

    def get(self, query_key: str) -> tuple[JudgeVerdict, float | None] | None:
        """The stored verdict for this (normalised) query and the seconds its call took."""
        with self._lock:
            row = self._db.execute("SELECT label, reason, raw, seconds FROM verdicts WHERE key = ?",
                                   (self._key(query_key),)).fetchone()
        if row is None:
            return None
        label, reason, raw, seconds = row
        try:
            verdict = JudgeVerdict(label=label, reason=Reason(reason), confidence=self._confidence, raw=raw)
        except ValueError:
            return None  # written by another version: ask again
        return verdict, seconds

    def put(self, query_key: str, verdict: JudgeVerdict, seconds: float | None = None) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)",
                             (self._key(query_key), verdict.label, verdict.reason.value, verdict.raw, seconds,
                              time.time()))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path), "context": self._context[:16]}
