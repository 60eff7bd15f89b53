"""Actions: order status, returns, cancellations and address changes against the store database.

Every action first establishes who the customer is in this conversation: an order number with
the order's e-mail or postcode. Facts returned come only from the verified customer's own order.
A failed check reads the same whether the order number exists or not, and is counted
(`VerificationLedger`); after a few the assistant stops checking and offers a human.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from assistant.catalog import ShopKnowledge
from assistant.schema import ActionResult, Decision, DialogueState, Understanding
from assistant.store.orders import OrderRepository, OrderView
from assistant.store.verification import VerificationLedger

STATUS_ZH = {"placed": "已下单", "shipped": "已发货", "delivered": "已签收", "returned": "已退货",
             "cancelled": "已取消", "refunded": "已退款"}  # fmt: skip
ORDER_ACTIONS = frozenset(
    {"lookup_order", "start_return", "confirm_cancel", "cancel_order", "keep_order", "request_address",
     "change_address", "check_refund", "start_replacement"}
)  # fmt: skip


@dataclass(frozen=True)
class ActionOutcome:
    """The result to show and the state after the action."""

    result: ActionResult
    state: DialogueState
    product_ids: tuple[str, ...] = field(default=())


class ActionRunner:
    """Runs order actions for the verified customer only."""

    def __init__(self, orders: OrderRepository, shop: ShopKnowledge, *, ledger: VerificationLedger | None = None,
                 today: date | None = None) -> None:  # fmt: skip
        self.orders = orders
        self.shop = shop
        self.ledger = ledger or VerificationLedger(orders.db)
        self.today = today or date.today()

    def run(self, decision: Decision, understanding: Understanding, state: DialogueState, *, dry_run: bool = False,
            client: str | None = None) -> ActionOutcome:  # fmt: skip
        """Run the decided action for the shopper at `client` (their address, for the guessing limits).

        With `dry_run` (agent suggestions) nothing in the store changes and no failure is counted."""
        action = decision.action
        if action == "request_verification":
            if self.ledger.locked_scope(conversation_id=state.conversation_id, order_id=decision.order_id,
                                        client=client):  # fmt: skip
                return ActionOutcome(ActionResult(action, "refused", reason="locked"), _locked(state))
            pending_for = f"verify:{_requested(understanding.intent)}"
            return ActionOutcome(
                ActionResult(action, "done", order_id=decision.order_id),
                replace(
                    state,
                    pending_action=pending_for,
                    pending_order_id=decision.order_id or state.pending_order_id,
                ),
            )
        if action not in ORDER_ACTIONS:
            return ActionOutcome(ActionResult(action, "not_needed"), state)
        state, order, problem = self._verified_order(
            understanding.slots, state, client=client, dry_run=dry_run
        )
        if order is None:
            return ActionOutcome(ActionResult(action, "refused", reason=problem), state)
        facts = order_facts(order, self.shop)
        if action == "lookup_order":
            return self._done(action, order, facts, state)
        if action == "check_refund":
            return self._done(action, order, facts, state)
        if action == "confirm_cancel":
            if order.status != "placed":
                return self._refused(action, order, facts, state, "already_" + order.status)
            return self._done(action, order, facts, replace(state, pending_action="confirm_cancel"))
        if action == "keep_order":
            return self._done(action, order, facts, replace(state, pending_action=None))
        if dry_run and action in ("cancel_order", "change_address", "start_return", "start_replacement"):
            return self._done(
                action, order, dict(facts, address=understanding.slots.get("address", "")), state
            )
        if action == "cancel_order":
            cancelled = self.orders.cancel(order.id, customer_id=order.customer_id, today=self.today)
            if cancelled is None:
                return self._refused(
                    action, order, facts, replace(state, pending_action=None), "already_" + order.status
                )
            return self._done(
                action, cancelled, order_facts(cancelled, self.shop), replace(state, pending_action=None)
            )
        if action == "request_address":
            if order.status != "placed":
                return self._refused(action, order, facts, state, "already_" + order.status)
            return self._done(action, order, facts, replace(state, pending_action="request_address"))
        if action == "change_address":
            address = understanding.slots.get("address", "")
            if not address:
                return self._refused(action, order, facts, state, "no_address")
            changed = self.orders.change_address(order.id, customer_id=order.customer_id, address=address)
            if changed is None:
                return self._refused(
                    action, order, facts, replace(state, pending_action=None), "already_" + order.status
                )
            return self._done(
                action,
                changed,
                dict(order_facts(changed, self.shop), address=address),
                replace(state, pending_action=None),
            )
        if action in ("start_return", "start_replacement"):
            if order.status != "delivered":
                return self._refused(action, order, facts, state, "not_delivered")
            item = order.items[0] if order.items else {}
            product = self.shop.products.get(str(item.get("product_id")), {})
            category = (product.get("category") or [""])[0]
            window = self._return_window(category)
            if window is None:  # the shop states no return window: a person decides
                return self._refused(action, order, facts, state, "no_return_window")
            days = (self.today - date.fromisoformat(str(order.delivered_at))).days
            facts = dict(facts, product_id=str(item.get("product_id", "")), window_days=str(window), days=str(days),
                         category=category)  # fmt: skip
            if action == "start_return" and days > window:
                return self._refused(action, order, facts, state, "window_passed")
            self.orders.start_return(
                order.id,
                facts["product_id"],
                customer_id=order.customer_id,
                conversation_id=state.conversation_id,
            )
            outcome = self._done(action, order, facts, replace(state, pending_action=None))
            return replace(outcome, product_ids=(facts["product_id"],) if facts["product_id"] else ())
        return ActionOutcome(ActionResult(action, "not_needed"), state)

    def _return_window(self, category: str) -> int | None:
        """Days after delivery to return items of `category`: the `window_days` fact of the shop's return passage
        for the category (shop.json slot_passages), else shop.json return_window_days, else the `window_days` of
        any returns passage; None when the shop states none."""
        groups = self.shop.profile.passages_for("start_return", {"category": category})
        general = [p for p in self.shop.passages.values() if p.get("topic") == "returns"]
        for passages in ([self.shop.passage(g, "en") for g in groups], general):
            for passage in passages:
                value = ((passage or {}).get("facts") or {}).get("window_days")
                if value and str(value).isdigit():
                    return int(value)
            if passages is not general and self.shop.profile.return_window_days:
                return self.shop.profile.return_window_days
        return self.shop.profile.return_window_days

    def _verified_order(self, slots: dict[str, str], state: DialogueState, *, client: str | None,
                        dry_run: bool) -> tuple[DialogueState, OrderView | None, str]:  # fmt: skip
        order_id = slots.get("order_id") or state.pending_order_id
        if order_id is None and state.verified_order_ids:
            order_id = state.verified_order_ids[-1]
        if order_id is None:
            return state, None, "no_order_id"
        if order_id in state.verified_order_ids and state.verified_customer_id:
            order = self.orders.get(order_id, customer_id=state.verified_customer_id)
            return state, order, "" if order else "not_verified"
        # Checked before anything else about the order, and the same for known and unknown numbers.
        if self.ledger.locked_scope(conversation_id=state.conversation_id, order_id=order_id, client=client):
            return _locked(state), None, "locked"
        email, postcode = slots.get("email"), slots.get("postcode")
        if not (email or postcode):
            return (
                replace(state, pending_action=state.pending_action, pending_order_id=order_id),
                None,
                "needs_details",
            )
        customer_id = self.orders.verify(order_id, email=email, postcode=postcode)
        if customer_id is None or (state.verified_customer_id and customer_id != state.verified_customer_id):
            # One reply for an unknown order number and a wrong e-mail or postcode: nothing tells which.
            failed = replace(state, pending_order_id=order_id)
            if dry_run:
                return failed, None, "not_verified"
            self.ledger.record_failure(
                conversation_id=state.conversation_id, order_id=order_id, client=client
            )
            if self.ledger.locked_scope(
                conversation_id=state.conversation_id, order_id=order_id, client=client
            ):
                return _locked(failed), None, "locked"
            return failed, None, "not_verified"
        order = self.orders.get(order_id, customer_id=customer_id)
        verified = replace(
            state,
            verified_customer_id=customer_id,
            verified_order_ids=tuple(dict.fromkeys((*state.verified_order_ids, order_id))),
            pending_order_id=order_id,
        )
        return verified, order, ""

    def _done(
        self, action: str, order: OrderView, facts: dict[str, str], state: DialogueState
    ) -> ActionOutcome:
        if state.pending_action and state.pending_action.startswith("verify:"):
            state = replace(state, pending_action=None)
        return ActionOutcome(ActionResult(action, "done", facts, order.id), state)

    def _refused(
        self, action: str, order: OrderView, facts: dict[str, str], state: DialogueState, reason: str
    ) -> ActionOutcome:
        if state.pending_action and state.pending_action.startswith("verify:"):
            state = replace(state, pending_action=None)
        return ActionOutcome(ActionResult(action, "refused", facts, order.id, reason), state)


def _locked(state: DialogueState) -> DialogueState:
    """Checking stopped: nothing is pending any more (the reply offers a human instead)."""
    return replace(state, pending_action=None, pending_order_id=None)


def _requested(intent: str) -> str:
    from assistant.stages.policy import ORDER_ACTIONS as BY_INTENT

    return BY_INTENT.get(intent, "lookup_order")


def order_facts(order: OrderView, shop: ShopKnowledge, language: str = "en") -> dict[str, str]:
    """The order's facts as display strings (what templates and the groundedness check use); amounts in the
    order's currency, written as the shop writes prices."""

    def money(amount: float) -> str:
        return shop.profile.price(amount, language, order.currency or None)

    facts = {
        "order_id": order.id,
        "status": order.status,
        "status_zh": STATUS_ZH.get(order.status, order.status),
        "placed_on": order.placed_at[:10],
        "total": money(order.total),
    }
    optional = {
        "carrier": order.carrier, "tracking_number": order.tracking_number, "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at, "returned_at": order.returned_at, "refunded_at": order.refunded_at,
        "cancelled_at": order.cancelled_at,
        "refund_amount": money(order.refund_amount) if order.refund_amount is not None else None,
    }  # fmt: skip
    facts.update({k: str(v) for k, v in optional.items() if v})
    return facts
