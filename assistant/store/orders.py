"""Order access for the assistant: every read and change goes through a verified customer id.

There is no method that returns an order without the customer id that owns it, so no code path
can put another customer's order into a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from assistant.store.database import Database
from assistant.store.models import Customer, Order, ReturnRequest


def normalise_postcode(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


@dataclass(frozen=True)
class OrderView:
    """An order as the assistant may show it to its verified owner."""

    id: str
    customer_id: str
    status: str
    placed_at: str
    total: float
    currency: str
    items: tuple[dict, ...]
    carrier: str | None
    tracking_number: str | None
    shipped_at: str | None
    delivered_at: str | None
    returned_at: str | None
    refunded_at: str | None
    cancelled_at: str | None
    refund_amount: float | None
    shipping_address: dict


@dataclass(frozen=True)
class CustomerView:
    """A verified customer as a support agent sees them."""

    id: str
    name: str
    email: str
    phone: str
    language: str


class OrderRepository:
    """Verification and the order actions (status, return, cancel, address change)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def verify(self, order_id: str, *, email: str | None = None, postcode: str | None = None) -> str | None:
        """The owning customer's id when the order exists and the e-mail or postcode match it."""
        with self.db.session() as session:
            order = session.get(Order, order_id.upper())
            if order is None:
                return None
            if email and order.email.lower() == email.strip().lower():
                return order.customer_id
            if postcode:
                customer = session.get(Customer, order.customer_id)
                known = {normalise_postcode(str(order.shipping_address.get("postcode", "")))}
                if customer is not None:
                    known.add(normalise_postcode(str(customer.address.get("postcode", ""))))
                if normalise_postcode(postcode) in known - {""}:
                    return order.customer_id
            return None

    def get(self, order_id: str, *, customer_id: str) -> OrderView | None:
        """The order, only if `customer_id` owns it."""
        with self.db.session() as session:
            order = session.get(Order, order_id.upper())
            if order is None or order.customer_id != customer_id:
                return None
            return _view(order)

    def customer(self, customer_id: str) -> CustomerView | None:
        """The customer's contact details (for agents, once the shopper has proved who they are)."""
        with self.db.session() as session:
            row = session.get(Customer, customer_id)
            if row is None:
                return None
            return CustomerView(row.id, row.name, row.email, row.phone or "", row.language)

    def orders_of(self, customer_id: str) -> list[OrderView]:
        """The customer's own orders, newest first."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Order).where(Order.customer_id == customer_id).order_by(Order.placed_at.desc())
            ).all()
            return [_view(o) for o in rows]

    def cancel(self, order_id: str, *, customer_id: str, today: date) -> OrderView | None:
        """Cancel a not-yet-shipped order of `customer_id`; None when it is not theirs or not cancellable."""
        with self.db.session() as session:
            order = session.get(Order, order_id.upper())
            if order is None or order.customer_id != customer_id or order.status != "placed":
                return None
            order.status = "cancelled"
            order.cancelled_at = today.isoformat()
            order.refund_amount = order.total
            session.commit()
            return _view(order)

    def change_address(self, order_id: str, *, customer_id: str, address: str) -> OrderView | None:
        """Replace the delivery address of a not-yet-shipped order of `customer_id`."""
        with self.db.session() as session:
            order = session.get(Order, order_id.upper())
            if order is None or order.customer_id != customer_id or order.status != "placed":
                return None
            order.shipping_address = dict(
                order.shipping_address, line1=address, changed_at=datetime.now().isoformat()
            )
            session.commit()
            return _view(order)

    def start_return(
        self, order_id: str, product_id: str, *, customer_id: str, conversation_id: str
    ) -> int | None:
        """Record a return of one item of a delivered order of `customer_id`; the return's id."""
        with self.db.session() as session:
            order = session.get(Order, order_id.upper())
            if order is None or order.customer_id != customer_id or order.status != "delivered":
                return None
            request = ReturnRequest(order_id=order.id, product_id=product_id, conversation_id=conversation_id)
            session.add(request)
            session.commit()
            return request.id


def _view(order: Order) -> OrderView:
    return OrderView(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,
        placed_at=order.placed_at,
        total=order.total,
        currency=order.currency,
        items=tuple(order.items or ()),
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        returned_at=order.returned_at,
        refunded_at=order.refunded_at,
        cancelled_at=order.cancelled_at,
        refund_amount=order.refund_amount,
        shipping_address=dict(order.shipping_address or {}),
    )
