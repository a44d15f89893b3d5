"""A scripted OpenAI-compatible chat-completions server for tests: stdlib only, 127.0.0.1.

Each request to ``POST /v1/chat/completions`` takes the next ``Action`` from the script (or
the default action once the script is empty), so a test decides exactly what the judge sees:
a good answer, fenced JSON, garbage, HTTP 500 then success, a slow answer, 429...
Every request is recorded (headers and parsed JSON body) for the test to inspect.
``refuse={"json_schema": 422}`` makes it answer that status, without using the script, to any
request whose ``response_format`` has that type, like an older server (llama-cpp-python
answers 422 to ``json_schema``; some servers answer 400 to any ``response_format``).

    with FakeLLMServer() as server:
        server.script(status(500), answer('{"route": "law", "reason": "in_domain"}'))
        config = JudgeConfig(server.base_url, "fake-model")
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

__all__ = ["Action", "FakeLLMServer", "Recorded", "answer", "raw", "route", "status"]


@dataclass(frozen=True)
class Action:
    """How the server answers one request."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (cut short when the server stops)
    barrier: threading.Barrier | None = None  # wait for this many requests to be in flight


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def query_message(self) -> str:
        """The content of the last (user) message."""
        return str(self.body["messages"][-1]["content"])


Scripted = Union[Action, Callable[[Recorded], Action]]


def answer(content: str, *, finish_reason: str = "stop", **kwargs: Any) -> Action:
    """A 200 chat completion whose message content is ``content``."""
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Action(body=json.dumps(payload).encode(), **kwargs)


def route(label: str | None, reason: str = "in_domain", **kwargs: Any) -> Action:
    """A well-formed verdict."""
    return answer(json.dumps({"route": label, "reason": reason}), **kwargs)


def status(code: int, text: str = "", headers: dict[str, str] | None = None) -> Action:
    """An HTTP error status with a JSON error body."""
    body = json.dumps({"error": {"message": text or f"fake error {code}"}}).encode()
    return Action(status=code, body=body, headers=headers or {})


def raw(body: str, *, code: int = 200, content_type: str = "text/html") -> Action:
    """Any body at all (e.g. an HTML page where JSON was expected)."""
    return Action(status=code, body=body.encode(), content_type=content_type)


class FakeLLMServer:
    """A real HTTP server on a free port of 127.0.0.1, run in a daemon thread."""

    def __init__(self, default: Scripted | None = None, *, refuse: dict[str, int] | None = None) -> None:
        self.default: Scripted = default or status(500, "no scripted answer left")
        self.refuse = dict(refuse or {})
        self.requests: list[Recorded] = []
        self.max_in_flight = 0
        self._script: deque[Scripted] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *actions: Scripted) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._script.extend(actions)

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- called from handler threads -------------------------------------------------------
    def _next_action(self, request: Recorded) -> Action:
        with self._lock:
            self.requests.append(request)
            refused = self._refusal(request)
            if refused is not None:
                self._in_flight += 1
                return refused
            scripted = self._script.popleft() if self._script else self.default
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return scripted(request) if callable(scripted) else scripted

    def _refusal(self, request: Recorded) -> Action | None:
        body = request.body if isinstance(request.body, dict) else {}
        kind = (body.get("response_format") or {}).get("type")
        code = self.refuse.get(kind) if isinstance(kind, str) else None
        return status(code, f"response_format type {kind!r} is not supported") if code else None

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout test) is expected; keep test output clean


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        try:
            body: Any = json.loads(data)
        except ValueError:
            body = data.decode("utf-8", "replace")
        request = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        fake = self.server.fake
        if self.path != "/v1/chat/completions":
            with fake._lock:
                fake.requests.append(request)
            self._send(status(404, f"no route {self.path}"))
            return
        action = fake._next_action(request)
        try:
            if action.barrier is not None:
                try:
                    action.barrier.wait(timeout=5)
                except threading.BrokenBarrierError:
                    action = status(500, "barrier broken: fewer concurrent requests than expected")
            if action.delay:
                fake._stopping.wait(action.delay)
            self._send(action)
        finally:
            fake._done()

    def _send(self, action: Action) -> None:
        try:
            self.send_response(action.status)
            self.send_header("Content-Type", action.content_type)
            self.send_header("Content-Length", str(len(action.body)))
            for name, value in action.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(action.body)
        except OSError:
            self.close_connection = True  # the client hung up (timeout test)
