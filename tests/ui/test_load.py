"""No request is dropped under 100 concurrent shopper sessions on loopback, with the server configured as
`serve` configures it (keep-alive, connection cap, backlog, worker threads from `[web]`).

The shoppers pause between messages as people do; a pause that ends just as the server closes an idle
keep-alive connection is what reset connections under load with uvicorn's 5 s default (reproduce with
`bench/web.py --keep-alive 1`)."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from web_fixtures import fake_assistant, live_server, web_settings

from ui.app import create_app

pytestmark = pytest.mark.integration
SESSIONS = 100
MESSAGES = ["How long does shipping to Canada take?", "I'm looking for running shoes under 100", "thanks!"]


def shopper(base: str, seed: int, problems: list[str], lock: threading.Lock) -> int:
    """One shopper's session: start, three messages (one streamed), a poll after each; returns replies."""
    pause = random.Random(seed)
    replies = 0
    with httpx.Client(base_url=base, timeout=120) as client:
        try:
            created = client.post("/api/v1/conversations", json={"channel": "api"})
            created.raise_for_status()
            cid, token = (
                created.json()["conversation_id"],
                {"X-Session-Token": created.json()["session_token"]},
            )
            for index, message in enumerate(MESSAGES):
                time.sleep(pause.random() * 1.2)
                url = f"/api/v1/conversations/{cid}/messages" + ("?stream=true" if index == 1 else "")
                r = client.post(url, json={"message": message}, headers=token)
                r.raise_for_status()
                last = r.text.strip().split("\n\n")[-1] if index == 1 else ""
                is_reply = (
                    json.loads(last.split("data: ", 1)[1])["reply"] if index == 1 else r.json()["reply"]
                )
                replies += bool(is_reply)
                client.get(
                    f"/api/v1/conversations/{cid}/messages?after_id=0", headers=token
                ).raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            with lock:
                problems.append(f"{type(exc).__name__}: {exc}")
    return replies


def test_a_hundred_concurrent_sessions_lose_nothing(tmp_path: Path) -> None:
    settings = web_settings(tmp_path)
    app = create_app(settings, fake_assistant(tmp_path))
    problems: list[str] = []
    lock = threading.Lock()
    with live_server(app, settings) as base, ThreadPoolExecutor(SESSIONS) as pool:
        replies = list(pool.map(lambda seed: shopper(base, seed, problems, lock), range(SESSIONS)))
    assert problems == []
    assert sum(replies) == SESSIONS * len(MESSAGES)
    stored = app.state.desk.queue(limit=500)
    assert len(stored) == SESSIONS and all(c.message_count == 2 * len(MESSAGES) for c in stored)
