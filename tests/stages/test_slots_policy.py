"""Slots from patterns and the catalog vocabulary; the policy's decision table."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.schema import DialogueState, GuardResult, Understanding
from assistant.shop import ShopProfile, load_profile
from assistant.stages.policy import PolicyMaker
from assistant.stages.slots import SlotExtractor, Vocabulary

PRODUCTS = [
    {"id": "P1", "brand": "Stride", "category": ["shoes", "sneakers"],
     "product_type": {"en": "running shoes", "zh": "跑步鞋"}, "attributes": {"colour": "black"}},
    {"id": "P2", "brand": "Satchel & Sons", "category": ["bags", "backpacks"],
     "product_type": {"en": "backpack", "zh": "双肩包"}, "attributes": {"colour": "navy", "material": "canvas"}},
]  # fmt: skip
PASSAGES = [{"id": "KB-PROMO-WELCOME10-en", "facts": {"code": "WELCOME10"}}]
PROFILE = load_profile(Path(__file__).resolve().parents[2] / "dialogue_data")


@pytest.fixture
def slots() -> SlotExtractor:
    return SlotExtractor(Vocabulary.from_catalog(PRODUCTS, PASSAGES, PROFILE))


def test_vocabulary_comes_from_the_catalog_and_the_shop() -> None:
    """Another shop: its own order numbers, colours, materials; a type in two categories names no category; a
    brand that is an ordinary word in the shop's texts is a filter only when the shopper cues it."""
    products = [
        {"id": "A", "brand": "Everyday", "title": "Everyday linen apron", "category": ["kitchen", "textiles"],
         "product_type": "apron", "attributes": {"colour": "olive", "material": "linen", "sizes": ["S", "M"]}},
        {"id": "B", "brand": "Potter", "title": "Stoneware mug for everyday use", "category": ["kitchen"],
         "product_type": "mug", "attributes": {"colour": "cream"}},
        {"id": "C", "brand": "Potter", "title": "Garden apron", "category": ["garden"], "product_type": "apron"},
    ]  # fmt: skip
    profile = ShopProfile(order_number=load_profile(None).order_number)
    vocabulary = Vocabulary.from_catalog(products, (), profile)
    assert vocabulary.common_word_brands == ("Everyday",)
    assert vocabulary.type_categories["apron"] == ("garden", "kitchen")
    extract = SlotExtractor(vocabulary).extract
    assert extract("an olive linen apron, order #10234") == {
        "colour": "olive", "material": "linen", "product_type": "apron", "order_id": "#10234"}  # fmt: skip
    assert "brand" not in extract("a mug for everyday coffee") and "brand" not in extract("Everyday mugs?")
    assert extract("is the Everyday apron washable")["brand"] == "Everyday"
    white = SlotExtractor(Vocabulary.from_catalog([{"id": "W", "attributes": {"colour": "white"}}])).extract
    assert white("白色的有吗")["colour"] == "white" and "colour" not in white("明白了，谢谢")
    assert extract("anything from Everyday?")["brand"] == "Everyday"
    assert extract("a Potter mug")["brand"] == "Potter"
    assert "order_id" not in extract("where is LL-123456?")  # another shop's format is not this one's
    assert extract("pottery in the kitchen")["category"] == "kitchen"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is LL-123456?", {"order_id": "LL-123456"}),
        ("订单号LL-123456，邮箱Ann@Example.com", {"order_id": "LL-123456", "email": "ann@example.com"}),
        ("black running shoes under $80 in size 42",
         {"colour": "black", "product_type": "running shoes", "category": "shoes", "price_max": "80", "size": "42"}),
        ("预算100块以内的黑色双肩包", {"colour": "black", "product_type": "backpack", "category": "bags", "price_max": "100"}),
        ("anything from satchel & sons? cheaper ones", {"brand": "Satchel & Sons", "cheaper": "yes"}),
        ("tell me about the second one", {"ordinal": "2"}),
        ("第三个有货吗", {"ordinal": "3"}),
        ("my chest is 96 cm", {"measure": "96"}),
        ("how long to ship to Japan?", {"region": "JP"}),
        ("code welcome10 fails", {"code": "WELCOME10"}),
        ("how do I wash wool?", {"care": "yes"}),
        ("皮革怎么保养？", {"care": "yes"}),
        ("I'm fine", {}),
        ("", {}),
        ("🎉", {}),
    ],
)  # fmt: skip
def test_slot_extraction(slots: SlotExtractor, text: str, expected: dict) -> None:
    assert slots.extract(text) == expected


def test_postcode_only_when_details_are_expected(slots: SlotExtractor) -> None:
    assert "postcode" not in slots.extract("LL-123456 97205")
    assert slots.extract("LL-123456 97205", expecting_details=True)["postcode"] == "97205"
    assert slots.extract("LL-123456，邮编SW1A 1AA", expecting_details=True)["postcode"] == "SW1A 1AA"


def decide(intent: str, *, slots: dict | None = None, state: DialogueState | None = None, confidence: float = 0.99,
           guard: GuardResult | None = None, sentiment: float = 0.0, out_of_scope: bool = False) -> str:  # fmt: skip
    understanding = Understanding(intent, confidence, out_of_scope, slots or {}, sentiment)
    return (
        PolicyMaker().decide(guard or GuardResult("text"), understanding, state or DialogueState("c")).action
    )


VERIFIED = DialogueState("c", verified_customer_id="C1", verified_order_ids=("LL-1",))


@pytest.mark.parametrize(
    ("kwargs", "action"),
    [
        ({"intent": "order_status"}, "request_verification"),
        ({"intent": "order_status", "slots": {"order_id": "LL-123456"}}, "request_verification"),
        ({"intent": "order_status", "slots": {"order_id": "LL-123456", "email": "a@b.c"}}, "lookup_order"),
        ({"intent": "order_status", "state": VERIFIED}, "lookup_order"),
        ({"intent": "cancel_order", "state": VERIFIED}, "confirm_cancel"),
        ({"intent": "confirm", "state": DialogueState("c", pending_action="confirm_cancel")}, "cancel_order"),
        ({"intent": "deny", "state": DialogueState("c", pending_action="confirm_cancel")}, "keep_order"),
        ({"intent": "confirm"}, "acknowledge"),
        ({"intent": "provide_details", "slots": {"order_id": "LL-1", "email": "a@b.c"},
          "state": DialogueState("c", pending_action="verify:start_return")}, "start_return"),
        ({"intent": "ask_human"}, "handoff"),
        ({"intent": "greeting", "state": DialogueState("c", handoff=True)}, "wait_for_human"),
        ({"intent": "complaint"}, "apologize"),
        ({"intent": "complaint", "sentiment": -0.9}, "handoff"),
        ({"intent": "confirm", "state": DialogueState("c", pending_action="offer_handoff")}, "handoff"),
        ({"intent": "recommendation"}, "recommend_products"),
        ({"intent": "product_question", "slots": {"care": "yes"}}, "answer_policy"),
        ({"intent": "product_question"}, "answer_product"),
        ({"intent": "shipping_policy"}, "answer_policy"),
        ({"intent": "out_of_scope", "out_of_scope": True}, "decline_out_of_scope"),
        ({"intent": "warranty", "confidence": 0.2, "out_of_scope": True}, "clarify"),
        ({"intent": "warranty", "confidence": 0.2, "out_of_scope": True,
          "state": DialogueState("c", low_confidence_streak=1)}, "handoff"),
        ({"intent": "order_status", "guard": GuardResult("x", is_injection_attempt=True)}, "refuse_unverified"),
        ({"intent": "greeting", "guard": GuardResult("", problem="empty")}, "clarify_input"),
    ],
)  # fmt: skip
def test_decision_table(kwargs: dict, action: str) -> None:
    assert decide(**kwargs) == action


@pytest.mark.parametrize(
    ("intent", "text", "slots", "state", "action"),
    [
        ("refund_status", "how long until my refund reaches my card?", {}, None, "answer_policy"),
        ("cancel_order", "how long do I have to cancel an order in general?", {}, None, "answer_policy"),
        ("change_address", "is it possible to change the address after ordering?", {}, None, "answer_policy"),
        ("cancel_order", "can I still cancel?", {}, None, "request_verification"),  # their own order
        ("order_status", "when will my order arrive?", {}, None, "request_verification"),
        ("refund_status", "how long until LL-123456 is refunded?", {"order_id": "LL-123456"}, None, "request_verification"),
        ("availability", "is it in stock?", {}, None, "clarify_product"),  # nothing shown, nothing named
        ("availability", "is it in stock?", {}, DialogueState("c", products_shown=("P1",)), "check_stock"),
        ("product_question", "what is the difference between the two?", {}, None, "clarify_product"),
        ("recommendation", "how do I keep loose tea fresh", {"care": "yes"}, None, "answer_policy"),
        ("recommendation", "something easy to clean please", {"care": "yes"}, None, "recommend_products"),
    ],
)  # fmt: skip
def test_questions_answered_without_checks_and_references_that_need_a_name(
    intent: str, text: str, slots: dict, state: DialogueState | None, action: str
) -> None:
    assert decide(intent, slots=slots, state=state, guard=GuardResult(text)) == action


def test_an_unsure_intent_with_a_named_product_recommends() -> None:
    named = decide("greeting", slots={"brand": "Everyday"}, confidence=0.3, out_of_scope=True,
                   guard=GuardResult("anything from Everyday?"))  # fmt: skip
    assert named == "recommend_products"
    assert decide("greeting", confidence=0.3, out_of_scope=True, guard=GuardResult("hmm ok")) == "clarify"


def test_a_postcode_with_an_order_number_in_one_message(slots: SlotExtractor) -> None:
    assert slots.extract("帮我查一下订单LL-713955，邮编510000")["postcode"] == "510000"
    assert "postcode" not in slots.extract("order LL-713955 for 120 dollars")  # a number is not a postcode


def test_the_answering_sentences_lead() -> None:
    from assistant.stages.generation import answering_sentences

    passage = ("Returns are free when the item is faulty or we sent the wrong item. For any other reason a return "
               "label costs $4.95, deducted from the refund. Exchanges for another size are always free. Refunds "
               "reach your card in 5-7 business days, or PayPal in 3 days.")  # fmt: skip
    assert answering_sentences("how much does a return label cost?", passage).startswith(
        "For any other reason"
    )
    assert answering_sentences("how long until the refund reaches my card?", passage).startswith(
        "Refunds reach"
    )
    assert answering_sentences("hello", passage).startswith(
        "Returns are free"
    )  # no overlap: the summary leads


def test_the_engine_intents_are_what_the_table_acts_on_and_the_default_model_knows() -> None:
    import json

    from assistant.stages.policy import ENGINE_INTENTS
    from assistant.training.default_intent import EXAMPLES

    defaults = {
        json.loads(line)["intent"] for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line
    }
    assert defaults == ENGINE_INTENTS
    credentials = {"order_id": "A-1", "email": "a@b.example"}
    for intent in ENGINE_INTENTS:  # each one meets a rule of its own (details: once it carries them)
        understanding = Understanding(
            intent, 0.99, False, credentials if intent == "provide_details" else {}, 0.0
        )
        rule = PolicyMaker().decide(GuardResult("text"), understanding, DialogueState("c")).rule
        assert not rule.startswith("fallback"), intent
    unknown = PolicyMaker().decide(GuardResult("text"), Understanding("track_order", 0.99, False, {}, 0.0),
                                   DialogueState("c"))  # fmt: skip
    assert unknown.rule.startswith("fallback")  # why a shop's own label must be mapped
