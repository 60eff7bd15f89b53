"""Web figures through the real server on 127.0.0.1 (uvicorn, the prepared models and index):

- time to first streamed token and to the full reply through `POST /api/v1/.../messages?stream=true`
  (p50/p95 over `--requests` requests, one at a time, each in a new conversation);
- a short loopback load test: N conversations at once, each sending `--turns` messages with a pause of
  up to `--pause` seconds before each (as people type), counting errors. The server runs as `serve`
  runs it (`ui.app.server_config`); `--keep-alive 1` with `--pause 1` shows the connection resets that
  uvicorn's 5 s default caused when a client reused a connection the server was just closing.

Prints figures; asserts nothing. Needs `make assistant-ready`.
    .venv/bin/python bench/web.py [--requests 50] [--mode model|templates] [--concurrency 8,32,100]
                                  [--turns 3] [--pause 1.0] [--keep-alive 75]
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from assistant.evaluation.metrics import percentile
from assistant.evaluation.replay import load_conversations
from assistant.factory import build_assistant
from assistant.settings import load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stream_turn(client: httpx.Client, message: str) -> tuple[float, float, bool]:
    """(seconds to first delta, seconds to the reply event, ok) for one message in a new conversation."""
    created = client.post("/api/v1/conversations", json={"channel": "api"}).json()
    headers = {"X-Session-Token": created["session_token"]}
    started = time.perf_counter()
    first = total = float("nan")
    ok = False
    url = f"/api/v1/conversations/{created['conversation_id']}/messages?stream=true"
    with client.stream("POST", url, json={"message": message}, headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("event: delta") and first != first:  # NaN: not set yet
                first = time.perf_counter() - started
            elif line.startswith("event: reply"):
                total = time.perf_counter() - started
                ok = response.status_code == 200
    return first, total, ok


def conversation(base: str, messages: list[str], pause_s: float = 0.0, seed: int = 0) -> tuple[int, int]:
    """One shopper: a conversation of several turns; returns (ok turns, failed turns)."""
    ok = failed = 0
    pauses = random.Random(seed)
    with httpx.Client(base_url=base, timeout=300) as client:
        try:
            created = client.post("/api/v1/conversations", json={"channel": "api"})
            created.raise_for_status()
            session = created.json()
        except httpx.HTTPError:
            return 0, len(messages)
        headers = {"X-Session-Token": session["session_token"]}
        for message in messages:
            time.sleep(pauses.random() * pause_s)
            try:
                r = client.post(f"/api/v1/conversations/{session['conversation_id']}/messages",
                                json={"message": message}, headers=headers)  # fmt: skip
                ok, failed = (
                    (ok + 1, failed) if r.status_code == 200 and r.json()["reply"] else (ok, failed + 1)
                )
            except httpx.HTTPError:
                failed += 1
    return ok, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--mode", choices=["model", "templates"], default="model", help="generation.mode")
    parser.add_argument("--concurrency", default="8,32,100", help="comma-separated numbers of conversations")
    parser.add_argument("--turns", type=int, default=3, help="messages per conversation in the load test")
    parser.add_argument("--pause", type=float, default=1.0, help="longest pause before each message, s")
    parser.add_argument(
        "--keep-alive", type=int, default=None, help="web.keep_alive_timeout_s (default: settings)"
    )
    args = parser.parse_args()

    import uvicorn

    from ui.app import create_app, server_config

    data = tempfile.mkdtemp()
    keep_alive = [f"web.keep_alive_timeout_s={args.keep_alive}"] if args.keep_alive else []
    settings = load_settings(overrides=[f"generation.mode={args.mode}", "web.rate_limit_per_minute=0",
                                        "web.rate_limit_per_address_per_minute=0", "web.new_conversations_per_minute=0",
                                        f"store.database_url=sqlite:///{data}/bench.db", *keep_alive])  # fmt: skip
    assistant = build_assistant(settings)
    assistant.warm_up()
    app = create_app(settings, assistant)
    port = free_port()
    server = uvicorn.Server(server_config(settings, app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    messages = [t["text"] for c in load_conversations(settings.paths.shop_dir, "dev", limit=200)
                for t in c["turns"][:1] if t["role"] == "customer"]  # fmt: skip

    with httpx.Client(base_url=base, timeout=300) as client:
        stream_turn(client, "hello")  # warm the route
        firsts, totals, failures = [], [], 0
        for message in messages[: args.requests]:
            first, total, ok = stream_turn(client, message)
            failures += not ok
            firsts.append(first * 1000)
            totals.append(total * 1000)
    print(
        f"streaming through the API, generation.mode={args.mode}, {len(totals)} requests, {failures} failed"
    )
    print(f"  first token   p50 {percentile(firsts, 50):7.0f} ms   p95 {percentile(firsts, 95):7.0f} ms")
    print(f"  full reply    p50 {percentile(totals, 50):7.0f} ms   p95 {percentile(totals, 95):7.0f} ms")

    for n in (int(x) for x in args.concurrency.split(",") if x.strip()):
        batches = [messages[(i * args.turns) % len(messages):][: args.turns] or messages[: args.turns]
                   for i in range(n)]  # fmt: skip
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(
                pool.map(lambda item: conversation(base, item[1], args.pause, item[0]), enumerate(batches))
            )
        seconds = time.perf_counter() - started
        ok = sum(r[0] for r in results)
        failed = sum(r[1] for r in results)
        print(f"load: {n:3d} concurrent conversations x {args.turns} turns (keep-alive "
              f"{settings.web.keep_alive_timeout_s} s): {ok} ok, {failed} errors, "
              f"{seconds:.1f} s, {ok / seconds:.1f} turns/s")  # fmt: skip
    server.should_exit = True
    sys.stdout.flush()


if __name__ == "__main__":
    main()
