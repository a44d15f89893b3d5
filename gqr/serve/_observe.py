"""ASGI middlewares around the whole server: request ids, access log, metrics, body limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from gqr.serve._asgi import (
    ASGIApp,
    BodyTooLarge,
    ClientGone,
    Message,
    Receive,
    Scope,
    Send,
    error_body,
    header,
    read_body,
    replay,
    send_json,
)
from gqr.serve._logging import new_request_id, request_id_var
from gqr.serve._metrics import Metrics

__all__ = ["BodyLimitMiddleware", "ObserveMiddleware"]

logger = logging.getLogger("gqr.serve.access")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before the app parses anything.

    The body is read (at most ``max_bytes``) and replayed to the app, so a too-large or
    endless chunked body never reaches a JSON parser.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, self.max_bytes)
        except BodyTooLarge as exc:
            await send_json(send, 413, error_body(413, "request_too_large", str(exc)), [(b"connection", b"close")])
            return
        except ClientGone:
            scope.setdefault("state", {})["gqr_log"] = {"disconnected": True}
            return
        await self.app(scope, replay(body, receive), send)


class ObserveMiddleware:
    """Give every HTTP request an id (``X-Request-ID``, echoed back), count it, time it and
    write one JSON access line. Endpoints outside ``endpoints`` are counted as ``other`` so
    the metric labels stay bounded. Handlers add fields to the access line through
    ``scope["state"]["gqr_log"]`` (a dict)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: Collection[str], access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = set(endpoints)
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = header(scope, b"x-request-id")
        rid = new_request_id(raw.decode("latin-1") if raw is not None else None)
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = 0
        gone = False

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = dict(message, headers=[*message.get("headers", []), (b"x-request-id", rid.encode())])
            await send(message)

        async def receive_watch() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and status == 0:
                gone = True
            return message

        try:
            await self.app(scope, receive_watch, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"path": scope["path"][:200]})
            if status == 0:
                status = 500
                await send_json(send, 500, error_body(500, "internal_error", "internal server error; see the server log",
                                                       request_id=rid), [(b"x-request-id", rid.encode())])
        finally:
            elapsed = time.perf_counter() - start
            endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
            state = scope.get("state") or {}
            extra = dict(state.get("gqr_log") or {})
            gone = gone or bool(extra.get("disconnected"))
            if gone:
                self.metrics.disconnects.inc()
            shown = status or 499  # 499: the client closed the connection before an answer
            self.metrics.requests.inc(endpoint, str(shown))
            self.metrics.latency.observe(elapsed, endpoint)
            self.metrics.sync()
            if self.access_log:
                logger.info("request", extra={"method": scope.get("method"), "path": scope["path"][:200], "status": shown,
                                              "duration_ms": round(elapsed * 1000, 3), **extra})
            request_id_var.reset(token)
