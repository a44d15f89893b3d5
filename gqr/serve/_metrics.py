"""Prometheus metrics: a few thread-safe counters and one histogram, rendered by hand.

One process keeps its values in memory. Several worker processes (``gqr serve --workers N``,
or any pre-fork server with ``PROMETHEUS_MULTIPROC_DIR`` set) share a directory: each
worker also writes every value into its own memory-mapped file there (prometheus_client's
multiprocess files), and ``/metrics`` in any worker sums the files of all workers, so a
scrape sees the whole server whichever worker answers it. Counters and the histogram are
summed, including workers that have exited; a gauge read at scrape time (the model
generation) is the minimum over the live workers. ``gqr serve`` makes a fresh directory per
run and removes it at exit.

The exposition is the same in both modes. Label values are escaped as the text format
requires; label sets are bounded (endpoints, HTTP statuses, domains, reasons, sources).
"""

from __future__ import annotations

import bisect
import glob
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["LATENCY_BUCKETS", "MULTIPROCESS_ENV", "Counter", "Histogram", "Metrics", "SharedStore", "forget_process"]

#: The directory shared by worker processes (prometheus_client's own variable).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

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


Samples = dict[str, list[tuple[str, dict[str, str], float]]]


class SharedStore:
    """This process's values in per-process mmap files of a directory shared by the workers.

    Values are written through on every change (a few microseconds); ``read`` sums the files
    of every process. The directory comes from ``$PROMETHEUS_MULTIPROC_DIR``, which
    prometheus_client reads itself; it must exist and be empty at the start of a run.
    """

    def __init__(self, directory: str) -> None:
        from gqr.errors import require

        require("prometheus_client", "serve", "metrics across worker processes")
        from prometheus_client import values

        if not os.path.isdir(directory):
            raise ValueError(f"${MULTIPROCESS_ENV}={directory!r} is not a directory: create it (empty) or unset it")
        self.directory = directory
        self._value_class = values.MultiProcessValue()
        self._cells: dict[tuple[str, Labels], Any] = {}
        self._last: dict[tuple[str, Labels], float] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _cell(self, kind: str, family: str, sample: str, names: Sequence[str], labels: Labels, help: str,
              mode: str = "") -> Any:
        key = (sample, labels)
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                cell = self._value_class(kind, family, sample, list(names), list(labels), help, multiprocess_mode=mode)
                self._cells[key] = cell
            return cell

    def add(self, kind: str, family: str, sample: str, names: Sequence[str], labels: Labels, help: str,
            amount: float) -> None:
        self._cell(kind, family, sample, names, labels, help).inc(amount)

    def mirror(self, kind: str, name: str, help: str, rows: Iterable[tuple[dict[str, str], float]]) -> None:
        """Write a family read at scrape time: a counter by its growth since the last call, a
        gauge as this process's value (aggregated as the minimum over live processes)."""
        if os.getpid() != self._pid:  # forked: the parent's last values are not ours
            self._pid, self._last = os.getpid(), {}
        for labels, value in rows:
            names = tuple(sorted(labels))
            values = tuple(labels[n] for n in names)
            if kind == "counter":
                grown = value - self._last.get((name, values), 0.0)
                self._last[(name, values)] = value
                if grown > 0:
                    self._cell("counter", name, name, names, values, help).inc(grown)
            else:
                self._cell("gauge", name, name, names, values, help, mode="livemin").set(value)

    def read(self) -> Samples:
        """Every family's samples summed over the processes' files (histogram buckets per slot)."""
        from prometheus_client.multiprocess import MultiProcessCollector

        files = glob.glob(os.path.join(self.directory, "*.db"))
        out: Samples = {}
        for metric in MultiProcessCollector.merge(files, accumulate=False):
            out[metric.name] = [(s.name, dict(s.labels), float(s.value)) for s in metric.samples]
        return out


def forget_process(pid: int, directory: str | None = None) -> None:
    """Drop the gauges of a worker that exited (its counters keep counting in the sums)."""
    directory = directory or os.environ.get(MULTIPROCESS_ENV)
    if directory:
        for path in glob.glob(os.path.join(directory, f"gauge_live*_{pid}.db")):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def _label_values(names: Sequence[str], labels: dict[str, str]) -> Labels:
    return tuple(labels.get(n, "") for n in names)


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()
        self.shared: SharedStore | None = None

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount
        if self.shared is not None:
            self.shared.add("counter", self.name, self.name, self.label_names, labels, self.help, amount)

    def value(self, *labels: str) -> float:
        """This process's count."""
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self, shared: Samples | None = None) -> Iterable[str]:
        """The family in text format: this process's values, or ``shared`` (all processes')."""
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        if shared is None:
            with self._lock:
                items = sorted(self._values.items())
        else:
            items = sorted((_label_values(self.label_names, labels), v) for _, labels, v in shared.get(self.name, ()))
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
        self.shared: SharedStore | None = None

    def observe(self, value: float, *labels: str) -> None:
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.setdefault(labels, [0] * (len(self.buckets) + 1))
            counts[slot] += 1
            self._sums[labels] = self._sums.get(labels, 0.0) + value
        if self.shared is not None:
            le = repr(float(self.buckets[slot])) if slot < len(self.buckets) else "+Inf"
            names = (*self.label_names, "le")
            self.shared.add("histogram", self.name, f"{self.name}_bucket", names, (*labels, le), self.help, 1.0)
            self.shared.add("histogram", self.name, f"{self.name}_sum", self.label_names, labels, self.help, value)

    def count(self, *labels: str) -> int:
        """This process's number of observations."""
        with self._lock:
            return sum(self._counts.get(labels, ()))

    def _from_shared(self, shared: Samples) -> list[tuple[Labels, list[int], float]]:
        slots = {float(b): i for i, b in enumerate(self.buckets)}
        counts: dict[Labels, list[int]] = {}
        sums: dict[Labels, float] = {}
        for sample, labels, value in shared.get(self.name, ()):
            key = _label_values(self.label_names, labels)
            if sample.endswith("_sum"):
                sums[key] = sums.get(key, 0.0) + value
            elif sample.endswith("_bucket"):
                slot = slots.get(float(labels["le"]), len(self.buckets))
                counts.setdefault(key, [0] * (len(self.buckets) + 1))[slot] += int(value)
        return sorted((k, v, sums.get(k, 0.0)) for k, v in counts.items())

    def render(self, shared: Samples | None = None) -> Iterable[str]:
        """The family in text format: this process's values, or ``shared`` (all processes')."""
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        if shared is None:
            with self._lock:
                items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        else:
            items = self._from_shared(shared)
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
    """Everything ``/metrics`` exposes: of this process, or of every worker process when
    ``$PROMETHEUS_MULTIPROC_DIR`` names a directory shared by the workers (module docstring).

    Families added with ``collect`` are read at scrape time: ``(name, help, kind, callable ->
    [(labels, value)])``, used for the judge's own counters and the model generation; with
    several workers each worker copies them to the shared files in ``sync``.
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
        directory = os.environ.get(MULTIPROCESS_ENV)
        self.shared = SharedStore(directory) if directory else None
        for family in self._families():
            family.shared = self.shared

    def _families(self) -> tuple[Counter | Histogram, ...]:
        return (self.requests, self.decisions, self.latency, self.reloads, self.disconnects)

    def collect(self, name: str, help: str, kind: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        """Add a family read at scrape time (``kind`` is ``counter`` or ``gauge``)."""
        self._collectors.append((name, help, kind, read))

    def count_decisions(self, decisions: Iterable[Any]) -> None:
        for d in decisions:
            self.decisions.inc(d.route or "none", d.reason.value, d.source.value)

    def sync(self) -> None:
        """Copy the ``collect`` families to the shared files (after a request, a reload, at
        start); nothing to do in one process."""
        if self.shared is not None:
            for name, help, kind, read in self._collectors:
                self.shared.mirror(kind, name, help, read())

    def _collected(self, name: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]],
                   shared: Samples | None) -> Iterable[tuple[dict[str, str], float]]:
        if shared is None:
            return read()
        return sorted(((labels, value) for _, labels, value in shared.get(name, ())), key=lambda r: sorted(r[0].items()))

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        shared = None
        if self.shared is not None:
            self.sync()
            shared = self.shared.read()
        lines: list[str] = []
        for family in self._families():
            lines.extend(family.render(shared))
        for name, help, kind, read in self._collectors:
            lines.append(f"# HELP {name} {help}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in self._collected(name, read, shared):
                names = tuple(sorted(labels))
                lines.append(f"{name}{_labels(names, tuple(labels[n] for n in names))} {_number(value)}")
        return "\n".join(lines) + "\n"
