"""``/metrics`` with ``gqr serve --workers 2``: any worker's scrape reports the whole server
(counters and the latency histogram summed over the workers, exited ones included; the model
generation is the oldest any live worker serves)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'gqr[serve]'")
pytest.importorskip("prometheus_client", reason="needs the serve extra: pip install 'gqr[serve]'")
import httpx

from gqr.serve import Metrics
from gqr.serve._metrics import MULTIPROCESS_ENV, forget_process

MODEL = Path(__file__).resolve().parent.parent / "models" / "default"
DEADLINE = 60.0  # seconds; generous for a loaded 2-core CI machine, never slept through
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text format -> {(name, labels): value}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def until(check: Callable[[], Any], what: str | Callable[[], str], deadline: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` at the deadline."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"{what() if callable(what) else what} (last: {last!r})")


def fresh_get(url: str) -> httpx.Response:
    with httpx.Client(timeout=10) as c:  # a new connection: the kernel may hand it to either worker
        return c.get(url)


@contextlib.contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "gqr", "serve", "--port", str(port), "--no-access-log",
                             "--log-level", "warning", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "gqr serve exited")
        with contextlib.suppress(httpx.HTTPError):
            return fresh_get(f"{url}/healthz").status_code == 200
        return False

    try:
        until(healthy, "gqr serve did not become healthy")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_metrics_sum_over_two_workers() -> None:
    with serve("--model", str(MODEL), "--workers", "2") as (proc, url):
        per_pid: dict[int, int] = {}

        def both_workers_answered() -> bool:  # /healthz on fresh connections until each worker took some
            pid = fresh_get(f"{url}/healthz").json()["pid"]
            per_pid[pid] = per_pid.get(pid, 0) + 1
            return len(per_pid) == 2

        until(both_workers_answered, "only one worker ever answered")
        assert proc.pid not in per_pid
        healthz = sum(per_pid.values()) + 1  # and the one that found the server healthy
        routes = 30
        for i in range(routes):
            with httpx.Client(timeout=10) as c:
                assert c.post(f"{url}/route", json={"text": f"What is an ETF? ({i})"}).status_code == 200

        seen: list[tuple[float, float]] = []

        def whole_server() -> dict[Any, float] | None:  # a request is counted just after its answer: poll
            samples = parse(fresh_get(f"{url}/metrics").text)
            seen.append((total(samples, "gqr_requests_total", endpoint="/healthz", status="200"),
                         total(samples, "gqr_requests_total", endpoint="/route", status="200")))
            return samples if seen[-1] == (healthz, routes) else None

        # each worker alone answered fewer /healthz than were sent: only a sum over both reaches it
        assert max(per_pid.values()) + 1 < healthz
        samples = until(whole_server, lambda: f"/metrics never showed {healthz} /healthz, {routes} /route: {seen[-3:]}")
        assert total(samples, "gqr_decisions_total") == routes
        assert total(samples, "gqr_request_duration_seconds_count", endpoint="/route") == routes
        assert total(samples, "gqr_request_duration_seconds_bucket", endpoint="/route", le="+Inf") == routes
        assert total(samples, "gqr_model_generation") == 1

        proc.send_signal(signal.SIGHUP)  # every worker reloads; the parent's own reload is not counted
        until(lambda: (s := parse(fresh_get(f"{url}/metrics").text))
              and total(s, "gqr_reloads_total", result="ok") == 2 and total(s, "gqr_model_generation") == 2,
              "after SIGHUP /metrics did not show 2 reloads and generation 2")

        gone = next(iter(per_pid))
        os.kill(gone, signal.SIGKILL)  # a dead worker's requests still count; a new worker takes its place
        until(lambda: fresh_get(f"{url}/healthz").json()["pid"] not in per_pid, "no replacement worker answered")
        samples = parse(fresh_get(f"{url}/metrics").text)
        assert total(samples, "gqr_requests_total", endpoint="/route", status="200") == routes
        assert total(samples, "gqr_model_generation") == 2  # the replacement loaded the reloaded model


def test_one_process_keeps_metrics_in_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    assert Metrics().shared is None
    monkeypatch.setenv(MULTIPROCESS_ENV, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="not a directory"):
        Metrics()


def _worker_metrics(judge_calls: list[float], generation: int) -> Metrics:
    m = Metrics()
    m.collect("gqr_judge_calls_total", "Judge calls.", "counter", lambda: [({"result": "success"}, judge_calls[0])])
    m.collect("gqr_model_generation", "Generation.", "gauge", lambda: [({}, generation)])
    m.requests.inc("/route", "200", amount=3)
    m.latency.observe(0.002, "/route")
    m.sync()
    return m


def test_shared_files_sum_processes_and_copy_collected_families(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MULTIPROCESS_ENV, str(tmp_path))
    pid = os.fork()
    if pid == 0:  # another worker: counts, then exits
        try:
            _worker_metrics([5.0], generation=1)
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    judge = [7.0]
    m = _worker_metrics(judge, generation=2)
    judge[0] = 9.0  # the judge client's own counter grew: copied by its growth
    text = m.render()
    assert 'gqr_requests_total{endpoint="/route",status="200"} 6\n' in text  # summed over both, exited one too
    assert 'gqr_judge_calls_total{result="success"} 14\n' in text
    assert 'gqr_request_duration_seconds_bucket{endpoint="/route",le="0.0025"} 2\n' in text
    assert 'gqr_request_duration_seconds_count{endpoint="/route"} 2\n' in text
    assert "gqr_model_generation 1\n" in text  # the oldest generation of the live processes
    forget_process(pid)  # the supervisor does this when a worker exits
    assert "gqr_model_generation 2\n" in m.render()
    assert m.requests.value("/route", "200") == 3  # this process's own count
