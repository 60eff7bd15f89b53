"""The shopper chat, the agent console and the widget, driven in headless Debian Chromium through
Playwright against a live server on 127.0.0.1. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import pytest
from assistant_fixtures import order_with
from web_fixtures import CHROMIUM_FLAGS, chromium_path, fake_assistant, live_server, screenshot, web_settings

from ui.app import create_app

pytestmark = pytest.mark.integration
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    tmp = tmp_path_factory.mktemp("web")
    app = create_app(web_settings(tmp), fake_assistant(tmp))
    app.state.accounts.add("alice", "correct horse")
    with live_server(app) as base:
        yield base, app


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def new_page(browser, locale: str = "en-US"):
    context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 950})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def ask(page, message: str) -> None:
    """Type into the shopper chat, send, and wait for the finished reply (or the note that an agent has it)."""
    finished = "#sa-chat .sa-reply, #sa-chat .sa-note"
    before = page.locator(finished).count()
    page.fill("#sa-input textarea", message)
    page.click("#sa-send")
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n", arg=[finished, before])


def chat_text(page) -> str:
    return page.inner_text("#sa-chat")


def start_shopper(browser, base: str, locale: str = "en-US"):
    page = new_page(browser, locale)
    page.goto(base + "/")
    page.wait_for_selector("#sa-input textarea")
    page.wait_for_function("() => document.querySelector('#sa-chat')?.innerText.length > 5")  # the greeting
    return page


def test_shopper_chat(server, browser) -> None:
    base, app = server
    page = start_shopper(browser, base)
    assert "Shop assistant" in page.inner_text("#sa-title")

    ask(page, "How long does shipping to Canada take?")
    page.wait_for_selector("#sa-chat .sa-sources details summary")
    assert "5-8 business days" in chat_text(page)
    page.click("#sa-chat .sa-sources details summary >> nth=-1")
    source = page.locator("#sa-chat .sa-source-text").last
    source.wait_for(state="visible")
    assert "Canada" in source.inner_text()
    screenshot(page, "shopper-policy-source")

    ask(page, "I'm looking for running shoes under 100")
    cards = page.locator("#sa-chat .sa-card")
    cards.first.wait_for()
    assert cards.count() >= 1
    first = cards.first.inner_text()
    assert "$" in first and ("In stock" in first or "Out of stock" in first)
    assert page.locator(".sa-quick-reply:visible").count() >= 1
    screenshot(page, "shopper-product-cards")

    order = order_with("shipped")
    ask(page, "Where is my order?")
    assert order["tracking_number"] not in chat_text(page)
    ask(page, f"{order['id']}, email {order['email']}")
    page.wait_for_function(
        "(t) => document.querySelector('#sa-chat')?.innerText.includes(t)", arg=order["tracking_number"]
    )
    screenshot(page, "shopper-order-status")

    page.reload()  # the conversation survives a reload
    page.wait_for_function(
        "(t) => document.querySelector('#sa-chat')?.innerText.includes(t)", arg=order["tracking_number"]
    )
    page.wait_for_selector("#sa-chat .sa-card")

    page.fill("#sa-comment textarea", "clear and quick")
    page.click("#sa-up")
    page.wait_for_function("() => document.querySelector('#sa-comment textarea').value === ''")

    page.click("#sa-human")
    page.wait_for_function(
        "() => /team|agent/i.test(document.querySelector('#sa-chat')?.innerText.slice(-400) ?? '')"
    )
    screenshot(page, "shopper-handoff")
    conversation = max((c for c in app.state.desk.queue() if c.handoff), key=lambda c: c.updated_at)
    feedback = app.state.desk.conversations.feedback(conversation.id)
    assert any(f.kind == "thumbs" and f.value == "up" and f.comment == "clear and quick" for f in feedback)
    page.context.close()


def test_chinese_shopper(server, browser) -> None:
    base, _ = server
    page = start_shopper(browser, base, locale="zh-CN")
    page.wait_for_function("() => document.querySelector('#sa-title')?.innerText.includes('购物助手')")
    page.wait_for_function("() => document.querySelector('#sa-human')?.innerText.includes('转人工')")
    ask(page, "寄到加拿大要多久？")
    assert re.search(r"[\u4e00-\u9fff]", page.locator("#sa-chat .sa-text").last.inner_text())
    screenshot(page, "shopper-chinese")
    page.context.close()


def sign_in(browser, base: str, *, wrong_first: bool = False):
    agent = new_page(browser)
    agent.goto(base + "/agent/")
    agent.wait_for_url(re.compile(r".*/agent/login$"))
    if wrong_first:
        agent.fill("#username", "alice")
        agent.fill("#password", "wrong horse")
        agent.click("#sign-in")
        assert "wrong username or password" in agent.inner_text("#login-error")
    agent.fill("#username", "alice")
    agent.fill("#password", "correct horse")
    agent.click("#sign-in")
    agent.wait_for_selector("#agent-queue label")
    agent.wait_for_function("() => document.querySelector('#agent-who')?.innerText.includes('alice')")
    return agent


def open_in_console(agent, conversation_id: str) -> None:
    agent.locator("#agent-queue label", has_text=conversation_id[:10]).first.click()
    agent.wait_for_function(
        "(id) => document.querySelector('#agent-status')?.innerText.includes(id)", arg=conversation_id
    )


def test_the_console_shows_the_verified_customer_the_order_and_the_bot_reasoning(server, browser) -> None:
    base, app = server
    order = order_with("shipped")
    customer = app.state.desk.assistant.actions.orders.customer(order["customer_id"])
    shopper = start_shopper(browser, base)
    ask(shopper, "Where is my order?")
    ask(shopper, f"{order['id']}, email {order['email']}")
    ask(shopper, "It is late and I need it for a trip, can someone check?")
    shopper.click("#sa-human")
    shopper.wait_for_function(
        "() => /team|agent/i.test(document.querySelector('#sa-chat')?.innerText.slice(-400) ?? '')"
    )
    conversation_id = conversation_with(app, "It is late and I need it for a trip, can someone check?")

    agent = sign_in(browser, base)
    entry = agent.locator("#agent-queue label", has_text=conversation_id[:10]).first
    assert "need it for a trip" in entry.inner_text()  # the issue, not the press of "talk to a human"
    open_in_console(agent, conversation_id)
    agent.wait_for_function("(id) => document.querySelector('#agent-customer')?.innerText.includes(id)",
                            arg=order["id"])  # fmt: skip
    panel = agent.inner_text("#agent-customer")
    assert "verified" in panel and customer.name in panel and order["email"] in panel
    assert "Order in question" in panel and "shipped" in panel and order["tracking_number"] in panel
    reasoning = agent.inner_text("#agent-reasoning")
    assert "Understood:" in reasoning and "rule:" in reasoning and "Sources:" in reasoning
    assert not agent.locator("#agent-trace").is_visible()  # the raw trace waits behind its toggle
    agent.click("#agent-trace-toggle button >> nth=0")
    agent.locator("#agent-trace").wait_for(state="visible")
    assert "intent" in agent.inner_text("#agent-trace")
    screenshot(agent, "agent-conversation-view")
    for page in (shopper, agent):
        page.context.close()


def test_agent_takes_over_and_the_shopper_sees_the_edited_suggestion(server, browser) -> None:
    base, app = server
    shopper = start_shopper(browser, base)
    ask(shopper, "Where is my order?")
    shopper.click("#sa-human")
    shopper.wait_for_function(
        "() => /team|agent/i.test(document.querySelector('#sa-chat')?.innerText.slice(-400) ?? '')"
    )
    # the newest hand-off (an earlier test's may have waited longer and rank first)
    conversation_id = max((c for c in app.state.desk.queue() if c.handoff), key=lambda c: c.updated_at).id

    agent = sign_in(browser, base, wrong_first=True)
    entry = agent.locator("#agent-queue label", has_text=conversation_id[:10]).first
    assert "🔴" in entry.inner_text() and "Where is my order?" in entry.inner_text()  # the customer's words
    entry.click()
    agent.wait_for_function(
        "(id) => document.querySelector('#agent-status')?.innerText.includes(id)", arg=conversation_id
    )
    agent.wait_for_function(
        "() => document.querySelector('#agent-suggestion-1')?.innerText.includes('confidence')"
    )
    assert "Understood:" in agent.inner_text("#agent-reasoning")
    assert "not verified yet" in agent.inner_text("#agent-customer")  # and nothing about any customer
    agent.click("#agent-take-over")
    agent.wait_for_function(
        "() => document.querySelector('#agent-status')?.innerText.includes('taken over by alice')"
    )
    agent.click("#agent-use-1")
    agent.wait_for_function("() => document.querySelector('#agent-editor textarea').value.length > 0")
    suggestion = agent.input_value("#agent-editor textarea")
    editor = agent.locator("#agent-editor textarea")
    editor.click()
    editor.press("End")
    editor.press_sequentially(" — Alice from the support team")  # typed key by key, then sent at once
    agent.click("#agent-send")
    agent.wait_for_function("() => document.querySelector('#agent-editor textarea').value === ''")
    screenshot(agent, "agent-console")

    shopper.wait_for_function(
        "() => document.querySelector('#sa-chat')?.innerText.includes('Alice from the support team')",
        timeout=20_000,
    )
    screenshot(shopper, "shopper-sees-agent")
    edited = suggestion + " — Alice from the support team"
    decisions = [f for f in app.state.desk.conversations.feedback(conversation_id) if f.kind == "edited"]
    assert decisions and decisions[0].author == "alice" and decisions[0].suggestion == suggestion
    assert decisions[0].value == edited  # both texts kept: what was suggested and what was sent
    sent = [m.text for m in app.state.desk.open(conversation_id).messages if m.role == "agent"]
    assert sent == [edited]  # exactly what the agent edited

    ask(shopper, "are you still there?")  # the bot stays quiet while alice holds the conversation
    assert (
        "A member of our team has this conversation" in shopper.locator("#sa-chat .sa-note").last.inner_text()
    )
    for page in (shopper, agent):
        page.context.close()


@contextlib.contextmanager
def slow_replies(app, first_s: float, then_s: float = 0.1) -> Iterator[None]:
    """The bot's streamed replies start after `first_s` and continue a step every `then_s` (a slow model)."""
    assistant = app.state.chat.assistant
    original = assistant.respond_stream

    def slow(conversation_id, message, **kwargs):
        for n, event in enumerate(original(conversation_id, message, **kwargs)):
            time.sleep(first_s if n == 0 else then_s)
            yield event

    assistant.respond_stream = slow
    try:
        yield
    finally:
        del assistant.respond_stream  # the class's method again


def conversation_with(app, text: str) -> str:
    """The id of the one conversation in which a customer wrote `text`."""
    found = [c.id for c in app.state.desk.queue(limit=500)
             if any(m.role == "customer" and m.text == text for m in app.state.desk.open(c.id).messages)]  # fmt: skip
    assert len(found) == 1, f"{len(found)} conversations have {text!r}"
    return found[0]


def stored_messages(app, text: str, *, at_least: int, timeout_s: float = 30.0) -> list:
    """The messages of the conversation in which a customer wrote `text`, once it has `at_least` of them
    (a message is stored when its turn ends)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [app.state.desk.open(c.id).messages for c in app.state.desk.queue(limit=500)]
        mine = [m for m in found if any(x.role == "customer" and x.text == text for x in m)]
        if mine and len(mine[0]) >= at_least:
            return list(mine[0])
        assert time.monotonic() < deadline, f"no conversation with {text!r} has {at_least} messages"
        time.sleep(0.25)


def replies(page) -> int:
    return page.locator("#sa-chat .sa-reply, #sa-chat .sa-note").count()


def test_messages_sent_while_a_reply_streams_are_kept_stored_and_answered(server, browser) -> None:
    base, app = server
    page = start_shopper(browser, base)
    first, second = "How many days does delivery to Canada take?", "And what is the return policy, please?"
    draft = "a question I am still typing"
    with slow_replies(app, 2.0):
        page.fill("#sa-input textarea", first)
        page.click("#sa-send")
        page.wait_for_function("(t) => document.querySelector('#sa-chat')?.innerText.includes(t)", arg=first)
        assert replies(page) == 0  # the first reply is still being written
        page.fill("#sa-input textarea", second)
        page.press("#sa-input textarea", "Enter")  # sent mid-stream: Gradio's default would drop it
        page.wait_for_function("() => document.querySelector('#sa-input textarea').value === ''")
        page.wait_for_function("(t) => document.querySelector('#sa-chat')?.innerText.includes(t)", arg=second)
        page.fill("#sa-input textarea", draft)  # typed while replies stream: must survive them
        page.wait_for_function("() => document.querySelectorAll('#sa-chat .sa-reply').length >= 2")
    screenshot(page, "shopper-two-messages-while-streaming")
    assert page.input_value("#sa-input textarea") == draft
    text = chat_text(page)
    assert text.index(first) < text.index(second)
    messages = app.state.desk.open(conversation_with(app, first)).messages
    assert [m.role for m in messages] == ["customer", "assistant", "customer", "assistant"]
    assert [m.text for m in messages if m.role == "customer"] == [first, second]
    page.context.close()


def test_messages_during_a_takeover_and_right_after_release_are_stored_and_answered(server, browser) -> None:
    base, app = server
    desk = app.state.desk
    page = start_shopper(browser, base)
    ask(page, "Do you ship to Canada?")
    conversation_id = conversation_with(app, "Do you ship to Canada?")
    desk.take_over(conversation_id, "alice")

    ask(page, "Is somebody there?")  # while alice holds it: stored for her, the bot stays quiet
    assert t_note(page) and page.locator("#sa-chat .sa-reply").count() == 1
    waiting = [m for m in desk.open(conversation_id).messages if m.text == "Is somebody there?"]
    assert waiting and waiting[0].meta.get("for_agent") is True

    sent_at = time.monotonic()
    desk.send(conversation_id, "alice", "Yes, Alice here. Canada takes about a week.")
    page.wait_for_function(  # pushed to the page within 3 s of the agent sending it
        "() => document.querySelector('#sa-chat')?.innerText.includes('Alice here')", timeout=3_000
    )
    shown_after = time.monotonic() - sent_at
    desk.release(conversation_id, "alice")

    before = page.locator("#sa-chat .sa-reply").count()
    ask(page, "What is your return policy?")  # right after the release: the bot answers again
    assert page.locator("#sa-chat .sa-reply").count() == before + 1
    screenshot(page, "shopper-after-release")
    roles = [(m.role, m.text) for m in desk.open(conversation_id).messages]
    assert roles[-2:][0] == ("customer", "What is your return policy?") and roles[-1][0] == "assistant"
    assert ("agent", "Yes, Alice here. Canada takes about a week.") in roles
    assert shown_after < 3.0
    page.context.close()


def t_note(page) -> bool:
    return "A member of our team has this conversation" in page.locator("#sa-chat .sa-note").last.inner_text()


def seed_a_week_of_conversations(app) -> None:
    """Conversations through the services on earlier days (their start moved back), so the plots have lines."""
    from datetime import timedelta

    from sqlalchemy import update

    from assistant.store.models import Conversation, utcnow

    chat, desk = app.state.chat, app.state.desk
    questions = ["How long does shipping to Canada take?", "Can I return shoes I have worn once?",
                 "Do you sell helicopters?", "寄到加拿大要多久？", "What payment methods do you take?"]  # fmt: skip
    moved: dict[str, int] = {}
    for n in range(15):
        session = chat.start(language="zh" if n % 5 == 3 else "en")
        chat.send(session.conversation_id, session.token, questions[n % 5])
        reply = chat.history(session.conversation_id, session.token)[-1]
        chat.rate(session.conversation_id, session.token, message_id=reply.id, is_helpful=n % 4 != 0)
        if n % 3 == 0:
            chat.request_human(session.conversation_id, session.token)
            suggestion = desk.suggestions(session.conversation_id, k=1)[0]
            desk.send(session.conversation_id, "alice", suggestion.text, suggestion=suggestion, rank=1)
        moved[session.conversation_id] = n % 5 + 1
    with app.state.desk.conversations.db.session() as db:
        for conversation_id, days in moved.items():
            db.execute(update(Conversation).where(Conversation.id == conversation_id)
                       .values(created_at=utcnow() - timedelta(days=days)))  # fmt: skip
        db.commit()


def test_the_analytics_page_shows_figures_plots_and_unanswered_questions(server, browser) -> None:
    base, app = server
    seed_a_week_of_conversations(app)
    shopper = start_shopper(browser, base)
    for question in ("What is the weather on Mars tomorrow?", "What is the weather on Mars tomorrow??"):
        ask(shopper, question)
    reply_id = (
        app.state.desk.open(conversation_with(app, "What is the weather on Mars tomorrow?")).messages[-1].id
    )
    assert reply_id
    shopper.fill("#sa-comment textarea", "not what I asked")
    shopper.click("#sa-down")
    shopper.wait_for_function("() => document.querySelector('#sa-comment textarea').value === ''")

    agent = sign_in(browser, base)
    agent.click("button[role=tab]:has-text('Analytics')")
    agent.wait_for_function(
        "() => /conversations/.test(document.querySelector('#analytics-summary')?.innerText ?? '')"
    )
    summary = agent.inner_text("#analytics-summary")
    assert "contained" in summary and "satisfaction" in summary and "reply time" in summary
    for plot in ("conversations", "rates", "timing", "intents", "reasons"):  # drawn by Vega, not just numbers
        agent.locator(f"#analytics-{plot} canvas, #analytics-{plot} svg").first.wait_for(state="visible")
    agent.wait_for_function(
        "() => (document.querySelector('#analytics-questions')?.innerText ?? '').includes('weather on Mars')"
    )
    screenshot(agent, "agent-analytics")
    with agent.expect_download() as download:
        agent.click("#analytics-csv-days")
    rows = download.value.path().read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("day,language,arm,conversations,turns,contained") and len(rows) >= 3
    report = agent.request.get(base + "/api/v1/analytics?days=7")  # the JSON API needs a bearer token
    assert report.status == 401
    for page in (shopper, agent):
        page.context.close()


def test_shopper_cannot_open_the_console(server, browser) -> None:
    base, _ = server
    page = new_page(browser)
    page.goto(base + "/agent/")
    page.wait_for_url(re.compile(r".*/agent/login$"))
    response = page.request.get(base + "/agent/config")
    assert response.status == 401
    page.context.close()


def open_widget(browser, base: str):
    """The demo product page with the widget opened and greeting."""
    page = new_page(browser)
    page.goto(base + "/demo")
    page.wait_for_selector("#product-title")
    page.click("#sa-w-bubble")
    page.wait_for_selector("#sa-w-panel.sa-open")
    page.wait_for_function("() => document.querySelector('#sa-w-log')?.innerText.includes('How can I help')")
    return page


def test_widget_on_the_demo_page(server, browser) -> None:
    base, _ = server
    page = open_widget(browser, base)
    page.fill("#sa-w-input", "How long does shipping to Canada take?")
    page.press("#sa-w-input", "Enter")
    page.wait_for_selector("#sa-w-log .sa-w-source summary")
    assert "5-8 business days" in page.inner_text("#sa-w-log")
    page.click("#sa-w-log .sa-w-source summary >> nth=-1")
    page.fill("#sa-w-input", "I'm looking for running shoes under 100")
    page.click("#sa-w-send")
    page.wait_for_selector("#sa-w-log .sa-w-card")
    screenshot(page, "widget-demo-page")
    page.reload()  # the widget restores its conversation from localStorage
    page.click("#sa-w-bubble")
    page.wait_for_selector("#sa-w-log .sa-w-card")
    page.click("#sa-w-human")
    page.wait_for_function(
        "() => /team|agent/i.test(document.querySelector('#sa-w-log')?.innerText.slice(-300) ?? '')"
    )
    page.context.close()


def test_the_widget_takes_messages_sent_while_a_reply_streams(server, browser) -> None:
    base, app = server
    page = open_widget(browser, base)
    first, second = "How many days does shipping to Canada take, roughly?", "And can I return worn shoes?"
    with slow_replies(app, 2.0):
        page.fill("#sa-w-input", first)
        page.press("#sa-w-input", "Enter")
        page.wait_for_function("(t) => document.querySelector('#sa-w-log')?.innerText.includes(t)", arg=first)
        page.fill("#sa-w-input", second)
        page.press("#sa-w-input", "Enter")  # mid-stream: shown at once, sent when the first reply ends
        assert page.input_value("#sa-w-input") == ""
        page.wait_for_function(
            "(t) => document.querySelector('#sa-w-log')?.innerText.includes(t)", arg=second
        )
        text = page.inner_text("#sa-w-log")
        assert text.index(first) < text.index(second)
        messages = stored_messages(app, first, at_least=4)
    assert [m.text for m in messages if m.role == "customer"] == [first, second]
    assert [m.role for m in messages] == ["customer", "assistant", "customer", "assistant"]
    page.context.close()


BAIT = "http://127.0.0.1:9/bait"  # nothing listens there; a request to it would mean shopper text loaded something
TRAPS = [
    f"look ![product photo]({BAIT}/markdown.png) here",
    f"see [my link]({BAIT}/link) and <img src='{BAIT}/raw.png' onerror='window.pwned=1'> ok",
    f"<a href='{BAIT}/anchor'>click</a> **bold** _under_ www.example.com {BAIT}/bare.png",
]


def watch_requests(page, sizes: list[int] | None = None) -> list[str]:
    """URLs the page requests (and, into `sizes`, how big each body it sends to the Gradio queue is)."""
    seen: list[str] = []

    def record(request) -> None:
        seen.append(request.url)
        if sizes is not None and "queue/join" in request.url:
            sizes.append(len(request.post_data_buffer or b""))

    page.context.on("request", record)
    return seen


def assert_inert(page, root: str, seen: list[str]) -> None:
    assert not [url for url in seen if "/bait" in url], seen
    assert (
        page.locator(f"{root} img[src*='bait'], {root} a[href*='bait'], {root} strong, {root} em").count()
        == 0
    )
    assert page.evaluate("() => window.pwned === undefined")


def test_shopper_text_is_inert_in_the_chat_the_console_and_the_widget(server, browser) -> None:
    base, app = server
    shopper = start_shopper(browser, base)
    sizes: list[int] = []
    seen = watch_requests(shopper, sizes)
    violations: list[str] = []
    shopper.on(
        "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
    )
    for trap in TRAPS:
        ask(shopper, trap)
    text = chat_text(shopper)
    assert "![product photo](" in text and "[my link](" in text and "<img src=" in text and "**bold**" in text
    assert_inert(shopper, "#sa-chat", seen)
    shopper.reload()  # stored messages come back just as inert
    shopper.wait_for_function(
        "() => document.querySelector('#sa-chat')?.innerText.includes('![product photo](')"
    )
    assert_inert(shopper, "#sa-chat", seen)
    assert not violations, violations  # the page itself runs under its CSP without complaint
    # The page never sends its chat back (a long conversation would outgrow the body limit): only the message.
    assert sizes and max(sizes) < 2000, sizes
    screenshot(shopper, "shopper-inert-text")
    conversation_id = next(
        c.id
        for c in app.state.desk.queue()
        if any("![product photo](" in m.text for m in app.state.desk.open(c.id).messages)
    )

    agent = new_page(browser)
    agent_seen = watch_requests(agent)
    agent.goto(base + "/agent/login")
    agent.fill("#username", "alice")
    agent.fill("#password", "correct horse")
    agent.click("#sign-in")
    agent.wait_for_selector("#agent-queue label")
    agent.locator("#agent-queue label", has_text=conversation_id[:10]).first.click()
    agent.wait_for_function(
        "() => document.querySelector('#agent-chat')?.innerText.includes('![product photo](')"
    )
    agent.wait_for_function(
        "() => document.querySelector('#agent-suggestion-1')?.innerText.includes('confidence')"
    )
    assert_inert(agent, "#agent-chat", agent_seen)
    assert "[my link](" in agent.inner_text("#agent-chat")
    screenshot(agent, "agent-inert-text")

    widget = new_page(browser)
    widget_seen = watch_requests(widget)
    widget.goto(base + "/demo")
    widget.click("#sa-w-bubble")
    widget.wait_for_function(
        "() => document.querySelector('#sa-w-log')?.innerText.includes('How can I help')"
    )
    for trap in TRAPS:
        replies = widget.locator("#sa-w-log .sa-w-rate").count()
        widget.fill("#sa-w-input", trap)
        widget.press("#sa-w-input", "Enter")
        widget.wait_for_function(
            "(n) => document.querySelectorAll('#sa-w-log .sa-w-rate').length > n", arg=replies
        )
    assert "![product photo](" in widget.inner_text("#sa-w-log")
    assert_inert(widget, "#sa-w-log", widget_seen)
    for page in (shopper, agent, widget):
        page.context.close()


def test_pages_carry_security_headers(server, browser) -> None:
    base, _ = server
    page = new_page(browser)
    response = page.goto(base + "/")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    page.context.close()
