"""`python -m assistant serve --workers 2` as an operator runs it: two processes with the prepared models on
one port, sharing one database. A limit, an agent's sign-in and a conversation hold across them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from web_fixtures import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def request(port: int, method: str, path: str, body: dict | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict]:  # fmt: skip
    """One request on a new connection, so that the kernel may hand it to either worker."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(
            method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("workers")
    port = free_port()
    overrides = ["--set", f"store.database_url=sqlite:///{tmp / 'shared.db'}",
                 "--set", "web.new_conversations_per_minute=4",  # a burst of 2 per address
                 "--set", "generation.mode=templates"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    added = subprocess.run([sys.executable, "-m", "assistant", *overrides, "agents", "add", "alice", "--password-stdin"],
                           input="correct horse\n", text=True, capture_output=True, cwd=REPO, env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    log = open(tmp / "serve.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "assistant", *overrides, "serve", "--workers", "2",
                                "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while "2 workers ready" not in (tmp / "serve.log").read_text():
        assert process.poll() is None, (tmp / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the workers did not get ready"
        time.sleep(0.5)
    try:
        yield port, process, tmp
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(60)
        log.close()


def test_both_workers_answer_on_one_port(two_workers) -> None:
    port, _, _ = two_workers
    workers = {request(port, "GET", "/api/v1/health")[1]["worker"] for _ in range(40)}
    assert len(workers) == 2


def test_a_limit_holds_across_workers(two_workers) -> None:
    """New conversations from one address: 2 pass (the burst), the rest are refused, whichever worker
    answers. With limits kept per process, each worker would let 2 through."""
    port, _, _ = two_workers
    codes = [request(port, "POST", "/api/v1/conversations", {})[0] for _ in range(8)]
    assert codes.count(201) == 2 and codes.count(429) == 6, codes


def test_an_agent_signed_in_on_one_worker_is_signed_in_on_both(two_workers) -> None:
    port, _, _ = two_workers
    status, body = request(
        port, "POST", "/api/v1/agent/sessions", {"username": "alice", "password": "correct horse"}
    )
    assert status == 201
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert {request(port, "GET", "/api/v1/agent/queue", headers=bearer)[0] for _ in range(12)} == {200}


def test_two_messages_at_once_in_one_conversation_are_both_answered_in_order(two_workers) -> None:
    """Two tabs send at the same moment, perhaps to different workers: the lease runs the turns one after
    the other, so both are answered and stored, and neither turn's state overwrites the other's."""
    port, _, _ = two_workers
    # another shopper's address (the server trusts X-Forwarded-For from 127.0.0.1, as behind a proxy): the
    # test above spent this machine's new-conversation budget
    status, started = request(port, "POST", "/api/v1/conversations", {"language": "en"},
                              {"X-Forwarded-For": "203.0.113.77"})  # fmt: skip
    assert status == 201, started
    cid, token = started["conversation_id"], {"X-Session-Token": started["session_token"]}
    results: list[tuple[int, dict]] = []
    messages = ["Do you ship to Canada?", "What is your return policy?"]
    threads = [threading.Thread(target=lambda m=m: results.append(
        request(port, "POST", f"/api/v1/conversations/{cid}/messages", {"message": m}, token))) for m in messages]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(code for code, _ in results) == [200, 200], results
    status, history = request(port, "GET", f"/api/v1/conversations/{cid}/messages", headers=token)
    roles = [m["role"] for m in history["messages"]]
    assert roles == ["customer", "assistant", "customer", "assistant"]


def _turns_in_metrics(port: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        text = response.read().decode()
    finally:
        connection.close()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("assistant_turns_total{")
    )


def test_metrics_count_every_workers_turns(two_workers) -> None:
    """Prometheus' multiprocess mode: whichever worker a scrape reaches, it counts the turns of both."""
    port, _, _ = two_workers
    before = _turns_in_metrics(port)
    for n in range(6):
        status, started = request(port, "POST", "/api/v1/conversations", {},
                                  {"X-Forwarded-For": f"203.0.113.{100 + n}"})  # fmt: skip
        assert status == 201, started
        status, _ = request(port, "POST", f"/api/v1/conversations/{started['conversation_id']}/messages",
                            {"message": "Do you ship to Canada?"}, {"X-Session-Token": started["session_token"]})  # fmt: skip
        assert status == 200
    assert {_turns_in_metrics(port) - before for _ in range(12)} == {6.0}


def test_sigterm_stops_every_worker(two_workers) -> None:
    port, process, _ = two_workers
    workers = {request(port, "GET", "/api/v1/health")[1]["worker"] for _ in range(20)}
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(60) == 0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
