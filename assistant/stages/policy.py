"""Policy: a small decision table from (intent, state) to the turn's action.

Read top to bottom; the first rule that applies wins. Order actions always go through
verification: without an order number plus its e-mail or postcode in this conversation, the
only order action is to ask for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.schema import Decision, DialogueState, GuardResult, Understanding

# intent -> the order action it asks for
ORDER_ACTIONS = {
    "order_status": "lookup_order",
    "return_request": "start_return",
    "cancel_order": "confirm_cancel",
    "change_address": "request_address",
    "refund_status": "check_refund",
    "damaged_item": "start_replacement",
}
KNOWLEDGE_INTENTS = frozenset(
    {"shipping_policy", "return_policy", "warranty", "promotion", "account_help", "privacy_request",
     "payment_problem", "size_advice", "contact_info"}
)  # fmt: skip
# Every intent the decision table below acts on (the engine's intent vocabulary; the default intent model's
# examples use exactly these). A label outside it falls through to "answer from knowledge": a shop whose logs
# name intents its own way maps them onto these (`data import --label-map`).
ENGINE_INTENTS = frozenset(
    {*ORDER_ACTIONS, *KNOWLEDGE_INTENTS, "ask_human", "complaint", "out_of_scope", "confirm", "deny",
     "provide_details", "greeting", "thanks_goodbye", "recommendation", "availability", "product_question"}
)  # fmt: skip


# A question about how things work in general ("how long do refunds take?", "can an order be cancelled?"), not
# a request about the shopper's own order: answered from the shop's knowledge without an identity check.
GENERAL_QUESTION = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:how (?:long|many|much|soon|fast|do|does|can)|when (?:do|does|will|are|is)|"
    r"can (?:i|you|an order|orders)|is it possible|what happens|do you|are refunds|in general)|in general|"
    r"多久|多长时间|几天|一般|能不能|可以.{0,8}吗|怎么算",
    re.IGNORECASE,
)
# Words that point at a product without naming it ("is it in stock?", "the two", "这个").
REFERENCE = re.compile(
    r"\b(?:it|this one|that one|this|that|the two|both|these|those|them|which one)\b|这个|那个|这两个|它|哪个",
    re.IGNORECASE,
)
HOW_QUESTION = re.compile(
    r"^\W*(?:how|what|which|can|should|is it ok|do i|怎么|如何|要不要|能不能|可以)", re.IGNORECASE
)
ASKS_ABOUT_OWN_ORDER = re.compile(
    r"\bmy (?:order|parcel|package|refund|return|purchase)\b|\bstill\b|\bmine\b|我的", re.IGNORECASE
)


def _general_order_question(t: Turn) -> bool:
    """An order intent asked as a general question, with no order of its own in play."""
    if t.intent not in ORDER_ACTIONS or "order_id" in t.slots or t.is_verified or t.has_credentials:
        return False
    if (t.state.pending_action or "").startswith("verify:"):
        return False
    text = t.guard.text
    if t.intent == "refund_status" and re.search(
        r"how (?:long|fast|quick|soon)|how many days|when will|多久|几天|什么时候", text, re.I
    ):
        return True  # "how long until my refund reaches my card?": the shop's refund times answer it
    return bool(GENERAL_QUESTION.search(text)) and not ASKS_ABOUT_OWN_ORDER.search(text)


def _care_question(t: Turn) -> bool:
    """How do I keep loose tea fresh? What temperature for green tea? Care and use, from the knowledge. A
    request such as "something easy to clean" stays a recommendation: it is not asked as a question."""
    if "care" not in t.slots or not HOW_QUESTION.search(t.guard.text):
        return False
    unsure = t.understanding.is_out_of_scope and t.intent != "out_of_scope"
    return unsure or t.intent in ("product_question", "recommendation", "availability")


def _names_products_while_unsure(t: Turn) -> bool:
    """Anything from Everyday? The intent model is unsure, but the message names a brand, type or category."""
    named = any(k in t.slots for k in ("product_type", "brand", "category", "colour", "material"))
    return t.understanding.is_out_of_scope and t.intent != "out_of_scope" and named


def _unnamed_product(t: Turn) -> bool:
    """A product question that points at something ("it", "the two") when nothing has been shown or named."""
    if t.intent not in ("product_question", "availability") or t.state.products_shown:
        return False
    names = ("product_type", "brand", "product_id", "category", "care")
    return not any(k in t.slots for k in names) and bool(REFERENCE.search(t.guard.text))


@dataclass(frozen=True)
class Turn:
    """What the policy looks at."""

    guard: GuardResult
    understanding: Understanding
    state: DialogueState
    escalate_below: float  # sentiment at or below which a complaint goes straight to a human

    @property
    def intent(self) -> str:
        return self.understanding.intent

    @property
    def slots(self) -> dict[str, str]:
        return self.understanding.slots

    @property
    def has_credentials(self) -> bool:
        return "order_id" in self.slots and ("email" in self.slots or "postcode" in self.slots)

    @property
    def is_verified(self) -> bool:
        return bool(self.state.verified_order_ids)


def _order_action(t: Turn) -> str:
    return ORDER_ACTIONS[t.intent]


def _pending_order_action(t: Turn) -> str:
    return (t.state.pending_action or "verify:lookup_order").removeprefix("verify:")


# (rule name, applies?, action or function of the turn giving the action)
RULES: list[tuple[str, Callable[[Turn], bool], str | Callable[[Turn], str]]] = [
    ("unreadable input", lambda t: t.guard.problem in ("empty", "binary"), "clarify_input"),
    (
        "only emoji or punctuation",
        lambda t: t.guard.problem == "no_words" and not t.state.handoff,
        "clarify_words",
    ),
    ("a human has taken over", lambda t: t.state.handoff, "wait_for_human"),
    (
        "asks for other customers' data",
        lambda t: t.guard.is_injection_attempt and not t.has_credentials,
        "refuse_unverified",
    ),
    ("asks for a human", lambda t: t.intent == "ask_human", "handoff"),
    (
        "accepts the offered human",
        lambda t: t.state.pending_action == "offer_handoff" and t.intent == "confirm",
        "handoff",
    ),
    (
        "very upset",
        lambda t: t.understanding.sentiment <= t.escalate_below and t.intent == "complaint",
        "handoff",
    ),
    ("complaint", lambda t: t.intent == "complaint", "apologize"),
    (
        "unsure twice in a row",
        lambda t: (
            t.understanding.is_out_of_scope
            and t.intent != "out_of_scope"
            and t.state.low_confidence_streak >= 1
        ),
        "handoff",
    ),
    ("asks how to look after or use something", _care_question, "answer_policy"),
    ("unsure, but names products", _names_products_while_unsure, "recommend_products"),
    ("unsure", lambda t: t.understanding.is_out_of_scope and t.intent != "out_of_scope", "clarify"),
    ("out of scope", lambda t: t.intent == "out_of_scope", "decline_out_of_scope"),
    (
        "confirms the cancellation",
        lambda t: t.state.pending_action == "confirm_cancel" and t.intent == "confirm",
        "cancel_order",
    ),
    (
        "keeps the order",
        lambda t: t.state.pending_action == "confirm_cancel" and t.intent == "deny",
        "keep_order",
    ),
    (
        "gives the new address",
        lambda t: (
            t.state.pending_action == "request_address" and t.intent in ("provide_details", "change_address")
        ),
        "change_address",
    ),
    (
        "gives verification details",
        lambda t: (
            (t.state.pending_action or "").startswith("verify:")
            and ("order_id" in t.slots or "email" in t.slots or "postcode" in t.slots)
        ),
        _pending_order_action,
    ),
    ("general question about orders", _general_order_question, "answer_policy"),
    ("order request with details", lambda t: t.intent in ORDER_ACTIONS and t.has_credentials, _order_action),
    ("order request, verified", lambda t: t.intent in ORDER_ACTIONS and t.is_verified, _order_action),
    ("order request, not verified", lambda t: t.intent in ORDER_ACTIONS, "request_verification"),
    (
        "details without a request",
        lambda t: t.intent == "provide_details" and t.has_credentials,
        "lookup_order",
    ),
    ("greeting", lambda t: t.intent == "greeting", "greet"),
    ("thanks or goodbye", lambda t: t.intent == "thanks_goodbye", "close"),
    ("confirm or deny with nothing pending", lambda t: t.intent in ("confirm", "deny"), "acknowledge"),
    ("points at a product nobody named", _unnamed_product, "clarify_product"),
    ("wants suggestions", lambda t: t.intent == "recommendation", "recommend_products"),
    ("asks about stock", lambda t: t.intent == "availability", "check_stock"),
    (
        "asks how to care for something",
        lambda t: t.intent == "product_question" and "care" in t.slots,
        "answer_policy",
    ),
    ("asks about a product", lambda t: t.intent == "product_question", "answer_product"),
    ("policy question", lambda t: t.intent in KNOWLEDGE_INTENTS, "answer_policy"),
]


class PolicyMaker:
    """Applies `RULES` to a turn."""

    def __init__(self, *, escalate_below: float = -0.6) -> None:
        self.escalate_below = escalate_below

    def decide(self, guard: GuardResult, understanding: Understanding, state: DialogueState, *,
               allow_handoff: bool = True) -> Decision:  # fmt: skip
        """The first rule that applies. Without `allow_handoff` (drafting suggestions for the agent who
        already has the conversation) the hand-off rules are passed over, so the draft answers the request."""
        turn = Turn(guard, understanding, state, self.escalate_below)
        for name, applies, action in RULES:
            if not allow_handoff and action == "handoff":
                continue
            if applies(turn):
                chosen = action(turn) if callable(action) else action
                order_id = understanding.slots.get("order_id") or state.pending_order_id
                if chosen == "request_verification":
                    return Decision(chosen, name, order_id)
                return Decision(chosen, name, order_id if chosen in ORDER_ACTIONS.values() or chosen in
                                ("cancel_order", "change_address", "keep_order") else None)  # fmt: skip
        return Decision("answer_policy", "fallback: answer from knowledge")
