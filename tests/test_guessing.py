"""Identity checks resist guessing: scripted brute force over the demo shop's postcodes and e-mails,
from one conversation, from many conversations and from many addresses, never reaches an order; the
lock is in the database (it survives a restart) and the agent sees it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from assistant_fixtures import SHOP, order_with
from web_fixtures import fake_assistant

from assistant.chat_service import AgentDesk, ShopperChat
from assistant.settings import VerificationSettings
from assistant.store.verification import VerificationLedger
from ui.agent_console import _status

CUSTOMERS = [json.loads(line) for line in (SHOP / "store" / "customers.jsonl").open(encoding="utf-8")]
BY_ID = {c["id"]: c for c in CUSTOMERS}
POSTCODES = sorted({c["address"]["postcode"] for c in CUSTOMERS})
EMAILS = sorted({c["email"] for c in CUSTOMERS})


def secrets_of(order: dict) -> list[str]:
    """What a leak would show: the order's facts that only its owner may see."""
    values = [order.get("tracking_number"), order.get("shipped_at"), order.get("delivered_at"),
              order.get("refunded_at"), order.get("cancelled_at"), order.get("carrier")]  # fmt: skip
    if order.get("refund_amount") is not None:
        values.append(f"{order['refund_amount']:.2f}")
    values.append(f"{order['total']:.2f}")
    return [str(v) for v in values if v]


def guesses(order: dict, kind: str) -> list[str]:
    """Every postcode (or e-mail) of the shop, the right one last: the script's best case is the end."""
    if kind == "postcode":
        right = BY_ID[order["customer_id"]]["address"]["postcode"]
        values = [p for p in POSTCODES if p != right and p != order["shipping_address"]["postcode"]] + [right]
        return [f"{order['id']} postcode {p}" for p in values]
    values = [*[e for e in EMAILS if e != order["email"]][:60], order["email"]]
    return [f"order {order['id']}, email {e}" for e in values]


@pytest.fixture
def services(tmp_path: Path):
    assistant = fake_assistant(tmp_path)
    return ShopperChat(assistant), AgentDesk(assistant), assistant


def assert_no_leak(replies, order: dict) -> None:
    for reply in replies:
        assert reply.trace.action is None or reply.trace.action.status != "done", reply.text
        for secret in secrets_of(order):
            assert secret not in reply.text, (secret, reply.text)


@pytest.mark.parametrize(("status", "kind"), [("shipped", "postcode"), ("refunded", "postcode"),
                                              ("cancelled", "postcode"), ("delivered", "email")])  # fmt: skip
def test_brute_force_in_one_conversation_never_reaches_the_order(services, status: str, kind: str) -> None:
    chat, _, _ = services
    order = order_with(status)
    session = chat.start(channel="api")
    chat.send(
        session.conversation_id, session.token, f"Where is my order {order['id']}?", client="198.51.100.7"
    )
    replies = []
    for message in guesses(order, kind):
        outcome = chat.send(session.conversation_id, session.token, message, client="198.51.100.7")
        assert outcome.reply is not None
        replies.append(outcome.reply)
    assert_no_leak(replies, order)
    reasons = [r.trace.action.reason for r in replies if r.trace.action is not None]
    print(
        f"brute force over {kind}s of a {status} order in one conversation: {len(replies)} guesses, "
        f"{reasons.count('not_verified') + 1} checked (the last of them locked the order), "
        f"{reasons.count('locked') - 1} refused unchecked, 0 leaks"
    )
    assert reasons[:2] == ["not_verified", "not_verified"]
    assert set(reasons[2:]) == {"locked"}  # the third failure locks the order, the right answer included
    assert "too many unsuccessful attempts" in replies[-1].text
    assert replies[-1].suggestions[0].startswith("Yes, a human")


def test_a_new_conversation_per_guess_still_stops_at_the_order_limit(services) -> None:
    chat, _, _ = services
    order = order_with("shipped")
    checked = 0
    replies = []
    for index, message in enumerate(guesses(order, "postcode")):
        session = chat.start(channel="api")
        chat.send(session.conversation_id, session.token, "where is my order?", client=f"203.0.113.{index}")
        reply = chat.send(session.conversation_id, session.token, message, client=f"203.0.113.{index}").reply
        assert reply is not None
        replies.append(reply)
        checked += reply.trace.action is not None and reply.trace.action.reason == "not_verified"
    assert_no_leak(replies, order)
    print(
        f"brute force, a new conversation and address per guess: {len(replies)} guesses, {checked + 1} checked, 0 leaks"
    )
    assert checked == 2 and replies[-1].trace.action.reason == "locked"


def test_one_address_trying_a_few_guesses_on_many_orders_is_stopped(tmp_path: Path) -> None:
    assistant = fake_assistant(tmp_path)
    assistant.actions.ledger = VerificationLedger(
        assistant.conversations.db, VerificationSettings(max_failures_per_client=6)
    )
    chat = ShopperChat(assistant)
    orders = [json.loads(line) for line in (SHOP / "store" / "orders.jsonl").open(encoding="utf-8")][:12]
    outcomes = []
    for order in orders:  # two wrong postcodes per order: under the order limit, in a fresh conversation each
        session = chat.start(channel="api")
        chat.send(session.conversation_id, session.token, "where is my order?", client="192.0.2.50")
        for message in guesses(order, "postcode")[:2]:
            reply = chat.send(session.conversation_id, session.token, message, client="192.0.2.50").reply
            assert reply is not None and reply.trace.action is not None
            outcomes.append(reply.trace.action.reason)
    assert outcomes.count("not_verified") == 5 and outcomes[5:] == ["locked"] * (len(outcomes) - 5)
    # Someone else, at another address, is not affected.
    session = chat.start(channel="api")
    order = order_with("shipped")
    reply = chat.send(session.conversation_id, session.token, f"order {order['id']}, email {order['email']}",
                      client="192.0.2.99").reply  # fmt: skip
    assert reply is not None and reply.trace.action.status == "done"


def test_unknown_and_known_order_numbers_read_the_same(services) -> None:
    chat, _, _ = services
    known = order_with("delivered")
    texts = []
    for order_id in (known["id"], "LL-000001"):  # the second does not exist
        session = chat.start(channel="api")
        chat.send(session.conversation_id, session.token, "where is my order?", client="x")
        replies = [
            chat.send(
                session.conversation_id, session.token, f"order {order_id} postcode 00000", client="x"
            ).reply
            for _ in range(4)
        ]
        texts.append([r.text for r in replies if r is not None])
    assert texts[0] == texts[1]  # first failures, and the lock, word for word


def test_the_lock_survives_a_restart_and_shows_in_the_console(tmp_path: Path) -> None:
    assistant = fake_assistant(tmp_path)
    chat = ShopperChat(assistant)
    order = order_with("shipped")
    session = chat.start(channel="api")
    chat.send(session.conversation_id, session.token, "where is my order?", client="198.51.100.1")
    for message in guesses(order, "postcode")[:3]:
        chat.send(session.conversation_id, session.token, message, client="198.51.100.1")
    restarted = fake_assistant(tmp_path)  # the same database file, a new process's objects
    chat, desk = ShopperChat(restarted), AgentDesk(restarted)
    other = chat.start(channel="api")
    chat.send(other.conversation_id, other.token, "where is my order?", client="198.51.100.2")
    right = guesses(order, "postcode")[-1]
    reply = chat.send(other.conversation_id, other.token, right, client="198.51.100.2").reply
    assert reply is not None and reply.trace.action.reason == "locked"
    view = desk.open(session.conversation_id)
    assert view.verification.failures == 3 and order["id"] in view.verification.locked_orders
    shown = html.unescape(_status(view))  # the console's Markdown, as the agent reads it
    assert "Identity checks locked" in shown and order["id"] in shown
    # The shopper accepts the offered human.
    yes = chat.send(other.conversation_id, other.token, "yes please", client="198.51.100.2").reply
    assert yes is not None and yes.handoff


def test_agent_suggestions_do_not_count_as_guesses(services) -> None:
    chat, desk, assistant = services
    order = order_with("shipped")
    session = chat.start(channel="api")
    chat.send(session.conversation_id, session.token, "where is my order?", client="x")
    chat.send(session.conversation_id, session.token, guesses(order, "postcode")[0], client="x")
    for _ in range(5):
        desk.suggestions(session.conversation_id)
    assert assistant.actions.ledger.status(session.conversation_id).failures == 1


def test_a_verified_customer_is_not_locked_out_by_later_typos(services) -> None:
    chat, _, _ = services
    order = order_with("shipped")
    session = chat.start(channel="api")
    first = chat.send(
        session.conversation_id, session.token, f"where is {order['id']}? {order['email']}"
    ).reply
    assert first is not None and first.trace.action.status == "done"
    again = chat.send(session.conversation_id, session.token, "and where is my order now?").reply
    assert again is not None and order["tracking_number"] in again.text
