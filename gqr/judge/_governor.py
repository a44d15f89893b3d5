"""Thread-safe policy state of the judge: budget, circuit breaker, backoff, counters, cache.

Nothing here does I/O; time comes from an injectable clock so tests need no sleeping.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable

from gqr.errors import InvalidInputError, JudgeBudgetExceededError, JudgeUnavailableError
from gqr.judge._config import JudgeConfig, JudgeStats, JudgeVerdict

__all__ = ["Governor", "VerdictCache"]

logger = logging.getLogger("gqr.judge")
_EPS = 1e-9


class VerdictCache:
    """A thread-safe LRU of recent verdicts; ``size=0`` disables it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, JudgeVerdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> JudgeVerdict | None:
        with self._lock:
            verdict = self._items.get(key)
            if verdict is not None:
                self._items.move_to_end(key)
            return verdict

    def put(self, key: str, verdict: JudgeVerdict) -> None:
        if self._size == 0:
            return
        with self._lock:
            self._items[key] = verdict
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Governor:
    """Decides whether a call may go out, and keeps the books on how calls ended.

    One lock guards everything, so admission (circuit + budget) is atomic across threads.
    """

    def __init__(self, config: JudgeConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._routed = self._calls = self._attempts = self._retries = 0
        self._successes = self._failures = self._cache_hits = 0
        self._budget_rejections = self._circuit_rejections = 0
        self._tokens = float(config.bucket_size)
        self._refilled_at = clock()
        self._consecutive_failures = 0
        self._opened_at: float | None = None
        self._probing = False

    # -- budget ----------------------------------------------------------------------------
    def note_routed(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidInputError(f"note_routed(n) needs an integer n >= 0, got {n!r}")
        with self._lock:
            self._routed += n

    def admit(self) -> bool:
        """Let one call out or raise; returns True when the call is the circuit's probe."""
        with self._lock:
            now = self._clock()
            state = self._circuit(now)
            if state == "open":
                self._circuit_rejections += 1
                assert self._opened_at is not None
                wait = self._opened_at + self._config.breaker_cooldown - now
                raise JudgeUnavailableError(
                    f"judge circuit is open after {self._consecutive_failures} consecutive failures; "
                    f"it will try again in {wait:.1f}s (check that {self._config.base_url} is up)"
                )
            if state == "half_open" and self._probing:
                self._circuit_rejections += 1
                raise JudgeUnavailableError("judge circuit is half-open and its probe call is still running")
            self._take_budget(now)
            self._calls += 1
            if state == "half_open":
                self._probing = True
                return True
            return False

    def _take_budget(self, now: float) -> None:
        cfg = self._config
        if cfg.max_share is not None and self._calls + 1 > cfg.max_share * self._routed + cfg.share_burst + _EPS:
            self._budget_rejections += 1
            raise JudgeBudgetExceededError(
                f"judge share budget spent: {self._calls} calls for {self._routed} routed queries "
                f"(max_share={cfg.max_share}, share_burst={cfg.share_burst}); report routed "
                "queries with note_routed() or raise JudgeConfig.max_share"
            )
        if cfg.max_calls_per_second is not None:
            elapsed = max(0.0, now - self._refilled_at)
            self._tokens = min(float(cfg.bucket_size), self._tokens + elapsed * cfg.max_calls_per_second)
            self._refilled_at = now
            if self._tokens < 1.0 - _EPS:
                self._budget_rejections += 1
                raise JudgeBudgetExceededError(
                    f"judge rate budget spent: more than {cfg.max_calls_per_second} calls per second "
                    f"(burst {cfg.bucket_size}); raise JudgeConfig.max_calls_per_second"
                )
            self._tokens -= 1.0

    # -- circuit breaker --------------------------------------------------------------------
    def _circuit(self, now: float) -> str:
        if self._opened_at is None:
            return "closed"
        if now - self._opened_at < self._config.breaker_cooldown:
            return "open"
        return "half_open"

    def finish(self, probe: bool, *, ok: bool | None, reachable: bool) -> None:
        """Book the end of an admitted call.

        ``ok`` is True for a verdict, False for a JudgeError, None for a call abandoned
        (cancelled) before it ended. ``reachable`` says the server answered at all: only
        calls that could not reach it (timeouts, refused, 5xx, 429) count toward the breaker.
        """
        with self._lock:
            if probe:
                self._probing = False
            if ok is None:
                return
            if ok:
                self._successes += 1
            else:
                self._failures += 1
            if reachable:
                if self._opened_at is not None:
                    logger.info("judge circuit closed: %s answered again", self._config.base_url)
                self._consecutive_failures = 0
                self._opened_at = None
                return
            self._consecutive_failures += 1
            if probe or self._consecutive_failures >= self._config.breaker_threshold:
                if self._opened_at is None:
                    logger.warning(
                        "judge circuit opened after %d consecutive failures; pausing calls for %.1fs",
                        self._consecutive_failures,
                        self._config.breaker_cooldown,
                    )
                self._opened_at = self._clock()

    # -- retries and counters ---------------------------------------------------------------
    def backoff(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): capped, equal jitter."""
        cfg = self._config
        ceiling = min(cfg.backoff_max, cfg.backoff_base * 2.0 ** (retry - 1))
        with self._lock:
            self._retries += 1
            delay = ceiling * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, cfg.backoff_max))
        return delay

    def count_attempt(self) -> None:
        with self._lock:
            self._attempts += 1

    def count_cache_hit(self) -> None:
        with self._lock:
            self._cache_hits += 1

    def stats(self) -> JudgeStats:
        with self._lock:
            return JudgeStats(
                routed=self._routed,
                calls=self._calls,
                attempts=self._attempts,
                retries=self._retries,
                successes=self._successes,
                failures=self._failures,
                cache_hits=self._cache_hits,
                budget_rejections=self._budget_rejections,
                circuit_rejections=self._circuit_rejections,
                circuit=self._circuit(self._clock()),
            )
