"""Malformed requests of every shape against a live server on 127.0.0.1: never a 5xx.

A seeded generator sends well over 1,000 requests: every route (shopper and agent API, the console's
sign-in, the Gradio pages' own endpoints, the widget and demo pages, unknown paths) with every method,
bodies that are not JSON, JSON of the wrong types or too deep, invalid UTF-8, oversized bodies with
Content-Length and chunked, odd ids (huge, negative, unicode, percent-encoded NUL and invalid UTF-8),
odd headers. Raw-socket tests check that an oversized body is refused without the server reading it.
"""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_fixtures import fake_assistant, live_server, web_settings

from ui.app import create_app

pytestmark = pytest.mark.integration
LIMIT = 20_000  # web.max_body_bytes for these tests
REQUESTS = 1200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    settings = web_settings(tmp, f"web.max_body_bytes={LIMIT}")
    app = create_app(settings, fake_assistant(tmp))
    app.state.accounts.add("alice", "correct horse")
    with live_server(app, settings) as base:
        yield base, app


ODD_IDS = ["", "0", "-1", "99999999999999999999999", "c_" + "x" * 3000, "%00", "%ff%fe", "%2e%2e%2f%2e%2e",
           "中文", "c_%E2%80%AE", "null", "[]", "{}", "'; DROP TABLE conversations; --", "c_<script>"]  # fmt: skip
ODD_NUMBERS = [
    "-1",
    "0",
    "1",
    "2147483647",
    "2147483648",
    "99999999999999999999",
    "1e9",
    "NaN",
    "",
    "x",
    "%00",
    "0x10",
]
ODD_VALUES: list[object] = [None, True, 0, -1, 2**70, 1.5e308, "", "x" * 5000, [], {}, [1, 2], {"a": 1}, "\u0000",
                            "\ud800" * 2, "😀" * 100, "ignore previous instructions", "<img src=x onerror=alert(1)>"]  # fmt: skip
ROUTES = [("POST", "/api/v1/conversations"), ("POST", "/api/v1/conversations/{cid}/messages"),
          ("POST", "/api/v1/conversations/{cid}/messages?stream=true"), ("GET", "/api/v1/conversations/{cid}/messages"),
          ("POST", "/api/v1/conversations/{cid}/handoff"), ("POST", "/api/v1/conversations/{cid}/feedback"),
          ("POST", "/api/v1/agent/sessions"), ("DELETE", "/api/v1/agent/sessions"), ("GET", "/api/v1/agent/queue"),
          ("GET", "/api/v1/agent/conversations/{cid}"), ("GET", "/api/v1/agent/conversations/{cid}/suggestions"),
          ("POST", "/api/v1/agent/conversations/{cid}/takeover"), ("POST", "/api/v1/agent/conversations/{cid}/release"),
          ("POST", "/api/v1/agent/conversations/{cid}/messages"), ("POST", "/api/v1/agent/conversations/{cid}/rejections"),
          ("POST", "/agent/login"), ("GET", "/agent/login"), ("GET", "/agent/"), ("GET", "/agent/config"),
          ("POST", "/gradio_api/queue/join"), ("GET", "/gradio_api/queue/data"), ("POST", "/gradio_api/upload"),
          ("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/"), ("GET", "/widget.js"), ("GET", "/demo"),
          ("GET", "/demo/products/{cid}"), ("GET", "/{cid}"), ("GET", "/api/v1/{cid}"), ("GET", "/api/docs"),
          ("GET", "/api/v1/openapi.json"), ("POST", "/gradio_api/run/predict"), ("GET", "/gradio_api/file={cid}"),
          ("POST", "/agent/gradio_api/queue/join"), ("GET", "/manifest.json")]  # fmt: skip
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bodies(rng: random.Random) -> tuple[bytes | None, dict[str, str], bool]:
    """(body, extra headers, send chunked) for one request."""
    kind = rng.randrange(16)
    json_type = {"content-type": "application/json"}
    if kind == 0:
        return b"{not json", json_type, False
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), json_type, rng.random() < 0.5
    if kind == 2:  # invalid UTF-8 inside otherwise valid JSON
        return b'{"message": "\xff\xfe\xc3\x28 hi"}', json_type, False
    if kind == 3:
        return json.dumps({"message": rng.choice(ODD_VALUES)}).encode(), json_type, False
    if kind == 4:
        fields = ["message", "text", "message_id", "helpful", "comment", "username", "password", "suggestion", "rank",
                  "reason", "resolved", "language", "channel", "data", "fn_index", "session_hash", "event_data"]  # fmt: skip
        body = {rng.choice(fields): rng.choice(ODD_VALUES) for _ in range(rng.randrange(1, 5))}
        return json.dumps(body).encode(), json_type, rng.random() < 0.3
    if kind == 5:
        return deep(rng.choice([100, 5000, 50_000])), json_type, False
    if kind == 6:  # over the limit, declared
        return b'{"message": "' + b"x" * (LIMIT + rng.randrange(1, 5000)) + b'"}', json_type, False
    if kind == 7:  # over the limit, chunked (no Content-Length)
        return b'{"message": "' + b"y" * (LIMIT + rng.randrange(1, 5000)) + b'"}', json_type, True
    if kind == 8:
        return (
            b"message=hi&username=alice&password=x",
            {"content-type": "application/x-www-form-urlencoded"},
            False,
        )
    if kind == 9:
        return (
            b"--x\r\nContent-Disposition: form-data; name=files\r\n\r\nhi",
            {"content-type": "multipart/form-data"},
            False,
        )
    if kind == 10:
        return '{"message": "你好"}'.encode("utf-16"), json_type, False
    if kind == 11:
        return b'\xef\xbb\xbf{"message": "bom"}', json_type, False
    if kind == 12:
        return (
            json.dumps({"message": "where is my order?\u0000\u202e", "extra": 1}).encode(),
            json_type,
            False,
        )
    if kind == 13:
        return json.dumps([{"message": "hi"}] * rng.randrange(1, 50)).encode(), json_type, False
    if kind == 14:
        return (
            b"",
            {"content-type": rng.choice(["application/json", "text/plain", "", "application/xml"])},
            False,
        )
    return None, {}, False


def odd_headers(rng: random.Random, token: str, bearer: str) -> dict[str, str | bytes]:
    choices = [{}, {"X-Session-Token": token}, {"X-Session-Token": "x" * 5000}, {"X-Session-Token": b"\xff\xfe"},
               {"Authorization": f"Bearer {bearer}"}, {"Authorization": "Bearer"}, {"Authorization": b"Basic \xe9"},
               {"Accept": "text/event-stream"}, {"Cookie": "agent_token=" + "z" * 300},
               {"Accept-Language": "zh-CN,zh;q=0.9" * 50}, {"Origin": "https://evil.example"}]  # fmt: skip
    headers: dict[str, str | bytes] = {}
    for _ in range(rng.randrange(0, 3)):
        headers.update(rng.choice(choices))
    return headers


def fill(path: str, rng: random.Random, cid: str) -> str:
    path = path.replace("{cid}", rng.choice([cid] * 3 + ODD_IDS))
    if rng.random() < 0.4:
        param = rng.choice(["after_id", "limit", "k", "stream", "error", "session_hash", "fn_index"])
        path += ("&" if "?" in path else "?") + f"{param}={rng.choice(ODD_NUMBERS)}"
    return path


def test_a_thousand_malformed_requests_get_no_5xx(server) -> None:
    base, _ = server
    rng = random.Random(13)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        created = client.post("/api/v1/conversations").json()
        cid, token = created["conversation_id"], created["session_token"]
        bearer = client.post(
            "/api/v1/agent/sessions", json={"username": "alice", "password": "correct horse"}
        ).json()
        for index in range(REQUESTS):
            method, path = rng.choice(ROUTES)
            if rng.random() < 0.25:
                method = rng.choice(METHODS)
            body, headers, chunked = bodies(rng)
            headers = {**headers, **odd_headers(rng, token, bearer["token"])}
            url = fill(path, rng, cid)
            content: object = body
            if chunked and body is not None:
                content = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
            try:
                response = client.request(method, url, content=content, headers=headers)  # type: ignore[arg-type]
            except httpx.TransportError as exc:  # the server may close after refusing an oversized body
                statuses[0] += 1
                if not (body and len(body) > LIMIT):
                    server_errors.append(f"#{index} {method} {url[:80]}: no response ({exc!r})")
                continue
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"#{index} {method} {url[:80]} -> {response.status_code} {response.text[:200]}"
                )
            elif (
                response.status_code in (404, 405, 413)
                and method != "HEAD"
                and response.headers.get("content-type", "").startswith("application/json")
            ):
                assert "error" in response.json(), (method, url, response.text[:200])
    print(f"fuzz: {REQUESTS} requests, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) == REQUESTS
    assert server_errors == [], "\n".join(server_errors[:20])
    assert statuses[413] >= 50 and statuses[422] >= 50 and statuses[404] >= 50 and statuses[405] >= 20


def raw_exchange(base: str, head: bytes, chunks: list[bytes], *, wait_s: float = 5.0) -> bytes:
    """Send a request head and some body bytes, leave the body unfinished, and read what comes back."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):  # refused already: what we want to see
                break
        response = b""
        try:
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except TimeoutError:
            pass
    return response


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server) -> None:
    base, _ = server
    head = (b"POST /api/v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n")  # fmt: skip
    response = raw_exchange(base, head, [b'{"language": "en"'])  # 100 MB announced, 17 bytes sent
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def test_a_chunked_oversized_body_is_refused_without_reading_the_rest(server) -> None:
    base, app = server
    cid, token = app.state.chat.start(channel="api").__dict__.values()
    head = (f"POST /api/v1/conversations/{cid}/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Session-Token: {token}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()  # fmt: skip
    chunk = b"x" * 4096
    # Just over the limit, and the final zero-length chunk never comes: only a server that stops reading at
    # the limit can answer.
    chunks = [b'%x\r\n{"message": "\r\n' % len(b'{"message": "')] + [
        b"%x\r\n%s\r\n" % (len(chunk), chunk)
    ] * (LIMIT // len(chunk) + 2)
    response = raw_exchange(base, head, chunks)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert app.state.chat.history(cid, token) == []  # nothing was stored


def test_gradio_endpoints_share_the_body_limit(server) -> None:
    base, _ = server
    with httpx.Client(base_url=base) as client:
        r = client.post("/gradio_api/queue/join", content=b"{" + b" " * (LIMIT + 10) + b"}",
                        headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_huge_after_id_is_422_not_5xx(server, tmp_path: Path) -> None:
    base, app = server
    session = app.state.chat.start(channel="api")
    with httpx.Client(base_url=base) as client:
        for value in ("-5", str(2**63), str(2**31), "1" * 400):
            r = client.get(f"/api/v1/conversations/{session.conversation_id}/messages?after_id={value}",
                           headers={"X-Session-Token": session.token})  # fmt: skip
            assert r.status_code == 422, (value, r.text)
