"""Value objects of the judge: its configuration, one verdict, a snapshot of its counters."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gqr.decision import Decision, Reason, Source
from gqr.errors import InvalidInputError

__all__ = ["ANSWER_FORMATS", "JudgeConfig", "JudgeStats", "JudgeVerdict"]

_ON_FAILURE = ("model", "reject")
#: How the judge asks for a structured answer, from the strictest to plain text.
ANSWER_FORMATS = ("json_schema", "json_object", "text")


@dataclass(frozen=True)
class JudgeConfig:
    """How to reach an OpenAI-compatible chat-completions judge, and how hard to lean on it.

    ``base_url`` ends before ``/chat/completions`` (Ollama: ``http://127.0.0.1:11434/v1``).
    ``api_key`` is sent as ``Authorization: Bearer ...`` and never shown by ``repr``.

    Reliability: every HTTP attempt has ``timeout`` seconds; timeouts, connection errors,
    HTTP 5xx and 429 are retried up to ``max_retries`` times after an exponential backoff of
    ``backoff_base * 2**(n-1)`` seconds, capped at ``backoff_max`` and jittered by an RNG
    seeded with ``seed``. A call takes at most about
    ``(max_retries + 1) * timeout + max_retries * backoff_max`` seconds.
    After ``breaker_threshold`` consecutive failed calls the circuit opens: calls fail at
    once for ``breaker_cooldown`` seconds, then one probe call decides whether it closes.

    Budget: with ``max_share`` the judge makes at most ``max_share * routed + share_burst``
    calls, where ``routed`` is what the router reported through ``note_routed``; with
    ``max_calls_per_second`` a token bucket of ``rate_burst`` tokens (default: the rate,
    at least 1) limits the call rate. Cache hits are free. ``None`` means no limit.

    Answer format: ``answer_format="auto"`` first sends the verdict's JSON schema
    (``response_format`` of type ``json_schema``: OpenAI, vLLM, recent Ollama and llama.cpp);
    a server that refuses it (HTTP 400/422, or an error naming ``response_format``:
    llama-cpp-python answers 500) is asked again at once with ``json_object`` (with
    the schema under ``schema``, which llama.cpp and llama-cpp-python enforce), then with plain
    text read by the strict parser; the client remembers what worked. ``"json_schema"``,
    ``"json_object"`` or ``"text"`` pins one format. ``json_mode=False`` is the older
    spelling of ``answer_format="text"``. ``language`` is the language the domains expect;
    queries in any other language are rejected as ``other_language``.
    ``answer_shape`` is what the verdict looks like: ``"label"`` (the default) asks for
    ``{"route": <domain or rejection reason>}``; ``"pair"`` for ``{"route": <domain or null>,
    "reason": ...}``, which a local 1.5B model answered with a domain for nearly every
    out-of-domain query (``gqr.judge._prompt.ANSWER_SHAPES``). Both are always accepted.
    ``verdict_confidence`` is the confidence reported for a verdict (an LLM gives no
    calibrated probability; use the judge's measured accuracy if you have one).
    ``on_failure`` is read by the router for an uncertain query the judge did not answer
    (down, timeout, budget, garbage): ``"model"`` keeps the model's own call, ``"reject"``
    rejects it as out_of_domain (both with ``Source.FALLBACK``).

    ``cache_path`` adds a persistent answer cache in that SQLite file (``gqr.judge._store``),
    keyed by the server, the model, the prompt and schema version, the domains and the query:
    a benchmark re-run only asks about queries it has not seen. ``cache_size=0`` turns off the
    in-memory LRU only; the file is read and written whenever ``cache_path`` is set.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    max_retries: int = 2
    backoff_base: float = 0.2
    backoff_max: float = 2.0
    seed: int = 0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    max_share: float | None = None
    share_burst: int = 1
    max_calls_per_second: float | None = None
    rate_burst: int | None = None
    cache_size: int = 1024
    cache_path: str | None = None
    max_concurrency: int = 8
    temperature: float = 0.0
    max_tokens: int = 64
    json_mode: bool = True
    answer_format: str = "auto"
    answer_shape: str = "label"
    language: str = "English"
    verdict_confidence: float = 1.0
    on_failure: str = "model"

    def __post_init__(self) -> None:
        url = self.base_url.strip() if isinstance(self.base_url, str) else ""
        if not url.startswith(("http://", "https://")):
            _bad("base_url", self.base_url, "an http(s) URL such as http://127.0.0.1:11434/v1")
        object.__setattr__(self, "base_url", url.rstrip("/"))
        if not isinstance(self.model, str) or not self.model.strip():
            _bad("model", self.model, "the model name the server knows, e.g. 'qwen2.5:3b'")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise InvalidInputError("JudgeConfig.api_key must be a non-empty string or None")
        _positive("timeout", self.timeout)
        _positive("backoff_max", self.backoff_max)
        _positive("breaker_cooldown", self.breaker_cooldown)
        _non_negative_int("max_retries", self.max_retries)
        _non_negative_int("share_burst", self.share_burst)
        _non_negative_int("cache_size", self.cache_size)
        _non_negative_int("seed", self.seed)
        _positive_int("breaker_threshold", self.breaker_threshold)
        _positive_int("max_concurrency", self.max_concurrency)
        _positive_int("max_tokens", self.max_tokens)
        if not _is_real(self.backoff_base) or self.backoff_base < 0:
            _bad("backoff_base", self.backoff_base, "a number >= 0")
        if self.max_share is not None and not (_is_real(self.max_share) and 0 < self.max_share <= 1):
            _bad("max_share", self.max_share, "a fraction in (0, 1], or None for no share limit")
        if self.max_calls_per_second is not None:
            _positive("max_calls_per_second", self.max_calls_per_second)
        if self.rate_burst is not None:
            _positive_int("rate_burst", self.rate_burst)
        if not _is_real(self.temperature) or not 0 <= self.temperature <= 2:
            _bad("temperature", self.temperature, "a number in [0, 2] (0 for a deterministic judge)")
        if not _is_real(self.verdict_confidence) or not 0 <= self.verdict_confidence <= 1:
            _bad("verdict_confidence", self.verdict_confidence, "a probability in [0, 1]")
        if not isinstance(self.language, str) or not self.language.strip():
            _bad("language", self.language, "a language name such as 'English'")
        if self.answer_format not in ("auto", *ANSWER_FORMATS):
            _bad("answer_format", self.answer_format, f"one of {['auto', *ANSWER_FORMATS]}")
        if self.cache_path is not None:
            path = os.fspath(self.cache_path) if isinstance(self.cache_path, (str, os.PathLike)) else None
            if not isinstance(path, str) or not path.strip():
                _bad("cache_path", self.cache_path, "a file path, or None for no persistent cache")
            object.__setattr__(self, "cache_path", path)
        if self.answer_shape not in ("label", "pair"):
            _bad("answer_shape", self.answer_shape, "'label' or 'pair'")
        if self.on_failure not in _ON_FAILURE:
            _bad("on_failure", self.on_failure, f"one of {list(_ON_FAILURE)}")

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    @property
    def answer_formats(self) -> tuple[str, ...]:
        """The formats to try, in order: the whole ladder for ``"auto"``, else the one pinned."""
        if not self.json_mode:
            return ("text",)
        return ANSWER_FORMATS if self.answer_format == "auto" else (self.answer_format,)

    @property
    def bucket_size(self) -> int:
        """Tokens in the rate bucket: ``rate_burst``, else the rate rounded up (at least 1)."""
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.ceil(self.max_calls_per_second or 1))


@dataclass(frozen=True)
class JudgeVerdict:
    """What the judge said about one query.

    ``label`` is a domain name, or ``None`` when the query is rejected; ``reason`` is
    ``IN_DOMAIN`` exactly when ``label`` is set. ``raw`` is the model's answer text and
    ``cached`` tells whether the verdict came from the cache instead of an HTTP call.
    """

    label: str | None
    reason: Reason
    confidence: float
    raw: str | None = None
    cached: bool = False

    @property
    def accepted(self) -> bool:
        """True when the judge routes the query to a domain."""
        return self.label is not None

    def to_decision(self, scores: Mapping[str, float] | None = None) -> Decision:
        """This verdict as a ``Decision`` from ``Source.JUDGE`` for an uncertain query."""
        return Decision(
            route=self.label,
            reason=self.reason,
            confidence=self.confidence,
            scores=dict(scores or {}),
            source=Source.JUDGE,
            uncertain=True,
            detail="judge verdict (cached)" if self.cached else "judge verdict",
        )


@dataclass(frozen=True)
class JudgeStats:
    """A snapshot of the judge's counters since the client was created.

    ``calls`` are queries sent over HTTP (cache hits and refused calls excluded);
    ``attempts`` counts HTTP requests including retries. ``failures`` are calls that ended
    in a ``JudgeError``; refusals by the budget or the open circuit are counted apart.
    """

    routed: int
    calls: int
    attempts: int
    retries: int
    successes: int
    failures: int
    cache_hits: int
    budget_rejections: int
    circuit_rejections: int
    circuit: str

    @property
    def escalation_share(self) -> float:
        """Judge calls per routed query (0 before anything was routed)."""
        return self.calls / self.routed if self.routed else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, including ``escalation_share``."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["escalation_share"] = round(self.escalation_share, 6)
        return out


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bad(name: str, value: object, expected: str) -> None:
    raise InvalidInputError(f"JudgeConfig.{name}={value!r} is invalid: expected {expected}")


def _positive(name: str, value: object) -> None:
    if not _is_real(value) or value <= 0:  # type: ignore[operator]
        _bad(name, value, "a number > 0")


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _bad(name, value, "an integer >= 1")


def _non_negative_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        _bad(name, value, "an integer >= 0")
