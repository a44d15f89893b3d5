"""``ServeSettings``: the knobs of ``gqr serve``, as one frozen value object."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    """How the server behaves (the CLI fills it from its options).

    ``max_body_bytes`` caps every request body (413 above it); ``max_batch`` caps the texts
    of one ``/route/batch`` call. Batches of at least ``thread_rows`` texts are routed in a
    worker thread so a big batch does not stall other requests. ``admin_token`` guards
    ``/admin/reload`` (``Authorization: Bearer ...``); without it only loopback clients may
    reload. ``watch_interval`` (seconds) polls the model directory and reloads on change;
    ``reload_on_sighup`` reloads on SIGHUP. ``log_queries`` puts query text in the logs
    (off by default: queries are user data).
    """

    max_body_bytes: int = 1 << 20
    max_batch: int = 1024
    thread_rows: int = 64
    admin_token: str | None = None
    watch_interval: float | None = None
    reload_on_sighup: bool = True
    log_queries: bool = False
    access_log: bool = True

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "thread_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ServeSettings.{name}={value!r}: expected an integer >= 1")
        if self.watch_interval is not None and not self.watch_interval > 0:
            raise ValueError(f"ServeSettings.watch_interval={self.watch_interval!r}: expected seconds > 0, or None")
