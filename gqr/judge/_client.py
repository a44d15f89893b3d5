"""``JudgeClient``: ask an OpenAI-compatible chat-completions server for a routing verdict.

Sync and async share one core: ``_plan`` is a generator that owns the cache, admission,
request, retry policy and parsing, and *yields* the I/O it needs (``_Send`` or ``_Sleep``).
The two drivers, ``_run`` and ``_arun``, only perform that I/O with ``httpx.Client`` or
``httpx.AsyncClient`` and send the outcome back. httpx results become verdicts or
``JudgeError``s in one place, ``_conclude``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union, cast

from gqr.errors import GQRError, JudgeError, JudgeResponseError, JudgeTimeoutError, JudgeUnavailableError, require
from gqr.judge._config import JudgeConfig, JudgeStats, JudgeVerdict
from gqr.judge._governor import Governor, VerdictCache
from gqr.judge._prompt import BENCHMARK_DESCRIPTIONS, build_messages, check_domains, parse_verdict, verdict_schema
from gqr.judge._store import DiskVerdictCache
from gqr.text import clean, normalize_for_dedup

if TYPE_CHECKING:
    import httpx

__all__ = ["JudgeClient"]

logger = logging.getLogger("gqr.judge")


@dataclass(frozen=True)
class _Send:
    body: dict[str, Any]


@dataclass(frozen=True)
class _Sleep:
    seconds: float


_Outcome = Union["httpx.Response", "httpx.HTTPError", None]
_Plan = Generator[Union[_Send, _Sleep], _Outcome, JudgeVerdict]


#: How a domain is described to the judge when the model's manifest gives no description.
DEFAULT_DOMAIN_HINT = "questions about {name}"


class JudgeClient:
    """An LLM judge for the queries the router is unsure about.

    ``domains`` maps each domain name to a one-line description for the prompt.
    ``transport`` replaces the network (an ``httpx.MockTransport`` or any httpx transport);
    ``clock`` replaces ``time.monotonic`` for the budget and the circuit breaker.
    Thread-safe; use it as a context manager, or call ``close``/``aclose``, to free sockets.

    >>> judge = JudgeClient(JudgeConfig("http://127.0.0.1:11434/v1", "qwen2.5:3b"),
    ...                     {"law": "legal questions", "finance": "money and markets"})
    >>> judge.stats().calls
    0
    >>> judge.close()
    """

    def __init__(
        self,
        config: JudgeConfig,
        domains: Mapping[str, str],
        *,
        transport: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._httpx: Any = require("httpx", "judge", "The LLM judge")
        if not isinstance(config, JudgeConfig):
            raise TypeError(f"config must be a JudgeConfig, got {type(config).__name__}")
        self.config = config
        self.domains = check_domains(domains)
        self._transport = transport
        self._governor = Governor(config, clock or time.monotonic)
        self._cache = VerdictCache(config.cache_size)
        self._disk = DiskVerdictCache(config.cache_path, config, self.domains) if config.cache_path else None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if config.api_key is not None:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._formats = config.answer_formats
        self._format_at = 0  # index in _formats of what this server accepts so far

    @classmethod
    def for_router(
        cls, config: JudgeConfig, router: Any, descriptions: Mapping[str, str] | None = None, **options: Any
    ) -> JudgeClient:
        """A judge for ``router``'s domains. Each is described by ``descriptions``, else by the
        model's manifest (``gqr train --describe``), else, for a model without any whose
        domains are exactly GQR-Bench's, by ``BENCHMARK_DESCRIPTIONS``, else as
        ``DEFAULT_DOMAIN_HINT``."""
        labels = list(router.labels)
        stored = getattr(router, "info", {}).get("domains")
        hints = dict(stored) if isinstance(stored, dict) else {}
        if not hints and set(labels) == set(BENCHMARK_DESCRIPTIONS):
            hints = dict(BENCHMARK_DESCRIPTIONS)
        hints.update(descriptions or {})
        domains = {name: hints.get(name) or DEFAULT_DOMAIN_HINT.format(name=name) for name in labels}
        return cls(config, domains, **options)

    def __repr__(self) -> str:
        return f"JudgeClient(url={self.config.url!r}, model={self.config.model!r}, domains={list(self.domains)})"

    # -- public API ------------------------------------------------------------------------
    def judge(self, text: str | bytes) -> JudgeVerdict:
        """The judge's verdict on one query; raises a ``JudgeError`` when there is none.

        ``InvalidInputError`` for text ``gqr.text.clean`` refuses (empty, not UTF-8).
        """
        return self._run(self._plan(text))

    async def ajudge(self, text: str | bytes) -> JudgeVerdict:
        """Async ``judge``."""
        return await self._arun(self._plan(text))

    def judge_batch(self, texts: Sequence[str | bytes]) -> list[JudgeVerdict | GQRError]:
        """Verdicts in input order, at most ``max_concurrency`` calls at a time (threads).

        A query that fails gets its error (a ``JudgeError`` or ``InvalidInputError``) in its
        place in the list instead of raising, so one bad row costs nothing to the others.
        """
        items = list(texts)
        if not items:
            return []
        workers = min(self.config.max_concurrency, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gqr-judge") as pool:
            return list(pool.map(self._judge_or_error, items))

    async def ajudge_batch(self, texts: Sequence[str | bytes]) -> list[JudgeVerdict | GQRError]:
        """Async ``judge_batch``: at most ``max_concurrency`` requests in flight."""
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def one(text: str | bytes) -> JudgeVerdict | GQRError:
            async with gate:
                try:
                    return await self.ajudge(text)
                except GQRError as exc:
                    return exc

        return list(await asyncio.gather(*(one(t) for t in texts)))

    @property
    def answer_format(self) -> str:
        """The answer format this server accepted so far: json_schema, json_object or text."""
        return self._formats[self._format_at]

    def note_routed(self, n: int = 1) -> None:
        """Tell the judge that the router routed ``n`` more queries (for ``max_share``)."""
        self._governor.note_routed(n)

    def stats(self) -> JudgeStats:
        """A snapshot of the counters: calls, failures, cache hits, escalation share..."""
        return self._governor.stats()

    def close(self) -> None:
        """Close the sync HTTP connection pool (the async one needs ``aclose``)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def cached(self, text: str | bytes) -> JudgeVerdict | None:
        """The verdict on ``text`` the in-memory or persistent cache holds, without a call (None
        when neither has one, or for text ``clean`` refuses)."""
        try:
            query = clean(text)
        except GQRError:
            return None
        key = normalize_for_dedup(query) or query
        hit = self._cache.get(key)
        if hit is None and self._disk is not None:
            stored = self._disk.get(key)
            hit = stored[0] if stored is not None else None
        return replace(hit, cached=True) if hit is not None else None

    def stored_seconds(self, text: str | bytes) -> float | None:
        """Seconds the judge call behind the persistent cache's answer to ``text`` took (None
        without a persistent cache, or when it holds no answer)."""
        if self._disk is None:
            return None
        try:
            query = clean(text)
        except GQRError:
            return None
        stored = self._disk.get(normalize_for_dedup(query) or query)
        return stored[1] if stored is not None else None

    async def aclose(self) -> None:
        """Close both connection pools."""
        with self._lock:
            aclient, self._aclient, self._aloop = self._aclient, None, None
        if aclient is not None:
            await aclient.aclose()
        self.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> JudgeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the shared core -------------------------------------------------------------------
    def _plan(self, text: str | bytes) -> _Plan:
        query = clean(text)
        key = normalize_for_dedup(query) or query
        hit = self._cache.get(key)
        if hit is None and self._disk is not None:
            stored = self._disk.get(key)
            if stored is not None:
                hit = stored[0]
                self._cache.put(key, hit)
        if hit is not None:
            self._governor.count_cache_hit()
            return replace(hit, cached=True)
        probe = self._governor.admit()
        started = time.perf_counter()
        ok: bool | None = None
        reachable = False
        try:
            fmt = self.answer_format
            retry = 0
            while True:
                self._governor.count_attempt()
                outcome = yield _Send(self._body(query, fmt))
                if _refused(outcome, fmt):
                    lower = self._downgrade(fmt)
                    if lower is not None:
                        logger.info("judge at %s refused answer format %s (%s); using %s",
                                    self.config.url, fmt, _describe(outcome), lower)
                        fmt = lower
                        continue
                delay = self._retry_delay(outcome, retry + 1)
                if delay is None:
                    break
                retry += 1
                logger.debug("judge attempt %d failed (%s); retrying in %.2fs", retry, _describe(outcome), delay)
                yield _Sleep(delay)
            try:
                verdict = self._conclude(outcome, fmt)
            except JudgeError as exc:
                ok, reachable = False, isinstance(exc, JudgeResponseError)
                raise
            ok, reachable = True, True
            self._cache.put(key, verdict)
            if self._disk is not None:
                self._disk.put(key, verdict, time.perf_counter() - started)
            return verdict
        finally:
            self._governor.finish(probe, ok=ok, reachable=reachable)

    def _downgrade(self, refused: str) -> str | None:
        """The next format after ``refused`` (remembered for later calls), or None at the end."""
        with self._lock:
            at = self._formats.index(refused)
            if at + 1 >= len(self._formats):
                return None
            self._format_at = max(self._format_at, at + 1)
            return self._formats[self._format_at]

    def _body(self, query: str, fmt: str) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": build_messages(self.domains, query, cfg.language, cfg.answer_shape),
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "stream": False,
        }
        if fmt == "json_schema":
            schema = {"name": "gqr_verdict", "strict": True,
                      "schema": verdict_schema(self.domains, shape=cfg.answer_shape)}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif fmt == "json_object":
            body["response_format"] = {"type": "json_object",
                                       "schema": verdict_schema(self.domains, paired=True, shape=cfg.answer_shape)}
        return body

    def _retry_delay(self, outcome: _Outcome, retry: int) -> float | None:
        """Seconds to wait before retrying ``outcome``, or None when it is final."""
        hx = self._httpx
        if retry > self.config.max_retries:
            return None
        if isinstance(outcome, (hx.TimeoutException, hx.NetworkError, hx.RemoteProtocolError)):
            return self._governor.backoff(retry)
        if isinstance(outcome, hx.Response) and (outcome.status_code == 429 or outcome.status_code >= 500):
            return self._governor.backoff(retry, _retry_after(outcome))
        return None

    def _conclude(self, outcome: _Outcome, fmt: str) -> JudgeVerdict:
        """The one boundary where an httpx result becomes a verdict or a ``JudgeError``."""
        hx, cfg = self._httpx, self.config
        where = f"{cfg.url} (model {cfg.model!r})"
        if isinstance(outcome, hx.TimeoutException):
            raise JudgeTimeoutError(
                f"the judge at {where} did not answer within {cfg.timeout}s; "
                "raise JudgeConfig.timeout or use a smaller model"
            ) from outcome
        if isinstance(outcome, hx.HTTPError):
            raise JudgeUnavailableError(
                f"cannot reach the judge at {where}: {type(outcome).__name__}: {outcome}; "
                "is the server running and is base_url right?"
            ) from outcome
        response = cast("httpx.Response", outcome)
        status = response.status_code
        if status == 429 or status >= 500:
            raise JudgeUnavailableError(f"the judge at {where} answered HTTP {status}: {_excerpt(response)}")
        if status >= 400:
            raise JudgeUnavailableError(f"the judge at {where} refused the request with HTTP {status}: "
                                        f"{_excerpt(response)}; {_hint(status, fmt)}")
        try:
            payload = response.json()
            choice = payload["choices"][0]
            message = choice["message"]
            content = message.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise JudgeResponseError(
                f"the judge at {where} did not return a chat completion: {_excerpt(response)}"
            ) from exc
        if content is None:
            refusal = message.get("refusal")
            raise JudgeResponseError(f"the judge gave no answer{f' (refusal: {refusal!r})' if refusal else ''}")
        if choice.get("finish_reason") == "length" and not str(content).strip().endswith(("}", "```")):
            raise JudgeResponseError(
                f"the judge's answer was cut at max_tokens={cfg.max_tokens}; raise JudgeConfig.max_tokens"
            )
        label, reason = parse_verdict(content, self.domains)
        return JudgeVerdict(label=label, reason=reason, confidence=cfg.verdict_confidence, raw=content)

    # -- the two drivers -------------------------------------------------------------------
    def _run(self, plan: _Plan) -> JudgeVerdict:
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    outcome: _Outcome = self._sync_client().post(self.config.url, json=step.body)
                except self._httpx.HTTPError as exc:
                    outcome = exc
                step = plan.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            plan.close()

    async def _arun(self, plan: _Plan) -> JudgeVerdict:
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    outcome: _Outcome = await self._async_client().post(self.config.url, json=step.body)
                except self._httpx.HTTPError as exc:
                    outcome = exc
                step = plan.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            plan.close()

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                transport = self._transport if isinstance(self._transport, self._httpx.BaseTransport) else None
                self._client = self._httpx.Client(
                    headers=self._headers, timeout=self.config.timeout, transport=transport
                )
            return self._client

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aclient is None or self._aloop is not loop:
                # A pool belongs to one event loop; a new loop (a new asyncio.run) gets a new one.
                transport = self._transport if isinstance(self._transport, self._httpx.AsyncBaseTransport) else None
                self._aclient = self._httpx.AsyncClient(
                    headers=self._headers, timeout=self.config.timeout, transport=transport
                )
                self._aloop = loop
            return self._aclient

    def _judge_or_error(self, text: str | bytes) -> JudgeVerdict | GQRError:
        try:
            return self.judge(text)
        except GQRError as exc:
            return exc


def _refused(outcome: _Outcome, fmt: str) -> bool:
    """True when the server refused a request that asked for a structured answer: HTTP 400 or
    422, or an error that names ``response_format`` (llama-cpp-python answers 500 to it)."""
    status = getattr(outcome, "status_code", None)
    if fmt == "text" or status is None or status < 400 or status == 429:
        return False
    return status in (400, 422) or "response_format" in cast("httpx.Response", outcome).text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else "")) if text else "(empty body)"


def _hint(status: int, fmt: str) -> str:
    if status in (401, 403):
        return "check JudgeConfig.api_key"
    if status == 404:
        return "check JudgeConfig.base_url (it should end before /chat/completions) and the model name"
    if status in (400, 422) and fmt != "text":
        return (f"the server may not support answer format {fmt!r}: use JudgeConfig(answer_format='auto') "
                "to fall back to plain text")
    if status in (400, 422):
        return "the server refused even a plain-text request: check the model name and JudgeConfig.max_tokens"
    return "check the judge configuration"


def _describe(outcome: _Outcome) -> str:
    if outcome is None:
        return "no outcome"
    status = getattr(outcome, "status_code", None)
    return f"HTTP {status}" if status is not None else type(outcome).__name__
