"""A tiny scripted OpenAI-compatible server on 127.0.0.1, for unit tests of the endpoint backend only.

The integration tests run against a real engine (`transformers serve`, see tests/inference_server.py);
this fake exists to produce what a real engine rarely does on cue: a 500, a 401, a stall, a connection
cut mid-stream, a server that ignores `n`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """What the server does for one chat request (taken in order; the last repeats)."""

    text: str = "Hello there."
    status: int = 200
    delay_s: float = 0.0  # before answering at all
    honours_n: bool = True
    cut_after_pieces: int | None = None  # streaming: close the connection after this many pieces
    stall_after_pieces: int | None = None  # streaming: stop sending (keep the connection) after this many
    stall_s: float = 5.0


@dataclass
class ScriptedOpenAIServer:
    """Serves /v1/models and /v1/chat/completions from `steps`; records each chat request's JSON body."""

    steps: list[Step] = field(default_factory=lambda: [Step()])
    models: list[str] = field(default_factory=lambda: ["tiny-chat"])
    port: int = 0  # 0: any free port
    requests: list[dict[str, Any]] = field(default_factory=list)
    model_listings: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                server.model_listings += 1
                self._json(
                    200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with server._lock:
                    server.requests.append(body)
                    step = server.steps[min(len(server.requests) - 1, len(server.steps) - 1)]
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(step.delay_s)
                    if step.status != 200:
                        self._json(step.status, {"error": {"message": f"scripted {step.status}"}})
                    elif body.get("stream"):
                        self._stream(step)
                    else:
                        n = int(body.get("n", 1)) if step.honours_n else 1
                        choices = [{"index": i, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": f"{step.text}" + (f" ({i})" if i else "")}}
                                   for i in range(n)]  # fmt: skip
                        self._json(200, {"id": "x", "object": "chat.completion", "created": 0,
                                         "model": body["model"], "choices": choices})  # fmt: skip
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _stream(self, step: Step) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                words = step.text.split(" ")
                for index, word in enumerate(words):
                    if step.cut_after_pieces is not None and index >= step.cut_after_pieces:
                        self.wfile.write(b"data: {broken")  # a half-written event, then the connection drops
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if step.stall_after_pieces is not None and index >= step.stall_after_pieces:
                        time.sleep(step.stall_s)
                        return
                    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                             "choices": [{"index": 0, "delta": {"content": word if index == 0 else " " + word}}]}  # fmt: skip
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                end = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return  # clients that hang up early (the tests' point) are not errors here

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
