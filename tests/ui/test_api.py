"""Every /api/v1 endpoint over HTTP (FastAPI's TestClient): happy paths, auth failures, malformed
bodies, limits, server-sent events, and the agent pages' sign-in guard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from assistant_fixtures import order_with
from fastapi.testclient import TestClient
from web_fixtures import fake_assistant, web_settings

from ui.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    tmp = tmp_path_factory.mktemp("api")
    app = create_app(web_settings(tmp, "web.max_body_bytes=20000"), fake_assistant(tmp))
    app.state.accounts.add("alice", "correct horse")
    app.state.accounts.add("bob", "battery staple")
    return TestClient(app)


def start(client: TestClient, **body) -> tuple[str, dict[str, str]]:
    r = client.post("/api/v1/conversations", json=body or None)
    assert r.status_code == 201, r.text
    return r.json()["conversation_id"], {"X-Session-Token": r.json()["session_token"]}


def agent(client: TestClient, username: str = "alice", password: str = "correct horse") -> dict[str, str]:
    r = client.post("/api/v1/agent/sessions", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_health_and_openapi(client: TestClient) -> None:
    # The test assistant has no generator: replies are grounded templates, and the check says so.
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["worker"] == os.getpid()
    assert health["generation"] == {"ok": True, "backend": "none", "mode": "templates"}
    checks = health["checks"]
    assert set(checks) == {
        "database",
        "index",
        "embedder",
        "intent_model",
        "language_detection",
        "generation",
    }
    assert all(c["ok"] for c in checks.values())
    assert checks["database"]["revision"] and checks["index"]["knowledge_vectors"] > 0
    assert checks["embedder"]["dimension"] > 0 and checks["intent_model"]["intents"] > 5
    schema = client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    for path in ("/api/v1/conversations", "/api/v1/conversations/{conversation_id}/messages",
                 "/api/v1/conversations/{conversation_id}/handoff", "/api/v1/conversations/{conversation_id}/feedback",
                 "/api/v1/agent/sessions", "/api/v1/agent/queue", "/api/v1/agent/conversations/{conversation_id}",
                 "/api/v1/agent/conversations/{conversation_id}/suggestions",
                 "/api/v1/agent/conversations/{conversation_id}/takeover",
                 "/api/v1/agent/conversations/{conversation_id}/release",
                 "/api/v1/agent/conversations/{conversation_id}/messages",
                 "/api/v1/agent/conversations/{conversation_id}/rejections"):  # fmt: skip
        assert path in paths
    assert all(
        op.get("description") or op.get("summary") for p in schema["paths"].values() for op in p.values()
    )
    assert client.get("/api/docs").status_code == 200


def test_health_fails_when_the_index_or_the_database_does(client: TestClient, monkeypatch) -> None:
    assistant = client.app.state.chat.assistant
    empty = {"knowledge_vectors": 0, "products_vectors": 0, "knowledge_lexical": 0, "products_lexical": 0}
    with monkeypatch.context() as patch:
        patch.setattr(assistant.retriever, "status", lambda: empty)
        r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.json()["status"] == "down"
    assert r.json()["checks"]["index"] == {
        "ok": False,
        "reason": "IndexNotBuiltError",
        "ms": r.json()["checks"]["index"]["ms"],
    }

    def broken():
        raise OSError("disk gone")

    with monkeypatch.context() as patch:
        patch.setattr(assistant.conversations.db, "session", broken)
        r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.json()["checks"]["database"]["ok"] is False
    assert "disk gone" not in r.text  # reasons stay short; details go to the log
    assert client.get("/api/v1/health").status_code == 200


def test_conversation_round_trip(client: TestClient) -> None:
    cid, token = start(client, language="en", channel="api")
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "How long does shipping to Canada take?"},
                    headers=token)  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert "5-8 business days" in body["reply"]["text"] and not body["waiting_for_agent"]
    assert body["reply"]["sources"][0]["kind"] == "knowledge" and body["reply"]["sources"][0]["text"]
    assert "trace" not in body["reply"] and "intent" not in body["reply"]
    history = client.get(f"/api/v1/conversations/{cid}/messages", headers=token).json()["messages"]
    assert [m["role"] for m in history] == ["customer", "assistant"]
    assert history[1]["id"] == body["reply_message_id"] and "slots" not in history[1]
    later = client.get(
        f"/api/v1/conversations/{cid}/messages?after_id={history[1]['id']}", headers=token
    ).json()
    assert later["messages"] == []


def test_products_and_order_status(client: TestClient) -> None:
    cid, token = start(client)
    cards = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "I need running shoes under 100"},
                        headers=token).json()["reply"]["cards"]  # fmt: skip
    assert cards and all(c["price"] <= 100 and c["title"] and c["reason"] for c in cards)
    order = order_with("shipped")
    client.post(
        f"/api/v1/conversations/{cid}/messages", json={"message": "Where is my order?"}, headers=token
    )
    before = client.get(f"/api/v1/agent/conversations/{cid}", headers=agent(client)).json()
    assert before["customer"] is None and before["orders"] == []  # nothing about anyone before verification
    reply = client.post(f"/api/v1/conversations/{cid}/messages",
                        json={"message": f"{order['id']}, email {order['email']}"}, headers=token).json()["reply"]  # fmt: skip
    assert order["tracking_number"] in reply["text"]
    view = client.get(f"/api/v1/agent/conversations/{cid}", headers=agent(client)).json()
    assert view["customer"]["id"] == order["customer_id"] and view["customer"]["email"] == order["email"]
    assert [o["id"] for o in view["orders"]] == [order["id"]] and view["orders"][0]["status"] == "shipped"


def test_streaming_events(client: TestClient) -> None:
    cid, token = start(client)
    r = client.post(f"/api/v1/conversations/{cid}/messages?stream=true",
                    json={"message": "How long does shipping to Canada take?"}, headers=token)  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "reply" and set(kinds[:-1]) <= {"delta", "replace"} and len(kinds) > 3
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed.strip() == events[-1][1]["reply"]["text"].strip()
    # The Accept header asks for a stream too.
    r = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "and to Germany?"},
                    headers={**token, "Accept": "text/event-stream"})  # fmt: skip
    assert sse(r.text)[-1][0] == "reply"


def test_stream_errors_keep_their_status(client: TestClient) -> None:
    cid, token = start(client)
    r = client.post(f"/api/v1/conversations/{cid}/messages?stream=true", json={"message": ""}, headers=token)
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    r = client.post(f"/api/v1/conversations/{cid}/messages?stream=true", json={"message": "hi"},
                    headers={"X-Session-Token": "nope"})  # fmt: skip
    assert r.status_code == 404


def test_handoff_and_feedback(client: TestClient) -> None:
    cid, token = start(client, language="zh")
    r = client.post(f"/api/v1/conversations/{cid}/handoff", headers=token)
    assert r.status_code == 200 and r.json()["reply"]["handoff"] and r.json()["reply"]["language"] == "zh"
    reply_id = r.json()["reply_message_id"]
    r = client.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": reply_id, "helpful": True,
                                                                   "comment": "快"}, headers=token)  # fmt: skip
    assert r.status_code == 201 and r.json()["feedback_id"] > 0
    r = client.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": reply_id + 999, "helpful": True},
                    headers=token)  # fmt: skip
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
        ({"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}}, 400, "UTF-8"),
        ({"json": {"text": "wrong field"}}, 422, "message"),
        ({"json": {"message": 42}}, 422, "message"),
        ({"json": {"message": "hi", "extra": 1}}, 422, "extra"),
        ({"json": {"message": "x" * 2001}}, 422, "limit is 2000"),
        ({"json": {"message": "x" * 30000}}, 413, "over 20000 bytes"),
        ({"json": {"message": "   "}}, 422, "empty"),
    ],
)
def test_malformed_messages(client: TestClient, kwargs, status: int, needle: str) -> None:
    cid, token = start(client)
    kwargs = dict(kwargs)
    headers = {**token, **kwargs.pop("headers", {})}
    r = client.post(f"/api/v1/conversations/{cid}/messages", headers=headers, **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    assert client.get(f"/api/v1/conversations/{cid}/messages", headers=token).json()["messages"] == []


def test_bad_conversation_options(client: TestClient) -> None:
    assert client.post("/api/v1/conversations", json={"language": "fr"}).status_code == 422
    assert client.post("/api/v1/conversations", json={"channel": "agent"}).status_code == 422


def test_shoppers_cannot_cross_conversations(client: TestClient) -> None:
    mine, my_token = start(client)
    theirs, their_token = start(client)
    client.post(
        f"/api/v1/conversations/{theirs}/messages", json={"message": "secret stuff"}, headers=their_token
    )
    for method, path, body in [("GET", f"/api/v1/conversations/{theirs}/messages", None),
                               ("POST", f"/api/v1/conversations/{theirs}/messages", {"message": "hi"}),
                               ("POST", f"/api/v1/conversations/{theirs}/handoff", None),
                               ("POST", f"/api/v1/conversations/{theirs}/feedback", {"message_id": 1, "helpful": True})]:  # fmt: skip
        for headers in (my_token, {}, {"X-Session-Token": ""}):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 404, (path, headers, r.text)
            assert "secret" not in r.text
    assert mine != theirs


def test_agent_endpoints_need_an_agent(client: TestClient) -> None:
    cid, token = start(client)
    shopper_bearer = {"Authorization": f"Bearer {token['X-Session-Token']}"}
    for headers in (
        {},
        token,
        shopper_bearer,
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic YWxpY2U6eA=="},
    ):
        for method, path in [("GET", "/api/v1/agent/queue"), ("GET", f"/api/v1/agent/conversations/{cid}"),
                             ("GET", f"/api/v1/agent/conversations/{cid}/suggestions"),
                             ("POST", f"/api/v1/agent/conversations/{cid}/takeover"),
                             ("POST", f"/api/v1/agent/conversations/{cid}/release"),
                             ("POST", f"/api/v1/agent/conversations/{cid}/messages"),
                             ("POST", f"/api/v1/agent/conversations/{cid}/rejections"),
                             ("DELETE", "/api/v1/agent/sessions")]:  # fmt: skip
            r = client.request(
                method, path, headers=headers, json={"text": "hi"} if method == "POST" else None
            )
            assert r.status_code == 401, (method, path, headers, r.text)
    r = client.post("/api/v1/agent/sessions", json={"username": "alice", "password": "wrong horse"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong username or password"
    assert client.post("/api/v1/agent/sessions", json={"username": "alice"}).status_code == 422


def test_agent_flow(client: TestClient) -> None:
    cid, token = start(client)
    client.post(
        f"/api/v1/conversations/{cid}/messages", json={"message": "Where is my order?"}, headers=token
    )
    client.post(f"/api/v1/conversations/{cid}/handoff", headers=token)
    alice, bob = agent(client), agent(client, "bob", "battery staple")
    queue = client.get("/api/v1/agent/queue", headers=alice).json()["conversations"]
    entry = next(c for c in queue if c["id"] == cid)  # other tests' conversations may have waited longer
    assert entry["handoff"] and entry["customer_words"] == "Where is my order?" and entry["waiting_since"]
    assert entry["handoff_reason"] == "shopper pressed talk to a human"
    assert [c["id"] for c in queue].index(cid) < min(
        [i for i, c in enumerate(queue) if not c["handoff"]], default=len(queue))  # fmt: skip
    view = client.get(f"/api/v1/agent/conversations/{cid}", headers=alice).json()
    bot_turn = next(m for m in view["messages"] if m["role"] == "assistant")
    assert {"intent", "slots", "action", "rule", "facts", "sources"} <= set(bot_turn)
    assert view["verification"] == {"failed_attempts": 0, "limit": 5, "locked": False, "locked_orders": []}
    suggestions = client.get(f"/api/v1/agent/conversations/{cid}/suggestions?k=2", headers=alice).json()[
        "suggestions"
    ]
    assert 1 <= len(suggestions) <= 2 and all(
        {"text", "confidence", "origin", "sources"} <= set(s) for s in suggestions
    )
    assert client.post(f"/api/v1/agent/conversations/{cid}/takeover", headers=alice).status_code == 200
    r = client.post(f"/api/v1/agent/conversations/{cid}/takeover", headers=bob)
    assert r.status_code == 422 and "alice" in r.json()["error"]["message"]
    edited = suggestions[0]["text"] + " Thanks for waiting!"
    r = client.post(f"/api/v1/agent/conversations/{cid}/messages", headers=alice,
                    json={"text": edited, "suggestion": suggestions[0], "rank": 1})  # fmt: skip
    assert r.status_code == 201
    r = client.post(f"/api/v1/agent/conversations/{cid}/rejections", headers=alice,
                    json={"suggestion": suggestions[-1], "reason": "not relevant"})  # fmt: skip
    assert r.status_code == 201
    # The shopper sees the agent's message; the bot stays quiet while the agent holds the conversation.
    history = client.get(f"/api/v1/conversations/{cid}/messages", headers=token).json()["messages"]
    assert history[-1]["role"] == "agent" and history[-1]["text"] == edited
    quiet = client.post(
        f"/api/v1/conversations/{cid}/messages", json={"message": "thanks!"}, headers=token
    ).json()
    assert quiet["waiting_for_agent"] and quiet["reply"] is None
    assert client.post(f"/api/v1/agent/conversations/{cid}/release", headers=alice,
                       json={"resolved": True}).status_code == 200  # fmt: skip
    back = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "How long does shipping to Canada take?"},
                       headers=token).json()  # fmt: skip
    assert back["reply"] and not back["waiting_for_agent"]
    assert client.get("/api/v1/agent/conversations/c_nope", headers=alice).status_code == 404
    assert client.delete("/api/v1/agent/sessions", headers=bob).status_code == 204
    assert client.get("/api/v1/agent/queue", headers=bob).status_code == 401


def test_agent_pages_need_sign_in(client: TestClient) -> None:
    r = client.get("/agent/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/agent/login"
    assert client.get("/agent/config", follow_redirects=False).status_code == 401
    assert client.post("/agent/gradio_api/queue/join", json={}, follow_redirects=False).status_code == 401
    r = client.post("/agent/login", data={"username": "alice", "password": "nope"})
    assert r.status_code == 401 and "wrong username or password" in r.text
    r = client.post(
        "/agent/login", data={"username": "alice", "password": "correct horse"}, follow_redirects=False
    )
    assert r.status_code == 303 and "agent_token" in r.cookies
    cookie = r.cookies["agent_token"]
    assert client.get("/agent/", cookies={"agent_token": cookie}).status_code == 200
    client.get("/agent/logout", cookies={"agent_token": cookie}, follow_redirects=False)
    assert client.get("/agent/config", cookies={"agent_token": cookie}).status_code == 401


def test_rate_limits_key_on_the_conversation_and_the_address(tmp_path: Path) -> None:
    app = create_app(web_settings(tmp_path, "web.rate_limit_per_minute=6", "web.rate_limit_burst=3",
                                  "web.new_conversations_per_minute=40", "web.rate_limit_per_address_per_minute=1000"),
                     fake_assistant(tmp_path))  # fmt: skip
    client = TestClient(app)
    # Twenty shoppers behind one office address: each conversation has its own budget.
    for _ in range(20):
        cid, token = start(client)
        for _ in range(3):
            r = client.post(f"/api/v1/conversations/{cid}/feedback", json={"message_id": 1, "helpful": True},
                            headers=token)  # fmt: skip
            assert r.status_code == 404, r.text  # no such reply, but not limited
    r = client.post(f"/api/v1/conversations/{cid}/handoff", headers=token)
    assert (
        r.status_code == 429
        and int(r.headers["Retry-After"]) >= 1
        and "try again" in r.json()["error"]["message"]
    )
    # New conversations are limited per address.
    statuses = [client.post("/api/v1/conversations").status_code for _ in range(30)]
    assert statuses[-1] == 429  # the twenty above used the burst (half of 40)


def test_sign_in_stays_limited_when_chat_limits_are_off(tmp_path: Path) -> None:
    app = create_app(web_settings(tmp_path, "web.rate_limit_per_minute=0", "web.sign_in_attempts_per_minute=3"),
                     fake_assistant(tmp_path))  # fmt: skip
    app.state.accounts.add("carol", "correct horse")
    client = TestClient(app)
    statuses = [client.post("/api/v1/agent/sessions", json={"username": "carol", "password": "nope-nope"}).status_code
                for _ in range(8)]  # fmt: skip
    assert statuses[0] == 401 and statuses[-1] == 429
    r = client.post(
        "/agent/login", data={"username": "carol", "password": "correct horse"}, follow_redirects=False
    )
    assert r.status_code == 429  # the console's sign-in form shares the limit


def test_unknown_routes_and_methods_answer_in_the_error_format(client: TestClient) -> None:
    for method, path, status, allow in [("GET", "/api/v1/nope", 404, None), ("POST", "/api/v1/agent/nothing", 404, None),
                                        ("PUT", "/api/v1/conversations", 405, "POST"),
                                        ("DELETE", "/api/v1/health", 405, "GET"),
                                        ("PATCH", "/api/v1/conversations/c_x/messages", 405, "GET, POST"),
                                        ("GET", "/no/such/page", 404, None), ("GET", "/gradio_api/nope", 404, None),
                                        ("GET", "/%ff%fe", 404, None), ("HEAD", "/api/v1/health", 405, "GET")]:  # fmt: skip
        r = client.request(method, path)
        assert r.status_code == status, (method, path, r.text)
        if method != "HEAD":
            assert r.json()["error"]["code"] in ("not_found", "method_not_allowed"), r.text
            assert r.json()["error"]["message"]
        if allow:
            assert r.headers["allow"] == allow


@pytest.mark.parametrize("after_id", ["-1", "99999999999999999999", "2147483648", "1e3", "abc", "", "%00"])
def test_numeric_query_values_out_of_range_are_422(client: TestClient, after_id: str) -> None:
    cid, token = start(client)
    r = client.get(f"/api/v1/conversations/{cid}/messages?after_id={after_id}", headers=token)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    alice = agent(client)
    for path in (
        "/api/v1/agent/queue?limit=99999999999999999999",
        f"/api/v1/agent/conversations/{cid}/suggestions?k=-5",
    ):
        assert client.get(path, headers=alice).status_code == 422
    r = client.post(
        f"/api/v1/conversations/{cid}/feedback", json={"message_id": 2**70, "helpful": True}, headers=token
    )
    assert r.status_code == 422


def test_the_agent_view_shows_a_verification_lock(client: TestClient) -> None:
    cid, token = start(client)
    order = order_with("delivered")
    client.post(
        f"/api/v1/conversations/{cid}/messages", json={"message": "where is my order?"}, headers=token
    )
    for postcode in ("00001", "00002", "00003"):
        r = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": f"{order['id']} postcode {postcode}"},
                        headers=token)  # fmt: skip
    assert "too many unsuccessful attempts" in r.json()["reply"]["text"]
    view = client.get(f"/api/v1/agent/conversations/{cid}", headers=agent(client)).json()
    assert view["verification"]["failed_attempts"] == 3 and view["verification"]["locked_orders"] == [
        order["id"]
    ]


def test_uploads_are_not_accepted(client: TestClient) -> None:
    for path in ("/gradio_api/upload", "/agent/gradio_api/upload"):
        r = client.post(path, files={"files": ("a.txt", b"hello")})
        assert r.status_code in (401, 404) and "error" in r.json()


def test_security_headers(client: TestClient) -> None:
    r = client.post("/api/v1/conversations")
    assert r.headers["cache-control"] == "no-store"  # it carries the session token
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    token = r.json()["session_token"]
    cid = r.json()["conversation_id"]
    for response in (client.get(f"/api/v1/conversations/{cid}/messages", headers={"X-Session-Token": token}),
                     client.post("/api/v1/agent/sessions", json={"username": "alice", "password": "correct horse"}),
                     client.get("/agent/login"), client.get("/"), client.get("/api/v1/nope")):  # fmt: skip
        assert response.headers["cache-control"] == "no-store", response.url
        assert response.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in page and "object-src 'none'" in page and "frame-ancestors 'none'" in page
    assert (
        "https:" not in page.split("img-src")[1].split(";")[0]
    )  # images only from here (the demo has no image hosts)
    assert "max-age" in client.get("/widget.js").headers["cache-control"]  # static: cacheable


def test_frame_ancestors_setting_lets_the_shop_embed_the_chat(tmp_path: Path) -> None:
    app = create_app(
        web_settings(tmp_path, "web.frame_ancestors=https://shop.example.com self"), fake_assistant(tmp_path)
    )
    r = TestClient(app).get("/")
    assert "frame-ancestors https://shop.example.com 'self'" in r.headers["content-security-policy"]
    assert "x-frame-options" not in r.headers  # it cannot name origins; the CSP decides


def test_widget_and_demo_page(client: TestClient) -> None:
    js = client.get("/widget.js")
    assert js.status_code == 200 and "application/javascript" in js.headers["content-type"]
    assert "/api/v1" in js.text and "innerHTML" not in js.text
    page = client.get("/demo", follow_redirects=True)
    assert page.status_code == 200 and '<script src="/widget.js"' in page.text
    assert client.get("/demo/products/NOPE").status_code == 404


def test_analytics_json_and_csv_for_agents(client: TestClient) -> None:
    cid, token = start(client)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "What is the weather on Mars tomorrow?"},
                headers=token)  # fmt: skip
    assert client.get("/api/v1/analytics").status_code == 401
    headers = agent(client)
    report = client.get("/api/v1/analytics?days=7", headers=headers).json()
    assert report["totals"]["conversations"] >= 1 and report["totals"]["turns"] >= 1
    assert {"days", "arms", "handoff_reasons", "intents", "questions_not_answered"} <= set(report)
    assert any("Mars" in q["question"] for q in report["questions_not_answered"])
    only = client.get("/api/v1/analytics?days=7&language=zh", headers=headers).json()
    assert only["language"] == "zh" and only["totals"]["conversations"] < report["totals"]["conversations"]
    r = client.get("/api/v1/analytics.csv?days=7", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and r.text.startswith("day,language,arm,")
    questions = client.get("/api/v1/analytics.csv?days=7&table=questions", headers=headers)
    assert questions.text.startswith("question,count") and "Mars" in questions.text
    for bad in ("days=0", "days=99999", "language=<script>", "table=secrets"):
        assert client.get(f"/api/v1/analytics.csv?{bad}", headers=headers).status_code == 422
