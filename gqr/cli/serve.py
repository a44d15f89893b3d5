"""``gqr serve``: the HTTP server (route, batch, health, metrics, reload, OpenAI proxy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from gqr.cli._common import Coverage, JudgeModel, JudgeUrl, ModelOpt, Uncertain, make_router, usage_error


def serve(
    model: ModelOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes sharing one loaded model (pre-fork).")] = 1,
    proxy_config: Annotated[Path | None, typer.Option("--proxy-config", help="JSON file of per-domain upstreams: enables POST /v1/chat/completions.")] = None,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted (413 above).")] = 1 << 20,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most texts in one /route/batch call (413 above).")] = 1024,
    admin_token: Annotated[str | None, typer.Option("--admin-token", envvar="GQR_ADMIN_TOKEN", show_envvar=True, help="Bearer token for /admin/reload; without it only loopback clients may reload.")] = None,
    watch: Annotated[float | None, typer.Option("--watch", min=0.1, help="Poll the model directory every SECONDS and reload when it changes.")] = None,
    graceful_timeout: Annotated[int, typer.Option("--graceful-timeout", min=0, help="Seconds to let requests in flight finish on SIGTERM.")] = 10,
    limit_concurrency: Annotated[int | None, typer.Option("--limit-concurrency", min=1, help="Answer 503 above this many open connections per worker.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    log_queries: Annotated[bool, typer.Option("--log-queries", help="Put query text in the logs (off: queries are user data).")] = False,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="One JSON line per request.")] = True,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    uncertain: Uncertain = "model",
    coverage: Coverage = None,
) -> None:
    """Serve the router over HTTP: POST /route, POST /route/batch, GET /healthz, GET /metrics.

    Reload a new model without dropping requests: replace the model directory, then send
    SIGHUP, POST /admin/reload, or use --watch. A broken artifact keeps the old model serving.
    """
    from gqr.errors import require

    require("fastapi", "serve", "`gqr serve`")
    require("uvicorn", "serve", "`gqr serve`")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise usage_error(f"--log-level {log_level!r}: use debug, info, warning or error")
    from gqr.router import Router, default_model_path
    from gqr.serve import ProxyConfig, RouterHolder, ServeSettings, configure_logging, create_app, run

    configure_logging(log_level, log_queries)
    proxy = ProxyConfig.from_file(proxy_config) if proxy_config is not None else None
    router = make_router(model, judge_url, judge_model, uncertain, coverage)

    def loader(path: Path) -> Any:
        return Router.load(path, uncertain=router.uncertain, coverage=router.coverage, judge=router.judge,
                           rules=router.rules)

    holder = RouterHolder(router, model if model is not None else default_model_path(), loader)
    settings = ServeSettings(
        max_body_bytes=max_body_bytes, max_batch=max_batch, admin_token=admin_token or None, watch_interval=watch,
        log_queries=log_queries, access_log=access_log,
    )
    os.environ.pop("GQR_ADMIN_TOKEN", None)  # keep the token out of child environments
    run(lambda h, hook: create_app(h, settings, proxy, reload_hook=hook), holder, host=host, port=port,
        workers=workers, graceful_timeout=graceful_timeout, limit_concurrency=limit_concurrency)
