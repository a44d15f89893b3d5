"""An OpenAI-compatible proxy: ``POST /v1/chat/completions`` routed by its last user message.

An accepted query is forwarded (streaming or not) to the upstream configured for its
domain, with the ``model`` field replaced by that upstream's model. A rejected query is
answered in the chat-completion format itself (a ``chat.completion``, or a
``chat.completion.chunk`` stream when ``stream`` is true), so OpenAI clients need no
special error handling; the ``gqr`` field of that answer carries the decision.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gqr.decision import Decision, Reason
from gqr.errors import InvalidInputError
from gqr.serve._holder import RouterHolder
from gqr.serve._logging import request_id_var
from gqr.serve._metrics import Metrics
from gqr.serve._middleware import DEFAULT_REJECT_MESSAGES

__all__ = ["ProxyConfig", "Upstream", "install_proxy", "last_user_text"]

#: The key of ``ProxyConfig.upstreams`` used for domains without their own upstream.
ANY_DOMAIN = "*"


@dataclass(frozen=True)
class Upstream:
    """One OpenAI-compatible server: ``base_url`` ends before ``/chat/completions``."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"upstream base_url {self.base_url!r}: give an http(s) URL such as http://127.0.0.1:8000/v1")
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInputError("every upstream needs a model name")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"


@dataclass(frozen=True)
class ProxyConfig:
    """Which upstream serves each domain (``"*"``: every other domain), and how to reject.

    ``reject_status`` is the HTTP status of a rejection answer (200 keeps OpenAI clients
    happy); ``transport`` replaces the network in tests (an httpx async transport).
    """

    upstreams: Mapping[str, Upstream]
    reject_messages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REJECT_MESSAGES))
    reject_status: int = 200
    transport: Any = field(default=None, repr=False, compare=False)

    def upstream_for(self, domain: str) -> Upstream | None:
        return self.upstreams.get(domain) or self.upstreams.get(ANY_DOMAIN)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> ProxyConfig:
        """From ``{"upstreams": {"law": {"base_url", "model", "api_key_env", "timeout"}, ...},
        "reject_messages": {...}, "reject_status": 200}``. Keys come from the environment
        variables named by ``api_key_env``, never from the file."""
        env = os.environ if env is None else env
        if not isinstance(data, Mapping) or not isinstance(data.get("upstreams"), Mapping) or not data["upstreams"]:
            raise InvalidInputError('the proxy config needs "upstreams": {"<domain>": {"base_url": ..., "model": ...}}')
        upstreams: dict[str, Upstream] = {}
        for domain, spec in data["upstreams"].items():
            if not isinstance(spec, Mapping):
                raise InvalidInputError(f"upstreams[{domain!r}] must be an object with base_url and model")
            unknown = set(spec) - {"base_url", "model", "api_key_env", "timeout"}
            if unknown:
                raise InvalidInputError(f"upstreams[{domain!r}]: unknown key(s) {sorted(unknown)}")
            key_env = spec.get("api_key_env")
            if key_env is not None and key_env not in env:
                raise InvalidInputError(f"upstreams[{domain!r}]: environment variable {key_env} (api_key_env) is not set")
            upstreams[str(domain)] = Upstream(  # Upstream checks the types
                cast(str, spec.get("base_url")),
                cast(str, spec.get("model")),
                env[key_env] if key_env else None,
                float(spec.get("timeout", 60.0)),
            )
        messages = {**DEFAULT_REJECT_MESSAGES, **dict(data.get("reject_messages") or {})}
        return cls(upstreams, messages, int(data.get("reject_status", 200)))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ProxyConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{path}: cannot read the proxy config as JSON ({exc})") from None
        return cls.from_dict(data)


def last_user_text(payload: Any) -> str:
    """The text of the last ``user`` message (string content, or its text parts joined).

    Raises ``ValueError`` with a message for the client when there is none.
    """
    if not isinstance(payload, dict):
        raise ValueError("the request body must be a JSON object")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]
                if parts:
                    return "\n".join(parts)
            raise ValueError("the last user message has no text content")
    raise ValueError("no message with role 'user' in 'messages'")


def _openai_error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def _completion_id() -> str:
    return f"chatcmpl-gqr-{request_id_var.get() or uuid.uuid4().hex}"


def _rejection(payload: dict[str, Any], decision: Decision, config: ProxyConfig) -> Response:
    reason = decision.reason.value
    message = config.reject_messages.get(reason, "This request was refused.")
    finish = "content_filter" if decision.reason is Reason.UNSAFE else "stop"
    base = {"id": _completion_id(), "created": int(time.time()), "model": str(payload.get("model") or "gqr")}
    headers = {"x-gqr-reason": reason}
    if payload.get("stream") is True:
        first = {**base, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": message}, "finish_reason": None}]}
        last = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                "gqr": decision.to_dict()}
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in (first, last)) + "data: [DONE]\n\n"
        return Response(text, status_code=config.reject_status, media_type="text/event-stream", headers=headers)
    body = {**base, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": message}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "gqr": decision.to_dict()}
    return JSONResponse(body, status_code=config.reject_status, headers=headers)


class _Forwarder:
    """One shared ``httpx.AsyncClient`` to the upstreams (created on first use)."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.config.transport, timeout=60.0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def forward(self, payload: dict[str, Any], upstream: Upstream, route: str) -> Response:
        body = dict(payload, model=upstream.model)
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if upstream.api_key:
            headers["authorization"] = f"Bearer {upstream.api_key}"
        rid = request_id_var.get()
        if rid:
            headers["x-request-id"] = rid
        request = self.client.build_request("POST", upstream.url, json=body, headers=headers, timeout=upstream.timeout)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            return _openai_error(504, f"the upstream for {route!r} did not answer within {upstream.timeout}s",
                                 "upstream_error", "upstream_timeout")
        except httpx.HTTPError as exc:
            return _openai_error(502, f"cannot reach the upstream for {route!r}: {type(exc).__name__}",
                                 "upstream_error", "upstream_unavailable")
        out_headers = {"x-gqr-route": route}
        media = response.headers.get("content-type", "application/json")
        if payload.get("stream") is not True or response.status_code >= 400:
            try:
                content = await response.aread()
            except httpx.HTTPError:
                return _openai_error(502, f"the upstream for {route!r} broke off its answer", "upstream_error", "upstream_unavailable")
            finally:
                await response.aclose()
            return Response(content, status_code=response.status_code, media_type=media, headers=out_headers)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():  # decoded: content-encoding is not passed on
                    yield chunk
            finally:
                await response.aclose()  # also when the client went away mid-stream

        return StreamingResponse(relay(), status_code=response.status_code, media_type=media, headers=out_headers)


def install_proxy(app: FastAPI, holder: RouterHolder, config: ProxyConfig, metrics: Metrics,
                  log_queries: bool = False) -> Callable[[], Awaitable[None]]:
    """Add the proxy endpoints to ``app``; returns the coroutine function that closes it."""
    missing = [d for d in holder.router.labels if config.upstream_for(d) is None]
    if missing:
        raise InvalidInputError(f"the proxy config has no upstream for domain(s) {missing}; add them or a '*' entry")
    forwarder = _Forwarder(config)

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat completions, guarded and routed")
    async def chat_completions(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
            text = last_user_text(payload)
        except ValueError as exc:
            message = "the request body is not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            return _openai_error(400, message)
        decision = await holder.router.aroute(text)
        metrics.count_decisions([decision])
        log: dict[str, Any] = {"route": decision.route, "reason": decision.reason.value, "source": decision.source.value}
        if log_queries:
            log["query"] = text
        request.scope.setdefault("state", {})["gqr_log"] = log
        if decision.reason is Reason.INVALID_INPUT:
            return _openai_error(400, f"the last user message cannot be routed: {decision.detail}")
        if not decision.accepted:
            return _rejection(payload, decision, config)
        upstream = config.upstream_for(decision.route or "")
        if upstream is None:
            return _openai_error(502, f"no upstream is configured for domain {decision.route!r}", "upstream_error")
        return await forwarder.forward(payload, upstream, decision.route or "")

    @app.get("/v1/models", summary="The upstream models behind the proxy")
    async def models() -> Response:
        names = sorted({u.model for u in config.upstreams.values()})
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model", "owned_by": "gqr"} for n in names]})

    return forwarder.aclose
