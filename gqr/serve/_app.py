"""``create_app``: the FastAPI app behind ``gqr serve``.

Endpoints: ``POST /route``, ``POST /route/batch``, ``GET /healthz``, ``GET /metrics``,
``POST /admin/reload`` and, with a ``ProxyConfig``, the OpenAI-compatible
``POST /v1/chat/completions`` and ``GET /v1/models``. Every error is JSON:
``{"error": {"type", "message", "status"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gqr.decision import Decision
from gqr.router import Router
from gqr.serve._asgi import error_body
from gqr.serve._holder import ReloadResult, RouterHolder
from gqr.serve._metrics import Metrics
from gqr.serve._observe import BodyLimitMiddleware, ObserveMiddleware
from gqr.serve._proxy import ProxyConfig, install_proxy
from gqr.serve._settings import ServeSettings
from gqr.serve._watch import watch_model

__all__ = ["create_app"]

logger = logging.getLogger("gqr.serve")

ENDPOINTS = ("/route", "/route/batch", "/healthz", "/metrics", "/admin/reload", "/v1/chat/completions", "/v1/models")


class RouteRequest(BaseModel):
    text: StrictStr = Field(description="The query to route.")


class BatchRequest(BaseModel):
    texts: list[Any] = Field(description="The queries to route; a non-text item gets an invalid_input decision.")


class _BadRequest(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    """The JSON body as ``model`` (whatever the Content-Type says: curl users forget it)."""
    try:
        payload = json.loads(await request.body())
    except ValueError:
        raise _BadRequest(400, "invalid_json", "the request body is not valid JSON") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise _BadRequest(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}") from None


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}, "required": True}
    return {"requestBody": schema}


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, kind, message, **extra), status_code=status)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def create_app(
    model: str | os.PathLike[str] | Router | RouterHolder,
    settings: ServeSettings | None = None,
    proxy: ProxyConfig | None = None,
    *,
    metrics: Metrics | None = None,
    reload_hook: Callable[[RouterHolder], Any] | None = None,
) -> FastAPI:
    """The gqr HTTP app for ``model`` (a model directory, a ``Router`` or a ``RouterHolder``).

    The model is loaded once, here, and shared by every request. ``reload_hook`` replaces
    how ``/admin/reload`` reloads (the pre-fork server uses it to reload every worker).
    """
    settings = settings or ServeSettings()
    if isinstance(model, RouterHolder):
        holder = model
    elif isinstance(model, Router):
        holder = RouterHolder(model)
    else:
        holder = RouterHolder.load(Path(model))
    metrics = metrics or Metrics()

    def count_reload(result: ReloadResult) -> None:
        metrics.reloads.inc("ok" if result.ok else "error")
        metrics.sync()

    holder.on_reload(count_reload)
    _collect_model(metrics, holder)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        loop = asyncio.get_running_loop()
        sighup = False
        if settings.reload_on_sighup and hasattr(signal, "SIGHUP"):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
                loop.add_signal_handler(signal.SIGHUP, lambda: tasks.append(loop.create_task(holder.areload())))
                sighup = True
        if settings.watch_interval is not None and holder.path is not None:
            tasks.append(loop.create_task(watch_model(holder, settings.watch_interval)))
        metrics.sync()  # this worker's model generation, for metrics shared by several workers
        logger.info("serving", extra={"event": "start", "pid": os.getpid(), **holder.describe()})
        try:
            yield
        finally:
            if sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            await app.state.gqr_close()
            logger.info("stopped", extra={"event": "stop", "pid": os.getpid()})

    app = FastAPI(title="gqr", summary="Guarded query routing", lifespan=lifespan)
    app.state.gqr_holder = holder
    app.state.gqr_metrics = metrics
    closers: list[Callable[[], Any]] = []

    async def close_all() -> None:
        for close in closers:
            with contextlib.suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        judge = holder.router.judge
        if judge is not None and hasattr(judge, "aclose"):
            with contextlib.suppress(Exception):
                await judge.aclose()

    app.state.gqr_close = close_all
    _install_errors(app)

    def note(request: Request, decisions: list[Decision], texts: list[Any]) -> None:
        metrics.count_decisions(decisions)
        fields: dict[str, Any] = {"rows": len(decisions)}
        if len(decisions) == 1:
            d = decisions[0]
            fields.update(route=d.route, reason=d.reason.value, source=d.source.value, confidence=round(d.confidence, 4))
        if settings.log_queries:
            fields["query"] = texts[0] if len(texts) == 1 else texts
        request.scope.setdefault("state", {})["gqr_log"] = fields

    @app.post("/route", summary="Route one query", openapi_extra=_body_doc(RouteRequest))
    async def route(request: Request) -> Response:
        body = await _parse(request, RouteRequest)
        decision = await holder.router.aroute(body.text)
        note(request, [decision], [body.text])
        return JSONResponse(decision.to_dict())

    @app.post("/route/batch", summary="Route many queries in one call", openapi_extra=_body_doc(BatchRequest))
    async def route_batch(request: Request) -> Response:
        body = await _parse(request, BatchRequest)
        if len(body.texts) > settings.max_batch:
            return _error(413, "batch_too_large", f"{len(body.texts)} texts in one batch; the limit is {settings.max_batch}: split it")
        router = holder.router
        texts = list(body.texts)
        if len(texts) >= settings.thread_rows:
            decisions = await anyio.to_thread.run_sync(router.route_batch, texts)
        else:
            decisions = await router.aroute_batch(texts)
        note(request, decisions, body.texts)
        return JSONResponse({"decisions": [d.to_dict() for d in decisions]})

    @app.get("/healthz", summary="Liveness, and which model is serving")
    async def healthz() -> Response:
        out: dict[str, Any] = {"status": "ok", "pid": os.getpid(), "model": holder.describe()}
        judge = holder.router.judge
        if judge is not None and hasattr(judge, "stats"):
            out["judge"] = judge.stats().to_dict()
        return JSONResponse(out)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/admin/reload", summary="Reload the model directory; a bad artifact keeps the old model")
    async def admin_reload(request: Request) -> Response:
        if settings.admin_token is not None:
            if request.headers.get("authorization") != f"Bearer {settings.admin_token}":
                return _error(401, "unauthorized", "send Authorization: Bearer <admin token>")
        elif not _is_loopback(request):
            return _error(403, "forbidden", "reloading from another host needs an admin token (--admin-token / GQR_ADMIN_TOKEN)")
        result: ReloadResult = await (reload_hook(holder) if reload_hook else holder.areload())
        status = 200 if result.ok else 422
        return JSONResponse({**result.to_dict(), "serving_generation": holder.generation}, status_code=status)

    if proxy is not None:
        closers.append(install_proxy(app, holder, proxy, metrics, settings.log_queries))

    endpoints = [e for e in ENDPOINTS if proxy is not None or not e.startswith("/v1/")]
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=metrics, endpoints=endpoints, access_log=settings.access_log)
    return app


def _collect_model(metrics: Metrics, holder: RouterHolder) -> None:
    metrics.collect("gqr_model_generation", "Generation of the serving model (1 at start, +1 per successful reload).",
                    "gauge", lambda: [({}, holder.generation)])

    def judge_counters() -> list[tuple[dict[str, str], float]]:
        judge = holder.router.judge
        if judge is None or not hasattr(judge, "stats"):
            return []
        s = judge.stats()
        return [({"result": "success"}, s.successes), ({"result": "failure"}, s.failures),
                ({"result": "cache_hit"}, s.cache_hits), ({"result": "budget_refused"}, s.budget_rejections),
                ({"result": "circuit_refused"}, s.circuit_rejections)]

    metrics.collect("gqr_judge_calls_total", "Judge calls by result (from the judge client's own counters).",
                    "counter", judge_counters)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(_BadRequest)
    async def bad_request(request: Request, exc: _BadRequest) -> Response:
        return _error(exc.status, exc.kind, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "invalid_json", "the request body is not valid JSON")
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, kind, str(exc.detail))
