"""Put gqr in front of real traffic: an HTTP server, an ASGI middleware, an OpenAI proxy.

Needs the ``serve`` extra (``pip install 'gqr[serve]'``: FastAPI, uvicorn, httpx,
prometheus-client for ``/metrics`` across worker processes).

- ``create_app(model, settings, proxy)``: the FastAPI app of ``gqr serve``.
- ``GuardMiddleware``: guard any ASGI app (FastAPI, Starlette) with a router.
- ``ProxyConfig`` / ``Upstream``: per-domain upstreams for ``POST /v1/chat/completions``.
- ``RouterHolder``: the live router, reloaded atomically.
"""

from __future__ import annotations

from gqr.errors import require

require("fastapi", "serve", "gqr.serve")
require("httpx", "serve", "gqr.serve")

from gqr.serve._app import create_app
from gqr.serve._holder import ReloadResult, RouterHolder
from gqr.serve._logging import JsonFormatter, configure_logging
from gqr.serve._metrics import Metrics
from gqr.serve._middleware import GuardMiddleware, extract_field
from gqr.serve._proxy import ProxyConfig, Upstream, last_user_text
from gqr.serve._server import run
from gqr.serve._settings import ServeSettings

__all__ = [
    "GuardMiddleware",
    "JsonFormatter",
    "Metrics",
    "ProxyConfig",
    "ReloadResult",
    "RouterHolder",
    "ServeSettings",
    "Upstream",
    "configure_logging",
    "create_app",
    "extract_field",
    "last_user_text",
    "run",
]
