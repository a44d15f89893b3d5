"""``gqr serve``: the HTTP app in-process (ASGI), then a real uvicorn on 127.0.0.1 for the
end-to-end and fault tests (judge down or slow, corrupt reload, disconnects, bad requests,
signals)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'gqr[serve]'")
import httpx
import uvicorn
from fastapi.testclient import TestClient

from gqr.judge import JudgeClient, JudgeConfig
from gqr.router import Router
from gqr.serve import JsonFormatter, RouterHolder, ServeSettings, create_app
from tests.fake_llm_server import FakeLLMServer
from tests.fake_llm_server import route as verdict

DOMAINS = {"law": "legal questions", "finance": "money", "healthcare": "health"}


@pytest.fixture
def model_dir(svm_artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the session artifact (tests corrupt and replace it)."""
    return Path(shutil.copytree(svm_artifact, tmp_path / "model"))


@pytest.fixture
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(model_dir, ServeSettings(max_body_bytes=64 * 1024, max_batch=50))) as c:
        yield c


@pytest.fixture(scope="module")
def law(svm_artifact: Path, small_corpus: Any) -> str:
    """A real law question the session model routes to law with confidence."""
    router = Router.load(svm_artifact)
    rows = [t for t, y in zip(small_corpus.val_texts, small_corpus.val_y) if small_corpus.classes[y] == "law" and len(t) < 300]
    return next(t for t, d in zip(rows, router.route_batch(rows)) if d.route == "law" and not d.uncertain)


@pytest.fixture(scope="module")
def uncertain_texts(svm_artifact: Path, small_corpus: Any) -> list[str]:
    decisions = Router.load(svm_artifact).route_batch(small_corpus.val_texts)
    texts = [t for t, d in zip(small_corpus.val_texts, decisions) if d.uncertain]
    assert texts, "the session model has no uncertain validation rows"
    return texts


def corrupt(model_dir: Path) -> None:
    data = bytearray((model_dir / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / "model.onnx").write_bytes(bytes(data))


# -- the app, in process --------------------------------------------------------------------
def test_route_and_batch_answer_decisions(law: str, client: TestClient, svm_artifact: Path) -> None:
    expected = Router.load(svm_artifact).route(law)
    r = client.post("/route", json={"text": law})
    assert r.status_code == 200
    assert r.json()["route"] == expected.route == "law" and r.json()["reason"] == "in_domain"
    r = client.post("/route/batch", content=json.dumps({"texts": [law, 7, "", "\ud800 lone", None, "What is an ETF?"]}))
    decisions = r.json()["decisions"]  # no content-type header: still read as JSON
    assert r.status_code == 200 and len(decisions) == 6
    assert [d["reason"] for d in decisions[1:5]] == ["invalid_input"] * 4
    assert "UTF-8" in decisions[3]["detail"]
    assert decisions[0]["route"] == "law" and decisions[5]["reason"] != "invalid_input"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("POST", "/route", b"{not json", 400, "invalid_json"),
        ("POST", "/route", b'{"txt": "hi"}', 422, "invalid_request"),
        ("POST", "/route", b'{"text": 12}', 422, "invalid_request"),
        ("POST", "/route", b'["text"]', 422, "invalid_request"),
        ("POST", "/route/batch", b'{"texts": "one string"}', 422, "invalid_request"),
        ("POST", "/route/batch", json.dumps({"texts": ["q"] * 51}).encode(), 413, "batch_too_large"),
        ("POST", "/route", b'{"text": "' + b"a" * 70_000 + b'"}', 413, "request_too_large"),
        ("GET", "/route", b"", 405, "method_not_allowed"),
        ("GET", "/nowhere", b"", 404, "not_found"),
    ],
)
def test_bad_requests_get_clear_json_errors(client: TestClient, method: str, path: str, body: bytes, status: int, kind: str) -> None:
    r = client.request(method, path, content=body)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["type"] == kind and error["message"] and error["status"] == status


def test_chunked_oversize_body_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    r = client.post("/route", content=chunks())  # no Content-Length: counted while read
    assert r.status_code == 413


def test_healthz_and_metrics(law: str, client: TestClient) -> None:
    client.post("/route", json={"text": law})
    client.post("/route", json={"text": 5})
    client.post("/route/batch", json={"texts": [law, ""]})
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"]["generation"] == 1 and health["model"]["labels"]
    text = client.get("/metrics").text
    assert 'gqr_requests_total{endpoint="/route",status="200"} 1' in text
    assert 'gqr_requests_total{endpoint="/route",status="422"} 1' in text
    assert 'gqr_decisions_total{route="law",reason="in_domain",source="model"} 2' in text
    assert 'gqr_decisions_total{route="none",reason="invalid_input",source="model"} 1' in text
    assert 'gqr_request_duration_seconds_count{endpoint="/route"} 2' in text
    assert "gqr_model_generation 1" in text


def test_request_id_and_logs_keep_queries_out(model_dir: Path) -> None:
    def run(log_queries: bool) -> tuple[list[dict[str, Any]], str]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter(log_queries))
        log = logging.getLogger("gqr.serve.access")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        try:
            with TestClient(create_app(model_dir, ServeSettings(log_queries=log_queries))) as c:
                r = c.post("/route", json={"text": "my secret divorce question"}, headers={"X-Request-ID": "req-42"})
                bad = c.post("/route", json={"text": 1}, headers={"X-Request-ID": "bad id with spaces"})
        finally:
            log.removeHandler(handler)
        assert r.headers["x-request-id"] == "req-42"
        assert bad.headers["x-request-id"] != "bad id with spaces" and len(bad.headers["x-request-id"]) == 32
        return [json.loads(line) for line in stream.getvalue().splitlines()], stream.getvalue()

    records, raw = run(False)
    first = next(r for r in records if r.get("request_id") == "req-42")
    assert first["status"] == 200 and first["path"] == "/route" and first["reason"] and "duration_ms" in first
    assert "secret divorce" not in raw
    _, raw = run(True)
    assert "secret divorce" in raw


def test_reload_swaps_model_and_a_corrupt_artifact_keeps_the_old_one(law: str, client: TestClient, model_dir: Path) -> None:
    r = client.post("/admin/reload")
    assert r.status_code == 200 and r.json()["ok"] and r.json()["generation"] == 2
    corrupt(model_dir)
    r = client.post("/admin/reload")
    assert r.status_code == 422 and not r.json()["ok"]
    assert "sha256" in r.json()["error"] and r.json()["serving_generation"] == 2
    assert client.post("/route", json={"text": law}).json()["route"] == "law"  # the old model serves
    health = client.get("/healthz").json()["model"]
    assert health["generation"] == 2 and "sha256" in health["last_reload_error"]
    text = client.get("/metrics").text
    assert 'gqr_reloads_total{result="ok"} 1' in text and 'gqr_reloads_total{result="error"} 1' in text


def test_admin_reload_needs_the_token_when_one_is_set(model_dir: Path) -> None:
    with TestClient(create_app(model_dir, ServeSettings(admin_token="s3cret"))) as c:
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_reload_during_traffic_drops_no_request(law: str, model_dir: Path) -> None:
    holder = RouterHolder.load(model_dir)
    app = create_app(holder)

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            async def traffic(i: int) -> int:
                return (await c.post("/route", json={"text": f"{law} {i}"})).status_code

            async def reloads() -> None:
                for _ in range(3):
                    await holder.areload()

            results = await asyncio.gather(*(traffic(i) for i in range(150)), reloads())
            return [s for s in results if s is not None]

    statuses = asyncio.run(main())
    assert statuses == [200] * 150 and holder.generation == 4


def test_watch_reloads_when_the_model_directory_changes(law: str, svm_artifact: Path, tmp_path: Path) -> None:
    v1 = Path(shutil.copytree(svm_artifact, tmp_path / "v1"))
    v2 = Path(shutil.copytree(svm_artifact, tmp_path / "v2"))
    current = tmp_path / "current"
    current.symlink_to(v1)
    with TestClient(create_app(current, ServeSettings(watch_interval=0.05))) as c:
        tmp = tmp_path / "next"
        tmp.symlink_to(v2)
        os.replace(tmp, current)  # an atomic switch to the new version
        for _ in range(200):
            if c.get("/healthz").json()["model"]["generation"] == 2:
                break
            time.sleep(0.02)
        assert c.get("/healthz").json()["model"]["generation"] == 2
        assert c.post("/route", json={"text": law}).status_code == 200


# -- a real uvicorn on 127.0.0.1 ------------------------------------------------------------
@contextlib.contextmanager
def live(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def judged_app(model_dir: Path, base_url: str, timeout: float) -> Any:
    config = JudgeConfig(base_url, "fake", timeout=timeout, max_retries=0, breaker_threshold=1000, cache_size=0)
    judge = JudgeClient(config, DOMAINS)
    return create_app(Router.load(model_dir, uncertain="judge", judge=judge))


async def burst(url: str, texts: list[str], concurrency: int = 16) -> list[httpx.Response]:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        async def one(text: str) -> httpx.Response:
            async with gate:
                return await c.post("/route", json={"text": text})

        return list(await asyncio.gather(*(one(t) for t in texts)))


def test_judge_down_during_load_falls_back(law: str, model_dir: Path, uncertain_texts: list[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    texts = (uncertain_texts * 20)[:120] + [law] * 80
    with live(judged_app(model_dir, dead, 0.5)) as url:
        responses = asyncio.run(burst(url, texts))
        assert [r.status_code for r in responses] == [200] * len(texts)
        sources = [r.json()["source"] for r in responses]
        assert sources[:120] == ["fallback"] * 120 and set(sources[120:]) == {"model"}
        assert "judge unavailable" in responses[0].json()["detail"]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'gqr_judge_calls_total{result="failure"} 120' in metrics


def test_slow_judge_times_out_and_never_blocks_other_requests(law: str, model_dir: Path, uncertain_texts: list[str]) -> None:
    with FakeLLMServer(default=verdict("law", delay=3.0)) as fake, live(judged_app(model_dir, fake.base_url, 0.6)) as url:
        async def main() -> tuple[list[str], httpx.Response, httpx.Response]:
            order: list[str] = []
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                async def slow(i: int) -> httpx.Response:
                    r = await c.post("/route", json={"text": uncertain_texts[i % len(uncertain_texts)]})
                    order.append("slow")
                    return r

                async def fast() -> None:
                    while not fake.requests:  # a judge call is in flight
                        await asyncio.sleep(0.005)
                    for _ in range(20):
                        assert (await c.post("/route", json={"text": law})).json()["source"] == "model"
                    order.append("fast")

                slow_responses = await asyncio.gather(slow(0), slow(1), fast())
            return order, slow_responses[0], slow_responses[1]

        order, first, second = asyncio.run(main())
        assert order[0] == "fast"  # 20 model-only requests finished while the judge hung
        for r in (first, second):
            assert r.status_code == 200 and r.json()["source"] == "fallback" and "did not answer" in r.json()["detail"]


def test_corrupt_reload_under_load_keeps_serving(law: str, model_dir: Path) -> None:
    holder = RouterHolder.load(model_dir)
    with live(create_app(holder)) as url:
        corrupt(model_dir)

        async def main() -> tuple[list[httpx.Response], httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                reload = asyncio.ensure_future(c.post("/admin/reload"))
                responses = await burst(url, [f"{law} {i}" for i in range(200)])
                return responses, await reload

        responses, reload = asyncio.run(main())
        assert [r.status_code for r in responses] == [200] * 200
        assert reload.status_code == 422 and holder.generation == 1
        assert httpx.get(f"{url}/healthz").json()["model"]["last_reload_error"]


def _raw(url: str, payload: bytes, read: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(payload)
        if not read:
            return b""
        chunks = []
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while data := s.recv(65536):
                chunks.append(data)
        return b"".join(chunks)


def test_disconnects_and_garbage_do_not_hurt_the_server(law: str, model_dir: Path) -> None:
    with live(create_app(model_dir, ServeSettings(max_body_bytes=4096))) as url:
        head = b"POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        _raw(url, head + b"Content-Length: 1000\r\n\r\n{\"text\": \"half", read=False)  # gone mid-body
        _raw(url, head + b"Content-Length: 11\r\n\r\n{\"text\": \"a", read=False)  # gone before the answer
        assert b" 400 " in _raw(url, b"THIS IS NOT HTTP\r\n\r\n")[:20]
        too_big = _raw(url, head + b"Content-Length: 999999\r\nConnection: close\r\n\r\n")
        assert b" 413 " in too_big[:20] and b"request_too_large" in too_big
        assert b" 400 " in _raw(url, head + b"Content-Length: 5\r\nConnection: close\r\n\r\n{{{{{")[:20]
        for _ in range(50):
            if "gqr_client_disconnects_total 0" not in httpx.get(f"{url}/metrics").text:
                break
            time.sleep(0.02)
        assert "gqr_client_disconnects_total 0" not in httpx.get(f"{url}/metrics").text
        assert httpx.post(f"{url}/route", json={"text": law}).json()["route"] == "law"


# -- the CLI process: workers, signals -------------------------------------------------------
def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gqr", "serve", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "gqr serve exited")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("gqr serve did not start")


def test_cli_workers_share_reloads_and_stop_gracefully(model_dir: Path, uncertain_texts: list[str]) -> None:
    with FakeLLMServer(default=verdict("law", delay=1.0)) as fake:
        proc, url = _start(["--model", str(model_dir), "--workers", "2", "--uncertain", "judge",
                            "--judge-url", fake.base_url, "--judge-model", "fake"])
        try:
            assert httpx.post(f"{url}/admin/reload", timeout=30).json()["ok"]
            pids: dict[int, int] = {}
            for _ in range(400):  # fresh connections until both workers answer with the reloaded model
                with httpx.Client(base_url=url) as c:
                    h = c.get("/healthz").json()
                pids[h["pid"]] = h["model"]["generation"]
                if len(pids) == 2 and set(pids.values()) == {2}:
                    break
                time.sleep(0.02)  # the worker that did not take the request reloads on its own clock
            assert len(pids) == 2, f"only worker(s) {sorted(pids)} answered"
            assert proc.pid not in pids
            assert set(pids.values()) == {2}, f"generations after /admin/reload: {pids}"
            proc.send_signal(signal.SIGHUP)
            seen: dict[int, int] = {}
            for _ in range(400):  # until each worker reports the reload
                with httpx.Client(base_url=url) as c:
                    h = c.get("/healthz").json()
                if h["model"]["generation"] == 3:
                    seen[h["pid"]] = 3
                if set(seen) == set(pids):
                    break
                time.sleep(0.02)
            else:
                pytest.fail(f"SIGHUP did not reload every worker: generation 3 seen only on {sorted(seen)} of {sorted(pids)}")
            assert seen == dict.fromkeys(pids, 3)

            async def in_flight() -> httpx.Response:
                async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                    pending = asyncio.ensure_future(c.post("/route", json={"text": uncertain_texts[0]}))
                    while not fake.requests:
                        await asyncio.sleep(0.01)
                    proc.send_signal(signal.SIGTERM)  # while the judge is still thinking
                    return await pending

            r = asyncio.run(in_flight())
            assert r.status_code == 200 and r.json()["source"] == "judge" and r.json()["route"] == "law"
            assert proc.wait(timeout=20) == 0
            log = proc.stderr.read().decode() if proc.stderr else ""
            assert log.count('"msg": "stopped"') == 2
            assert uncertain_texts[0] not in log
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
