"""``GuardMiddleware``: route the requests of the paths it guards before the app sees them
(any ASGI app: FastAPI, Starlette, ...).

What is guarded: HTTP requests whose method is in ``methods`` (default ``("POST",)``) and
whose path is in ``paths``. A path matches exactly; one ending in ``/*`` matches everything
below it (``"/chat/*"`` guards ``/chat/1`` but not ``/chat`` nor ``/chatroom``). Without
``paths`` the guarded paths are the domain endpoints named in ``routes`` (its values);
with neither, construction fails. Every other request (other paths and methods, form posts,
uploads, websockets) goes to the app untouched: the body is not read.

A guarded request's query is read from a header or a field of the JSON body, routed with
``Router.aroute`` (a judge is awaited, never blocking the event loop), and the ``Decision``
is stored on ``request.state`` (``scope["state"][state_key]``). Then, in this order:

1. ``on_decision(request, decision)``, if given, may return an ASGI response (e.g. a
   Starlette ``Response``) to answer with; returning ``None`` continues below.
2. An accepted query goes to the app, at the path ``routes[domain]`` when that mapping names
   its domain (the original path is kept in ``scope["state"]["gqr_original_path"]``), with
   headers ``X-GQR-Route`` and ``X-GQR-Reason`` added to the app's response.
3. A rejected query is answered with a JSON error
   ``{"error": {"type": "rejected", "reason", "message", "status", "decision"}}``.

Status codes of a guarded request that is not passed on (``reject_status`` overrides the
first four: one int for all, or a mapping by reason):

- ``out_of_domain``, ``other_language``, ``unsafe``: 403;
- ``invalid_input`` (empty or invalid text once cleaned): 400;
- the query cannot be read (body not JSON, no string at ``field``, header missing): 400,
  ``{"error": {"type": "invalid_request"}}``;
- a body over ``max_body_bytes``: 413.

The rejection's ``decision`` (``expose_decision``, on by default) holds route, reason,
source, confidence and uncertain; the model's per-class ``scores`` and the ``detail`` (such
as which unsafe rule matched) are sent only with ``expose_scores=True``: they help someone
probing the guard more than they help a user.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gqr.decision import Decision, Reason
from gqr.router import Router
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
from gqr.serve._holder import RouterHolder

__all__ = ["DEFAULT_REJECT_MESSAGES", "GuardMiddleware", "extract_field"]

logger = logging.getLogger("gqr.serve")

DEFAULT_REJECT_MESSAGES = {
    Reason.OUT_OF_DOMAIN.value: "This service only answers questions in its domains.",
    Reason.OTHER_LANGUAGE.value: "This service only answers questions in its supported language.",
    Reason.UNSAFE.value: "This request was refused by the safety policy.",
    Reason.INVALID_INPUT.value: "The query is empty or not valid text.",
}


def extract_field(payload: Any, path: str) -> Any:
    """``payload`` at a dotted ``path``: ``"query"``, ``"input.text"``, ``"messages.-1.content"``.

    Integer parts index lists (negative from the end). Raises ``KeyError`` naming the first
    part that is not there.
    """
    node = payload
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                raise KeyError(part) from None
        else:
            raise KeyError(part)
    return node


def _as_getter(router: Router | RouterHolder | Callable[[], Router]) -> Callable[[], Router]:
    if isinstance(router, RouterHolder):
        return lambda: router.router
    if isinstance(router, Router):
        return lambda: router
    if callable(router):
        return router
    raise TypeError(f"router must be a Router, a RouterHolder or a callable returning one, got {type(router).__name__}")


def _path_matcher(paths: Sequence[str] | None, routes: Mapping[str, str]) -> Callable[[str], bool]:
    """A test for the guarded paths: exact entries, and ``/prefix/*`` entries."""
    if paths is None:
        if not routes:
            raise ValueError("GuardMiddleware needs paths=[...] (the request paths to guard, e.g. paths=['/chat']) "
                             "or routes={domain: path} (then the domain endpoints are guarded); "
                             "every other request passes through untouched")
        paths = sorted(set(routes.values()))
    if isinstance(paths, str):
        raise TypeError(f"paths={paths!r}: give a list of paths, e.g. paths=[{paths!r}]")
    exact: set[str] = set()
    prefixes: list[str] = []
    for p in paths:
        if not isinstance(p, str) or not p.startswith("/"):
            raise ValueError(f"paths entry {p!r}: give an absolute path such as '/chat' (or '/chat/*' for all below it)")
        if p.endswith("/*"):
            prefixes.append(p[:-1])
        else:
            exact.add(p)
    return lambda path: path in exact or any(path.startswith(q) for q in prefixes)


class GuardMiddleware:
    """Guard the named paths of an ASGI app with a gqr router (see the module docstring).

    ``paths`` are the request paths to guard (exact, or ``"/prefix/*"``); without it, the
    endpoints named in ``routes``. ``methods`` (default POST) are the guarded methods.
    ``field`` is a dotted path into the JSON body; ``header`` (e.g. ``"x-query"``) takes the
    query from a header instead, falling back to ``field`` when the header is absent (set
    ``field=None`` to require the header). ``expose_scores=True`` adds the per-class scores
    and the detail to rejections.
    """

    def __init__(
        self,
        app: ASGIApp,
        router: Router | RouterHolder | Callable[[], Router],
        *,
        paths: Sequence[str] | None = None,
        methods: Sequence[str] = ("POST",),
        field: str | None = "query",
        header: str | None = None,
        routes: Mapping[str, str] | None = None,
        on_decision: Callable[[Any, Decision], Any] | None = None,
        reject_status: int | Mapping[str, int] | None = None,
        reject_messages: Mapping[str, str] | None = None,
        max_body_bytes: int = 1 << 20,
        state_key: str = "decision",
        expose_decision: bool = True,
        expose_scores: bool = False,
    ) -> None:
        if field is None and header is None:
            raise ValueError("GuardMiddleware needs a JSON field, a header, or both to read the query from")
        for domain, target in (routes or {}).items():
            if not isinstance(target, str) or not target.startswith("/"):
                raise ValueError(f"routes[{domain!r}] = {target!r}: give an absolute path such as '/{domain}'")
        if isinstance(methods, str):
            raise TypeError(f"methods={methods!r}: give a list of methods, e.g. methods=[{methods!r}]")
        self.app = app
        self.get_router = _as_getter(router)
        self.field = field
        self.header = header.lower().encode("latin-1") if header else None
        self.routes = dict(routes or {})
        self.on_decision = on_decision
        statuses = {Reason.INVALID_INPUT.value: 400}
        if isinstance(reject_status, int):
            statuses = {r.value: reject_status for r in Reason}
        elif reject_status is not None:
            statuses.update({str(k): int(v) for k, v in reject_status.items()})
        self.reject_status = statuses
        self.reject_messages = {**DEFAULT_REJECT_MESSAGES, **(reject_messages or {})}
        self.methods = {m.upper() for m in methods}
        self.guards_path = _path_matcher(paths, self.routes)
        self.max_body_bytes = max_body_bytes
        self.state_key = state_key
        self.expose_decision = expose_decision
        self.expose_scores = expose_scores

    def _guards(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method", "GET").upper() not in self.methods:
            return False
        return self.guards_path(scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._guards(scope):
            await self.app(scope, receive, send)
            return
        try:
            query, receive = await self._query(scope, receive)
        except BodyTooLarge as exc:
            await send_json(send, 413, error_body(413, "request_too_large", str(exc)))
            return
        except ClientGone:
            return
        except ValueError as exc:
            await send_json(send, 400, error_body(400, "invalid_request", str(exc)))
            return
        decision = await self.get_router().aroute(query)
        state = scope.setdefault("state", {})
        state[self.state_key] = decision
        if self.on_decision is not None:
            answer = await self._callback(scope, receive, decision)
            if answer is not None:
                await answer(scope, receive, send)
                return
        if decision.accepted:
            await self._forward(scope, receive, send, decision)
        else:
            await self._reject(send, decision)

    async def _query(self, scope: Scope, receive: Receive) -> tuple[str | bytes, Receive]:
        if self.header is not None:
            value = header(scope, self.header)
            if value is not None:
                return value, receive  # bytes: the router checks UTF-8
            if self.field is None:
                raise ValueError(f"the query header {self.header.decode()!r} is missing")
        body = await read_body(scope, receive, self.max_body_bytes)
        try:
            payload = json.loads(body)
        except ValueError:
            raise ValueError("the request body is not valid JSON") from None
        assert self.field is not None
        try:
            value = extract_field(payload, self.field)
        except KeyError:
            raise ValueError(f"the JSON body has no field {self.field!r} with the query") from None
        if not isinstance(value, str):
            raise ValueError(f"the field {self.field!r} must be a string, got {type(value).__name__}")
        return value, replay(body, receive)

    async def _callback(self, scope: Scope, receive: Receive, decision: Decision) -> Any:
        from starlette.requests import Request

        assert self.on_decision is not None
        result = self.on_decision(Request(scope, receive), decision)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _forward(self, scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
        target = self.routes.get(decision.route or "")
        if target is not None:
            scope.setdefault("state", {})["gqr_original_path"] = scope["path"]
            scope = dict(scope, path=target, raw_path=target.encode("utf-8"))
        tags = [(b"x-gqr-route", (decision.route or "").encode("utf-8")), (b"x-gqr-reason", decision.reason.value.encode())]

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *tags])
            await send(message)

        await self.app(scope, receive, tagged)

    async def _reject(self, send: Send, decision: Decision) -> None:
        reason = decision.reason.value
        status = self.reject_status.get(reason, 403)
        extra: dict[str, Any] = {"reason": reason}
        if self.expose_decision:
            shown = decision.to_dict()
            if not self.expose_scores:
                del shown["scores"], shown["detail"]
            extra["decision"] = shown
        body = error_body(status, "rejected", self.reject_messages.get(reason, "This request was refused."), **extra)
        await send_json(send, status, body, [(b"x-gqr-reason", reason.encode())])
