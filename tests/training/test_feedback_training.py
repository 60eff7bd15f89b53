"""Agent feedback becomes training data: agents' replies are targets (with the sources of the
suggestion they started from), the bot's replies are context only, conversations without a human
reply are left out, and what reaches a model is redacted."""

from __future__ import annotations

from pathlib import Path

from web_fixtures import fake_assistant

from assistant.chat_service import AgentDesk, ShopperChat
from assistant.training.feedback import feedback_conversations, feedback_manifest


def test_agent_replies_become_training_conversations(tmp_path: Path) -> None:
    from assistant.training.retriever import pairs_from_conversations, retrieval_corpus

    assistant = fake_assistant(tmp_path)
    chat, desk = ShopperChat(assistant, max_message_chars=500), AgentDesk(assistant)
    helped = chat.start()
    chat.send(helped.conversation_id, helped.token, "How long do I have to return shoes?")
    suggestion = next(s for s in desk.suggestions(helped.conversation_id) if s.sources)
    desk.send(helped.conversation_id, "alice", suggestion.text, suggestion=suggestion, rank=1)
    chat.send(helped.conversation_id, helped.token, "Thanks! Can you mail me at jo@example.com?")
    desk.send(helped.conversation_id, "alice", "Sure, I'll write to jo@example.com today.")
    desk.release(helped.conversation_id, "alice")
    bot_only = chat.start()
    chat.send(bot_only.conversation_id, bot_only.token, "Do you ship to Canada?")

    conversations = feedback_conversations(assistant.conversations.db)
    assert [c["id"] for c in conversations] == [f"feedback:{helped.conversation_id}"]
    turns = conversations[0]["turns"]
    assert [t["role"] for t in turns] == ["customer", "agent", "customer", "agent"]
    # the bot's reply and the agent's accepted suggestion answer the same message: one turn, a target
    accepted = turns[1]
    assert accepted["decision"] == "accepted" and suggestion.text in accepted["text"]
    assert accepted["passages"] == [s.id for s in suggestion.sources if s.kind == "knowledge"]
    assert turns[3]["decision"] == "written" and "jo@example.com" not in turns[3]["text"]
    assert "jo@example.com" not in turns[2]["text"]

    pairs = pairs_from_conversations(conversations, retrieval_corpus(assistant.shop))
    assert [p.query for p in pairs] == ["How long do I have to return shoes?"]
    assert set(pairs[0].relevant) == set(accepted["passages"])
    manifest = feedback_manifest(conversations)
    assert manifest["conversations"] == 1 and len(manifest["sha256"]) == 64


def test_bot_replies_are_never_targets(tmp_path: Path) -> None:
    assistant = fake_assistant(tmp_path)
    chat, desk = ShopperChat(assistant, max_message_chars=500), AgentDesk(assistant)
    session = chat.start()
    chat.send(session.conversation_id, session.token, "Where is my order?")
    desk.take_over(session.conversation_id, "bob")
    chat.send(session.conversation_id, session.token, "Hello?")
    desk.send(session.conversation_id, "bob", "Hi, I'm looking into it now.")
    turns = feedback_conversations(assistant.conversations.db)[0]["turns"]
    assert turns[1]["target"] is False and "decision" not in turns[1]  # the bot's answer
    assert turns[-1]["decision"] == "written" and turns[-1].get("target", True)
