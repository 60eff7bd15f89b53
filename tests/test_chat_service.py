"""The web's rules without a browser: who may read a conversation, input limits, human takeover,
hand-off, feedback, agent accounts and rate limits (fakes-built assistant on the demo shop)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from assistant_fixtures import order_with
from web_fixtures import fake_assistant

from assistant.accounts import AgentAccounts, hash_password, parse_configured_accounts, verify_password
from assistant.chat_service import AgentDesk, ShopperChat
from assistant.errors import AuthError, InputError, NotFoundError, RateLimitedError
from assistant.rate_limit import RateLimiter
from assistant.store.models import AgentSession


@pytest.fixture
def services(tmp_path: Path):
    assistant = fake_assistant(tmp_path)
    return ShopperChat(assistant, max_message_chars=500), AgentDesk(assistant)


def test_only_the_token_holder_reads_a_conversation(services) -> None:
    chat, _ = services
    mine, theirs = chat.start(), chat.start()
    chat.send(mine.conversation_id, mine.token, "How long does shipping to Canada take?")
    assert len(chat.history(mine.conversation_id, mine.token)) == 2
    for conversation_id, token in [(mine.conversation_id, theirs.token), (mine.conversation_id, None),
                                   ("c_unknown", mine.token), (mine.conversation_id, mine.token + "x")]:  # fmt: skip
        with pytest.raises(NotFoundError):
            chat.history(conversation_id, token)
        with pytest.raises(NotFoundError):
            chat.send(conversation_id, token, "hello")
    assert chat.history(theirs.conversation_id, theirs.token) == []
    assert len(mine.conversation_id) >= 20 and mine.conversation_id != theirs.conversation_id


@pytest.mark.parametrize(("message", "problem"), [("", "empty"), ("   \n", "empty"), ("x" * 501, "limit is 500"),
                                                   (None, "must be text")])  # fmt: skip
def test_refused_messages_change_nothing(services, message, problem: str) -> None:
    chat, _ = services
    session = chat.start()
    with pytest.raises(InputError, match=problem):
        chat.send(session.conversation_id, session.token, message)
    assert chat.history(session.conversation_id, session.token) == []


def test_history_shows_cards_and_sources_but_never_the_trace(services) -> None:
    chat, _ = services
    session = chat.start()
    outcome = chat.send(session.conversation_id, session.token, "I'm looking for running shoes under 100")
    assert outcome.reply is not None and outcome.reply.cards
    stored = chat.history(session.conversation_id, session.token)[-1]
    assert stored.role == "assistant" and stored.id == outcome.reply_message_id
    assert [c["product_id"] for c in stored.meta["cards"]] == [c.product_id for c in outcome.reply.cards]
    assert {"intent", "slots", "facts", "rule", "drafts"}.isdisjoint(stored.meta)


def test_stored_messages_hide_the_shoppers_phone_but_never_the_shops(services) -> None:
    chat, _ = services
    session = chat.start()
    chat.send(
        session.conversation_id, session.token, "please call me back on 07911 123456 or +49 151 12345678"
    )
    outcome = chat.request_human(session.conversation_id, session.token)
    shop_phone = "+1 555 0100"  # the demo shop's published number (its contact passage)
    assert outcome.reply is not None and any(shop_phone in s.text for s in outcome.reply.sources)
    stored = chat.history(session.conversation_id, session.token)
    assert "07911" not in stored[0].text and "[PHONE]" in stored[0].text and "12345678" not in stored[0].text
    assert any(shop_phone in s["text"] for s in stored[-1].meta["sources"])


def test_streaming_ends_with_the_outcome(services) -> None:
    chat, _ = services
    session = chat.start()
    events = list(
        chat.stream(session.conversation_id, session.token, "How long does shipping to Canada take?")
    )
    *deltas, outcome = events
    assert (
        deltas and "".join(e.text for e in deltas if e.kind == "delta").strip() == outcome.reply.text.strip()
    )


def test_talk_to_a_human_always_hands_off_and_queues_first(services) -> None:
    chat, desk = services
    calm, human = chat.start(), chat.start(language="zh")
    chat.send(calm.conversation_id, calm.token, "How long does shipping to Canada take?")
    chat.send(human.conversation_id, human.token, "这件衣服可以退吗")
    outcome = chat.request_human(human.conversation_id, human.token)
    assert outcome.reply is not None and outcome.reply.handoff and outcome.reply.language == "zh"
    assert outcome.reply.trace.decision.action == "handoff"
    queue = desk.queue()
    assert queue[0].id == human.conversation_id and queue[0].handoff
    assert calm.conversation_id in [c.id for c in queue[1:]]


def test_the_queue_shows_the_customers_words_and_puts_the_most_urgent_first(services) -> None:
    """Each entry carries the customer's own latest words (not the bot's hand-off sentence), the intent,
    sentiment and hand-off reason, and since when they have waited; waiting and upset comes first, then
    waiting, then taken over, then the rest."""
    chat, desk = services
    calm, waiting, upset, taken = chat.start(), chat.start(), chat.start(), chat.start()
    chat.send(calm.conversation_id, calm.token, "How long does shipping to Canada take?")
    chat.send(waiting.conversation_id, waiting.token, "Can I return shoes I have worn once?")
    chat.request_human(waiting.conversation_id, waiting.token)
    angry = chat.send(upset.conversation_id, upset.token,
                      "This is ridiculous, the lamp arrived broken and nobody answers me!!")  # fmt: skip
    assert angry.reply is not None and angry.reply.handoff
    chat.send(taken.conversation_id, taken.token, "Where is my parcel?")
    chat.request_human(taken.conversation_id, taken.token)
    desk.take_over(taken.conversation_id, "alice")
    queue = desk.queue()
    order = [c.id for c in queue]
    assert order.index(upset.conversation_id) < order.index(waiting.conversation_id) < order.index(
        taken.conversation_id) < order.index(calm.conversation_id)  # fmt: skip
    first = queue[0]
    assert "lamp arrived broken" in first.customer_words and first.handoff_reason == "very upset"
    assert first.sentiment is not None and first.sentiment < 0 and first.waiting_since is not None
    entry = next(c for c in queue if c.id == waiting.conversation_id)
    assert entry.handoff_reason == "shopper pressed talk to a human" and entry.waiting_since is not None
    assert entry.customer_words == "Can I return shoes I have worn once?"  # not the button's message
    assert entry.intent not in ("", "ask_human")  # the intent, not the button's
    assert next(c for c in queue if c.id == calm.conversation_id).waiting_since is None


def test_takeover_silences_the_bot_until_released(services) -> None:
    chat, desk = services
    session = chat.start()
    cid = session.conversation_id
    chat.send(cid, session.token, "Where is my order?")
    desk.take_over(cid, "alice")
    waiting = chat.send(cid, session.token, "hello? anyone?")
    assert waiting.reply is None and waiting.is_waiting_for_agent
    assert [m.role for m in chat.history(cid, session.token)][-1] == "customer"
    with pytest.raises(InputError, match="alice"):
        desk.take_over(cid, "bob")
    with pytest.raises(InputError, match="alice"):
        desk.send(cid, "bob", "hi from bob")
    desk.send(cid, "alice", "Hi, I'm Alice. Let me check that for you.")
    assert chat.history(cid, session.token)[-1].role == "agent"
    desk.release(cid, "alice")
    again = chat.send(cid, session.token, "How long does shipping to Canada take?")
    assert again.reply is not None and not again.reply.handoff
    kinds = [f.kind for f in desk.conversations.feedback(cid)]
    assert kinds == ["takeover", "written", "resolved"]


def test_every_agent_decision_is_feedback(services) -> None:
    chat, desk = services
    order = order_with("shipped")
    session = chat.start()
    cid = session.conversation_id
    chat.send(cid, session.token, "Where is my order?")
    suggestions = desk.suggestions(cid, k=3)
    assert suggestions and all(0 <= s.confidence <= 1 for s in suggestions)
    assert suggestions == sorted(suggestions, key=lambda s: -s.confidence)
    first = suggestions[0]
    desk.send(cid, "alice", first.text, suggestion=first, rank=1)
    desk.send(cid, "alice", first.text + f" (Order {order['id']}.)", suggestion=first, rank=1)
    desk.reject(cid, "alice", first, reason="asks twice", rank=1)
    rows = desk.conversations.feedback(cid)
    decisions = [(f.kind, f.author) for f in rows if f.kind != "takeover"]
    assert decisions == [("accepted", "alice"), ("edited", "alice"), ("rejected", "alice")]
    assert rows[-1].comment == "asks twice" and rows[-1].suggestion == first.text
    assert rows[2].meta["origin"] == first.origin and rows[2].meta["rank"] == 1
    with pytest.raises(InputError, match="empty"):
        desk.send(cid, "alice", "   ")


def test_thumbs_only_on_this_conversations_replies(services) -> None:
    chat, _ = services
    session, other = chat.start(), chat.start()
    outcome = chat.send(session.conversation_id, session.token, "How long does shipping to Canada take?")
    other_outcome = chat.send(other.conversation_id, other.token, "How long does shipping to Canada take?")
    feedback_id = chat.rate(session.conversation_id, session.token, message_id=outcome.reply_message_id,
                            is_helpful=False, comment="too slow, mail me at a@b.com")  # fmt: skip
    row = chat.conversations.feedback(session.conversation_id)[-1]
    assert row.id == feedback_id and row.value == "down" and "a@b.com" not in row.comment
    for message_id in (
        outcome.message_id,
        other_outcome.reply_message_id,
        10**9,
    ):  # a question; another's reply
        with pytest.raises(NotFoundError):
            chat.rate(session.conversation_id, session.token, message_id=message_id, is_helpful=True)


def test_passwords_are_hashed_and_sessions_expire(tmp_path: Path) -> None:
    assistant = fake_assistant(tmp_path)
    accounts = AgentAccounts(assistant.conversations.db)
    accounts.add("alice", "correct horse")
    with pytest.raises(InputError, match="exists"):
        accounts.add("alice", "another one")
    with pytest.raises(InputError, match="too short"):
        accounts.add("bob", "short")
    with pytest.raises(InputError, match="not a valid username"):
        accounts.add("Robert'); DROP TABLE agents;--", "long enough")
    for username, password in [("alice", "wrong horse"), ("nobody", "correct horse")]:
        with pytest.raises(AuthError):
            accounts.sign_in(username, password)
    token = accounts.sign_in("alice", "correct horse")
    assert accounts.identify(token) == "alice" and accounts.identify(token + "x") is None
    with accounts.db.session() as session:  # nothing stored is the token or the password itself
        row = session.query(AgentSession).one()
        assert token not in row.token_hash
        row.expires_at -= timedelta(days=2)
        session.commit()
    assert accounts.identify(token) is None
    token = accounts.sign_in("alice", "correct horse")
    accounts.remove("alice")
    assert accounts.identify(token) is None


def test_accounts_from_settings(tmp_path: Path) -> None:
    stored = hash_password("from settings")
    assert verify_password("from settings", stored) and not verify_password("From settings", stored)
    assert not verify_password("x", "garbage")
    accounts = AgentAccounts(fake_assistant(tmp_path).conversations.db, configured=f"carol:{stored}")
    assert accounts.usernames() == ["carol"]
    assert accounts.identify(accounts.sign_in("carol", "from settings")) == "carol"
    assert parse_configured_accounts("none") == {}
    with pytest.raises(InputError, match="hash-password"):
        parse_configured_accounts("carol:plaintext")


def test_rate_limiter_allows_bursts_then_says_when() -> None:
    limiter = RateLimiter(60, burst=3)
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("a")
    assert 0 < caught.value.retry_after_s <= 1.0 and "try again" in str(caught.value)
    limiter.check("b")  # other clients are unaffected
    RateLimiter(0).check("a")  # 0 turns limits off


@pytest.mark.parametrize("streamed", [True, False])
def test_a_turn_that_breaks_keeps_the_message_for_an_agent(services, monkeypatch, streamed: bool) -> None:
    """A failure inside the pipeline (here the understanding stage) gives the shopper the apology, and the
    message is stored with it, so the queue and the agent see what was asked."""
    chat, desk = services

    def broken(*args, **kwargs):
        raise RuntimeError("model crashed")

    session = chat.start()
    monkeypatch.setattr(chat.assistant.understander, "parse", broken)
    if streamed:
        events = list(chat.stream(session.conversation_id, session.token, "My parcel never came, help!"))
        assert events[-1].reply is not None and "went wrong" in events[-1].reply.text.lower()
    else:
        outcome = chat.send(session.conversation_id, session.token, "My parcel never came, help!")
        assert outcome.reply is not None and outcome.reply.confidence == 0.0
    stored = desk.open(session.conversation_id).messages
    assert (stored[0].role, stored[0].text) == ("customer", "My parcel never came, help!")
    assert stored[-1].role == "assistant" and stored[-1].meta["failed"] is True
    monkeypatch.undo()
    chat.send(session.conversation_id, session.token, "Do you ship to Canada?")  # the next turn works
    assert [m.role for m in desk.open(session.conversation_id).messages] == ["customer", "assistant"] * 2
