"""Structured JSON logs: one object per line, with the request id of the request being served.

Query text never reaches a log record unless the server was started with ``log_queries``:
log calls pass it as the ``query`` extra, and the formatter drops that field otherwise.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

__all__ = ["JsonFormatter", "configure_logging", "new_request_id", "request_id_var"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("gqr_request_id", default=None)

_SAFE_ID = re.compile(r"\A[A-Za-z0-9._:\-]{1,128}\Z")
#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName", "color_message"}


def new_request_id(incoming: str | None = None) -> str:
    """The caller's ``X-Request-ID`` when it is a safe token, else a fresh random id."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, msg, request_id and extras."""

    def __init__(self, log_queries: bool = False) -> None:
        super().__init__()
        self.log_queries = log_queries

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key in _STANDARD or key == "request_id":
                continue
            if key == "query" and not self.log_queries:
                continue
            out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "info", log_queries: bool = False, stream: TextIO | None = None) -> None:
    """Send gqr's and uvicorn's logs as JSON lines to ``stream`` (default stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(log_queries))
    for name in ("gqr", "uvicorn", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level.upper())
        log.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # gqr writes its own access line
