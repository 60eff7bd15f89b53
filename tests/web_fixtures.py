"""A live web server on 127.0.0.1 around an assistant built from fakes, and headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make browser`), driven by Playwright
with `executable_path`; no test downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from servers import free_port

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def live_server(app, settings=None) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread (configured as `serve` does when `settings` are given); yields
    the base URL."""
    import uvicorn

    from ui.app import server_config

    port = free_port()
    config = (
        server_config(settings, app, host="127.0.0.1", port=port)
        if settings is not None
        else uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def chromium_path() -> str:
    """Debian's Chromium; a CI run without it fails, a developer's machine skips."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "Debian chromium is not installed: run `make browser` (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable: skip raises


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


_parts: dict[str, object] = {}


def fake_assistant(tmp_path: Path):
    """The demo-shop assistant on fakes (hashing embedder, in-memory vectors); the head is trained once."""
    from assistant_fixtures import build_test_assistant, train_head

    from assistant.backends.embedding import HashingEmbedder
    from assistant.backends.language_detection import ScriptLanguageIdentifier
    from assistant.backends.sentiment import KeywordSentimentScorer
    from assistant.backends.vector_store import InMemoryVectorStore

    if not _parts:
        embedder = HashingEmbedder(dimension=512)
        _parts.update(embedder=embedder, store=InMemoryVectorStore(), head=train_head(embedder))
    store = _parts["store"]
    return build_test_assistant(
        tmp_path, embedder=_parts["embedder"], store=store, identifier=ScriptLanguageIdentifier(),
        head=_parts["head"], sentiment=KeywordSentimentScorer(), index=store.count("knowledge") == 0,  # type: ignore[attr-defined]
    )  # fmt: skip


def web_settings(tmp_path: Path, *overrides: str):
    from assistant.settings import load_settings

    return load_settings(overrides=[f"paths.data_dir={tmp_path}", "web.rate_limit_per_minute=0",
                                    "web.new_conversations_per_minute=0", "web.rate_limit_per_address_per_minute=0",
                                    "web.sign_in_attempts_per_minute=1000",
                                    *overrides])  # fmt: skip
