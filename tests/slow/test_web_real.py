"""The web server around the real assistant (prepared models, index, intent model, SmolLM2 in
"model" mode): the API streams a grounded reply and the shopper page works in Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_fixtures import CHROMIUM_FLAGS, chromium_path, live_server, screenshot

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from assistant.factory import build_assistant
    from assistant.settings import load_settings
    from ui.app import create_app

    os.chdir(ROOT)
    tmp = tmp_path_factory.mktemp("web-real")
    settings = load_settings(overrides=["generation.mode=model", f"store.database_url=sqlite:///{tmp}/a.db",
                                        "web.rate_limit_per_minute=0"])  # fmt: skip
    assistant = build_assistant(settings)
    assistant.warm_up()
    return create_app(settings, assistant)


def test_streamed_reply_is_grounded(app) -> None:
    client = TestClient(app)
    created = client.post("/api/v1/conversations", json={"channel": "api"}).json()
    headers = {"X-Session-Token": created["session_token"]}
    r = client.post(f"/api/v1/conversations/{created['conversation_id']}/messages?stream=true",
                    json={"message": "How long does shipping to Canada take?"}, headers=headers)  # fmt: skip
    events = [block.split("\n", 1) for block in r.text.strip().split("\n\n")]
    assert events[-1][0] == "event: reply"
    reply = json.loads(events[-1][1].removeprefix("data: "))["reply"]
    assert "5-8 business days" in reply["text"] and reply["sources"][0]["kind"] == "knowledge"
    zh = client.post(f"/api/v1/conversations/{created['conversation_id']}/messages",
                     json={"message": "我想找一双黑色的跑鞋"}, headers=headers).json()["reply"]  # fmt: skip
    assert zh["language"] == "zh" and zh["cards"]


def test_shopper_page_with_real_models(app) -> None:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with live_server(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(base + "/")
        page.wait_for_selector("#sa-input textarea")
        page.fill("#sa-input textarea", "I'm looking for a black backpack")
        page.click("#sa-send")
        page.wait_for_selector("#sa-chat .sa-reply .sa-card")
        screenshot(page, "real-models-shopper")
        browser.close()
