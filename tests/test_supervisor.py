"""The prefork supervisor's SIGHUP handler survives a second SIGHUP during a reload, and its
own reload is not counted in the workers' metrics."""

from __future__ import annotations

import signal
import threading
from typing import Any

from gqr.serve._server import _Supervisor


class _ReenteringHolder:
    """Stands in for RouterHolder: a non-reentrant lock, and a second SIGHUP delivered
    (the handler called again, as the interpreter does) in the middle of the first reload."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reloads = 0
        self.supervisor: Any = None

    def reload(self, notify: bool = True) -> None:
        assert not notify, "the parent's reload must not reach the metrics listeners (workers count their own)"
        assert self.lock.acquire(blocking=False), "reload re-entered while holding the lock (would deadlock)"
        try:
            self.reloads += 1
            if self.reloads == 1:
                self.supervisor.on_hup(signal.SIGHUP, None)
        finally:
            self.lock.release()


def test_sighup_during_a_reload_queues_one_more_reload() -> None:
    holder = _ReenteringHolder()
    sup = _Supervisor(app=None, holder=holder, sock=None, workers=0, config=None)  # type: ignore[arg-type]
    holder.supervisor = sup
    sup.on_hup(signal.SIGHUP, None)
    assert holder.reloads == 2 and not sup.reloading
    sup.on_hup(signal.SIGHUP, None)
    assert holder.reloads == 3
