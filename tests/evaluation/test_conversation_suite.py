"""The hand-written conversation suite: its files load, and each check fails when it should."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import DataError
from assistant.evaluation.conversation_suite import ConversationResult, check_reply, load_suite, summarise
from assistant.schema import (
    ActionResult,
    Decision,
    DialogueState,
    GuardResult,
    LanguageResult,
    ProductCard,
    Reply,
    TurnTrace,  # fmt: skip
    Understanding,
)

SUITE = Path(__file__).resolve().parents[2] / "evals" / "conversations"


def test_the_committed_suite_loads_for_both_shops() -> None:
    demo, harbour = load_suite(SUITE, "Lumen Lane"), load_suite(SUITE, "Harbour & Pine")
    assert len(demo) + len(harbour) >= 150 and len(harbour) >= 40
    assert {c.language for c in demo} == {"en", "zh"}
    assert {"typos", "slang", "code_switching", "references", "constraints", "multi_intent", "angry", "off_topic",
            "chit_chat", "follow_up"} <= {c.category for c in demo}  # fmt: skip
    assert load_suite(SUITE, "Another Shop") == []


def test_a_malformed_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "shop: X\nconversations:\n  - id: a\n    turns:\n      - user: hi\n        expect: {colour: red}\n"
    )
    with pytest.raises(DataError, match=r"bad.yaml.*unknown checks"):
        load_suite(tmp_path, "X")
    (tmp_path / "bad.yaml").write_text("shop: [unclosed")
    with pytest.raises(DataError, match="not valid YAML"):
        load_suite(tmp_path, "X")


def reply(text: str, *, action: str = "recommend_products", cards: tuple[ProductCard, ...] = (),
          facts: dict | None = None) -> Reply:  # fmt: skip
    trace = TurnTrace(GuardResult(text), LanguageResult("en", "script", 1.0), Understanding("recommendation", 0.9, False, {}, 0.0),
                      DialogueState("c"), Decision(action, "r"), action=ActionResult(action, "done", facts or {}, "LL-1"))  # fmt: skip
    return Reply(text, "en", cards, (), (), 0.9, False, trace)


def test_checks_fail_when_they_should() -> None:
    products = {"P1": {"id": "P1", "attributes": {"colour": "brown"}, "product_type": {"en": "backpack"}}}
    card = ProductCard("P1", "Brown backpack", 80.0, "USD", "", True)
    got = check_reply(reply("Here are some options", cards=(card,)),
                      {"contains_any": ["no black"], "cards_match": {"colour": "black", "price_max": 100}}, products)  # fmt: skip
    assert got == ["reply has none of ['no black']", "card P1 breaks colour=black"]
    assert check_reply(reply("Order LL-1 is shipped", action="lookup_order", facts={"status": "shipped"}),
                       {"no_order_facts": True, "action": "request_verification"}, {}) == [
        "action lookup_order, expected request_verification", "order details of LL-1 shown"]  # fmt: skip
    assert (
        check_reply(reply("Which product do you mean?", action="clarify_product"), {"clarifies": True}, {})
        == []
    )
    assert check_reply(reply("x" * 50), {"max_chars": 10, "starts_with_any": ["yes"]}, {}) == [
        "reply does not start with any of ['yes']", "50 characters, expected at most 10"]  # fmt: skip
    assert summarise([ConversationResult(load_suite(SUITE, "Harbour & Pine")[0])])["pass_rate"] == 1.0
