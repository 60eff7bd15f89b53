"""Policy: a small decision table from (intent, state) to the turn's action.

Read top to bottom; the first rule that applies wins. Order actions always go through
verification: without an order number plus its e-mail or postcode in this conversation, the
only order action is to ask for them.
"""

from __future__ import annotations

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

    def decide(self, guard: GuardResult, understanding: Understanding, state: DialogueState) -> Decision:
        turn = Turn(guard, understanding, state, self.escalate_below)
        for name, applies, action in RULES:
            if applies(turn):
                chosen = action(turn) if callable(action) else action
                order_id = understanding.slots.get("order_id") or state.pending_order_id
                if chosen == "request_verification":
                    return Decision(chosen, name, order_id)
                return Decision(chosen, name, order_id if chosen in ORDER_ACTIONS.values() or chosen in
                                ("cancel_order", "change_address", "keep_order") else None)  # fmt: skip
        return Decision("answer_policy", "fallback: answer from knowledge")
