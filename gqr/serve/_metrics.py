"""Prometheus metrics, written by hand: a few thread-safe counters and one histogram.

Hand-written rather than ``prometheus_client`` so the serving extra stays small and the
exposition is exactly what ``/metrics`` documents. Label values are escaped as the text
format requires; label sets are bounded (endpoints, HTTP statuses, domains, reasons, sources).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Counter", "Histogram", "Metrics"]

#: Seconds; routing takes microseconds, a judge or an upstream LLM takes seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        for labels, value in items:
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Histogram:
    """Observations counted into cumulative ``le`` buckets, per label set."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.setdefault(labels, [0] * (len(self.buckets) + 1))
            counts[slot] += 1
            self._sums[labels] = self._sums.get(labels, 0.0) + value

    def count(self, *labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(labels, ()))

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        for labels, counts, total in items:
            running = 0
            for bound, n in zip(self.buckets, counts):
                running += n
                le = 'le="' + _number(bound) + '"'
                yield f"{self.name}_bucket{_labels(self.label_names, labels, le)} {running}"
            running += counts[-1]
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, labels, inf)} {running}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {float(total)!r}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {running}"


class Metrics:
    """Everything ``/metrics`` exposes for one server process.

    ``gauges`` are read at scrape time: ``(name, help, type, callable -> [(labels, value)])``,
    used for the judge's own counters and the model generation.
    """

    def __init__(self) -> None:
        self.requests = Counter("gqr_requests_total", "HTTP requests handled, by endpoint and status.", ("endpoint", "status"))
        self.decisions = Counter(
            "gqr_decisions_total", "Routing decisions, by route (domain or 'none'), reason and source.",
            ("route", "reason", "source"),
        )
        self.latency = Histogram("gqr_request_duration_seconds", "Time from request to response, by endpoint.", ("endpoint",))
        self.reloads = Counter("gqr_reloads_total", "Model reload attempts, by result (ok or error).", ("result",))
        self.disconnects = Counter("gqr_client_disconnects_total", "Requests whose client went away before the answer.")
        self._collectors: list[tuple[str, str, str, Callable[[], Iterable[tuple[dict[str, str], float]]]]] = []

    def collect(self, name: str, help: str, kind: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        """Add a family read at scrape time (``kind`` is ``counter`` or ``gauge``)."""
        self._collectors.append((name, help, kind, read))

    def count_decisions(self, decisions: Iterable[Any]) -> None:
        for d in decisions:
            self.decisions.inc(d.route or "none", d.reason.value, d.source.value)

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for family in (self.requests, self.decisions, self.latency, self.reloads, self.disconnects):
            lines.extend(family.render())
        for name, help, kind, read in self._collectors:
            lines.append(f"# HELP {name} {help}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in read():
                names = tuple(sorted(labels))
                lines.append(f"{name}{_labels(names, tuple(labels[n] for n in names))} {_number(value)}")
        return "\n".join(lines) + "\n"
