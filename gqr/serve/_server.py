"""Run the app with uvicorn: one process, or a pre-fork pool sharing one loaded model.

With ``workers > 1`` the parent loads the model once, binds the socket, and forks the
workers, which share the model's memory copy-on-write and accept on the same socket. The
parent only supervises: it restarts a worker that dies, passes SIGTERM/SIGINT on for a
graceful stop, and on SIGHUP reloads its own copy (for future restarts) and tells every
worker to reload. ``/admin/reload`` in a worker goes through the parent the same way, so
every worker reloads; the one that took the request answers once its own load is done, and
the others switch as soon as theirs is (each worker loads its own copy, in parallel).

The workers' metrics go to a fresh directory made for the run (``$PROMETHEUS_MULTIPROC_DIR``,
inside the one already set if any) and removed at exit, so ``/metrics`` in any worker
reports the whole server (see ``gqr.serve._metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from gqr.serve._holder import ReloadResult, RouterHolder
from gqr.serve._metrics import MULTIPROCESS_ENV, forget_process

__all__ = ["run"]

logger = logging.getLogger("gqr.serve")


def _config(app: Any, host: str, port: int, graceful_timeout: int, limit_concurrency: int | None) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on", server_header=False,
        timeout_graceful_shutdown=graceful_timeout, limit_concurrency=limit_concurrency, timeout_keep_alive=5,
    )


def run(
    make_app: Callable[[RouterHolder, Callable[[RouterHolder], Any] | None], Any],
    holder: RouterHolder,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    graceful_timeout: int = 10,
    limit_concurrency: int | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. ``make_app(holder, reload_hook)`` builds the ASGI app."""
    import uvicorn

    if workers <= 1:
        uvicorn.Server(_config(make_app(holder, None), host, port, graceful_timeout, limit_concurrency)).run()
        return
    if not hasattr(os, "fork"):
        raise RuntimeError("--workers > 1 needs os.fork (Linux, macOS); run one worker per process manager slot instead")
    with shared_metrics_dir():
        app = make_app(holder, _ask_parent)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
        _Supervisor(app, holder, sock, workers, _config(app, host, port, graceful_timeout, limit_concurrency)).run()


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh, empty metrics directory in ``$PROMETHEUS_MULTIPROC_DIR`` for this run; the
    variable is restored and the directory removed afterwards."""
    before = os.environ.get(MULTIPROCESS_ENV)
    directory = tempfile.mkdtemp(prefix="gqr-metrics-", dir=before if before and os.path.isdir(before) else None)
    os.environ[MULTIPROCESS_ENV] = directory
    try:
        yield directory
    finally:
        if before is None:
            os.environ.pop(MULTIPROCESS_ENV, None)
        else:
            os.environ[MULTIPROCESS_ENV] = before
        shutil.rmtree(directory, ignore_errors=True)


async def _ask_parent(holder: RouterHolder) -> ReloadResult:
    """A worker's ``/admin/reload``: SIGHUP the parent, wait for our own reload to finish."""
    before = holder.attempts
    os.kill(os.getppid(), signal.SIGHUP)
    deadline = time.monotonic() + 120.0
    while holder.attempts == before and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if holder.last_result is None or holder.attempts == before:
        return ReloadResult(False, holder.generation, str(holder.path), "the reload did not finish within 120s")
    return holder.last_result


class _Supervisor:
    def __init__(self, app: Any, holder: RouterHolder, sock: socket.socket, workers: int, config: Any) -> None:
        self.app, self.holder, self.sock, self.workers, self.config = app, holder, sock, workers, config
        self.children: dict[int, float] = {}
        self.stopping = False
        self.quick_deaths = 0
        self.reloading = False
        self.reload_again = False

    def spawn(self) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            import uvicorn

            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            code = 0
            try:
                uvicorn.Server(self.config).run(sockets=[self.sock])
            except BaseException:
                logger.exception("worker crashed")
                code = 1
            finally:
                os._exit(code)
        self.children[pid] = time.monotonic()

    def forward(self, sig: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def on_stop(self, signum: int, frame: Any) -> None:
        self.stopping = True
        self.forward(signal.SIGTERM)

    def on_hup(self, signum: int, frame: Any) -> None:
        """Forward SIGHUP to the workers and reload here too, so a restarted worker gets the
        same model as the others. A SIGHUP that arrives during a reload (this handler runs
        again, in the same thread, while the holder's lock is held) asks for one more reload
        instead of waiting on the lock forever."""
        self.forward(signal.SIGHUP)
        if self.reloading:
            self.reload_again = True
            return
        self.reloading = True
        try:
            self.reload_again = True
            while self.reload_again:
                self.reload_again = False
                self.holder.reload(notify=False)  # the workers count their own reloads
        finally:
            self.reloading = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, self.on_stop)
        signal.signal(signal.SIGHUP, self.on_hup)
        logger.info("starting workers", extra={"event": "prefork", "workers": self.workers, "pid": os.getpid()})
        for _ in range(self.workers):
            self.spawn()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = self.children.pop(pid, None)
            forget_process(pid)
            if self.stopping or started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            logger.error("worker died; starting another", extra={"event": "worker_exit", "worker": pid, "code": code})
            self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < 2.0 else 0
            if self.quick_deaths >= 5:
                logger.error("workers keep dying at start; stopping", extra={"event": "prefork"})
                self.on_stop(signal.SIGTERM, None)
                continue
            self.spawn()
        self.sock.close()
