"""Validate a shop data folder: every file's schema and every cross reference.

A shop folder holds ``catalog/products.jsonl``, ``knowledge/passages.jsonl``,
``store/customers.jsonl``, ``store/orders.jsonl``, ``logs/conversations.jsonl`` and
``splits/{train,dev,test}.txt`` (see ``dialogue_data/README.md``). `validate_shop()` reads them
all and returns every problem with its file and line, rather than stopping at the first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "zh")
ORDER_STATUSES = ("placed", "shipped", "delivered", "returned", "cancelled", "refunded")
OUTCOMES = ("resolved", "handed_off")
SPLITS = ("train", "dev", "test")
FILES = {
    "products": Path("catalog/products.jsonl"),
    "passages": Path("knowledge/passages.jsonl"),
    "customers": Path("store/customers.jsonl"),
    "orders": Path("store/orders.jsonl"),
    "conversations": Path("logs/conversations.jsonl"),
}


@dataclass(frozen=True)
class Issue:
    """One problem: where it is and what is wrong."""

    file: str
    line: int  # 1-based; 0 when the problem is the whole file
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class Report:
    """What `validate_shop` found: issues and the record counts it read."""

    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return not self.issues


def read_jsonl(path: Path, issues: list[Issue], label: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each parseable line; problems go to `issues`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        issues.append(Issue(label, 0, "file is missing"))
        return
    except OSError as exc:
        issues.append(Issue(label, 0, f"cannot read: {exc}"))
        return
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            issues.append(Issue(label, number, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            continue
        except json.JSONDecodeError as exc:
            issues.append(Issue(label, number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            issues.append(Issue(label, number, f"expected a JSON object, got {type(record).__name__}"))
            continue
        yield number, record


class _Checker:
    """Collects issues for one record with terse helpers."""

    def __init__(self, issues: list[Issue], file: str, line: int, record: dict) -> None:
        self.issues, self.file, self.line, self.record = issues, file, line, record

    def fail(self, message: str) -> None:
        self.issues.append(Issue(self.file, self.line, message))

    def text(self, key: str, value: Any = None, *, where: str = "") -> bool:
        value = self.record.get(key) if value is None else value
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{where}{key!r} must be a non-empty string")
            return False
        return True

    def bilingual(self, key: str) -> None:
        value = self.record.get(key)
        if not isinstance(value, dict):
            self.fail(f"{key!r} must be an object with 'en' and 'zh' texts")
            return
        for language in LANGUAGES:
            self.text(language, value.get(language), where=f"{key}.")

    def number(self, key: str, *, low: float = 0, high: float | None = None, integer: bool = False) -> None:
        value = self.record.get(key)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail(f"{key!r} must be {'an integer' if integer else 'a number'}, got {value!r}")
        elif value < low or (high is not None and value > high):
            self.fail(f"{key!r}={value} is outside {low}..{high if high is not None else '∞'}")

    def choice(self, key: str, choices: tuple[str, ...]) -> None:
        if self.record.get(key) not in choices:
            self.fail(f"{key!r}={self.record.get(key)!r} is not one of {', '.join(choices)}")

    def string_list(self, key: str, value: Any = None, *, where: str = "") -> list[str]:
        value = self.record.get(key, []) if value is None else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"{where}{key!r} must be a list of strings")
            return []
        return value

    def when(self, key: str, *, required: bool = True) -> None:
        value = self.record.get(key)
        if value is None and not required:
            return
        try:
            (datetime if "T" in str(value) else date).fromisoformat(str(value))
        except ValueError:
            self.fail(f"{key!r}={value!r} is not an ISO date")


def _unique(issues: list[Issue], file: str, seen: dict[str, int], line: int, record_id: Any) -> None:
    if not isinstance(record_id, str) or not record_id.strip():
        issues.append(Issue(file, line, "'id' must be a non-empty string"))
    elif record_id in seen:
        issues.append(Issue(file, line, f"duplicate id {record_id!r} (first on line {seen[record_id]})"))
    else:
        seen[record_id] = line


def _load(
    root: Path, name: str, issues: list[Issue], check: Callable[[_Checker], None]
) -> dict[str, tuple[int, dict]]:
    label = str(FILES[name])
    out: dict[str, tuple[int, dict]] = {}
    seen: dict[str, int] = {}
    for line, record in read_jsonl(root / FILES[name], issues, label):
        _unique(issues, label, seen, line, record.get("id"))
        check(_Checker(issues, label, line, record))
        if isinstance(record.get("id"), str):
            out.setdefault(record["id"], (line, record))
    return out


def _check_product(c: _Checker) -> None:
    c.bilingual("title")
    c.bilingual("description")
    c.text("brand")
    if not c.string_list("category"):
        c.fail("'category' must name at least one category")
    c.number("price")
    c.text("currency")
    c.number("rating", high=5)
    c.number("review_count", integer=True)
    c.number("stock", integer=True)
    if not isinstance(c.record.get("attributes", {}), dict):
        c.fail("'attributes' must be an object")
    c.string_list("bought_together")


def _check_passage(c: _Checker) -> None:
    c.choice("language", LANGUAGES)
    for key in ("title", "text", "topic"):
        c.text(key)
    if not isinstance(c.record.get("facts", {}), dict):
        c.fail("'facts' must be an object")


def _check_customer(c: _Checker) -> None:
    c.text("name")
    if not c.text("email") or "@" not in c.record["email"]:
        c.fail("'email' must be an e-mail address")
    c.choice("language", LANGUAGES)
    address = c.record.get("address")
    if not isinstance(address, dict) or not isinstance(address.get("postcode"), str):
        c.fail("'address' must be an object with a 'postcode'")


def _check_order(c: _Checker) -> None:
    c.text("customer_id")
    c.text("email")
    c.choice("status", ORDER_STATUSES)
    c.when("placed_at")
    for key in ("shipped_at", "delivered_at", "returned_at", "refunded_at", "cancelled_at"):
        c.when(key, required=False)
    c.number("total")
    items = c.record.get("items")
    if not isinstance(items, list) or not items:
        c.fail("'items' must be a non-empty list")
    else:
        for index, item in enumerate(items):
            sub = _Checker(c.issues, c.file, c.line, item if isinstance(item, dict) else {})
            sub.text("product_id", where=f"items[{index}].")
            sub.number("quantity", low=1, integer=True)
            sub.number("unit_price")
    if c.record.get("status") in ("shipped", "delivered", "returned", "refunded") and not c.record.get(
        "tracking_number"
    ):
        c.fail(f"a {c.record.get('status')} order needs a 'tracking_number'")


def _check_conversation(c: _Checker) -> None:
    c.choice("language", LANGUAGES)
    c.choice("outcome", OUTCOMES)
    turns = c.record.get("turns")
    if not isinstance(turns, list) or not turns:
        c.fail("'turns' must be a non-empty list")
        return
    for index, turn in enumerate(turns):
        where = f"turns[{index}]."
        if not isinstance(turn, dict):
            c.fail(f"{where[:-1]} must be an object")
            continue
        sub = _Checker(c.issues, c.file, c.line, turn)
        sub.text("text", where=where)
        role = turn.get("role")
        if role == "customer":
            if turn.get("intent") is not None and not isinstance(turn.get("intent"), str):
                c.fail(f"{where}'intent' must be a string or null")
            slots = turn.get("slots", {})
            if not isinstance(slots, dict) or not all(isinstance(v, str) for v in slots.values()):
                c.fail(f"{where}'slots' must map slot names to strings")
            else:
                for name, value in slots.items():
                    if value.lower() not in str(turn.get("text", "")).lower():
                        c.fail(f"{where}slot {name}={value!r} does not occur in the text")
        elif role == "agent":
            if turn.get("action") is not None and not isinstance(turn.get("action"), str):
                c.fail(f"{where}'action' must be a string or null")
            sub.string_list("products", where=where)
            sub.string_list("passages", where=where)
        else:
            c.fail(f"{where}'role' must be 'customer' or 'agent', got {role!r}")


def validate_shop(root: Path) -> Report:
    """Check every file under `root` and the references between them."""
    report = Report()
    issues = report.issues
    if not root.is_dir():
        issues.append(Issue(str(root), 0, "is not a folder"))
        return report
    products = _load(root, "products", issues, _check_product)
    passages = _load(root, "passages", issues, _check_passage)
    customers = _load(root, "customers", issues, _check_customer)
    orders = _load(root, "orders", issues, _check_order)
    conversations = _load(root, "conversations", issues, _check_conversation)
    report.counts = {
        "products": len(products),
        "passages": len(passages),
        "customers": len(customers),
        "orders": len(orders),
        "conversations": len(conversations),
    }

    label = str(FILES["products"])
    for line, product in products.values():
        for other in product.get("bought_together") or []:
            if isinstance(other, str) and other not in products:
                issues.append(Issue(label, line, f"bought_together names unknown product {other!r}"))
    label = str(FILES["orders"])
    for line, order in orders.values():
        customer = customers.get(str(order.get("customer_id")))
        if customer is None:
            issues.append(Issue(label, line, f"unknown customer {order.get('customer_id')!r}"))
        elif customer[1].get("email") != order.get("email"):
            issues.append(Issue(label, line, "order email differs from its customer's email"))
        for item in order.get("items") or []:
            if isinstance(item, dict) and item.get("product_id") not in products:
                issues.append(Issue(label, line, f"unknown product {item.get('product_id')!r}"))
    label = str(FILES["conversations"])
    for line, conversation in conversations.values():
        if conversation.get("customer_id") is not None and conversation["customer_id"] not in customers:
            issues.append(Issue(label, line, f"unknown customer {conversation['customer_id']!r}"))
        for index, turn in enumerate(conversation.get("turns") or []):
            if not isinstance(turn, dict) or turn.get("role") != "agent":
                continue
            for pid in turn.get("products") or []:
                if pid not in products:
                    issues.append(Issue(label, line, f"turns[{index}] uses unknown product {pid!r}"))
            for pid in turn.get("passages") or []:
                if pid not in passages:
                    issues.append(Issue(label, line, f"turns[{index}] uses unknown passage {pid!r}"))
            if turn.get("order_id") is not None and turn["order_id"] not in orders:
                issues.append(
                    Issue(label, line, f"turns[{index}] acts on unknown order {turn['order_id']!r}")
                )
    _check_splits(root, set(conversations), issues, report.counts)
    return report


def read_splits(root: Path) -> dict[str, list[str]]:
    """split name -> conversation ids, as listed in splits/<name>.txt (missing files are empty)."""
    out: dict[str, list[str]] = {}
    for name in SPLITS:
        path = root / "splits" / f"{name}.txt"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        out[name] = [line.strip() for line in lines if line.strip()]
    return out


def _check_splits(
    root: Path, conversation_ids: set[str], issues: list[Issue], counts: dict[str, int]
) -> None:
    first_seen: dict[str, str] = {}
    for name in SPLITS:
        path = root / "splits" / f"{name}.txt"
        label = str(Path("splits") / f"{name}.txt")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            issues.append(Issue(label, 0, "file is missing"))
            continue
        except UnicodeDecodeError:
            issues.append(Issue(label, 0, "not UTF-8 text"))
            continue
        counts[f"split_{name}"] = 0
        for number, raw in enumerate(lines, start=1):
            cid = raw.strip()
            if not cid:
                continue
            counts[f"split_{name}"] += 1
            if cid not in conversation_ids:
                issues.append(Issue(label, number, f"unknown conversation {cid!r}"))
            if cid in first_seen:
                issues.append(
                    Issue(label, number, f"conversation {cid!r} is already in the {first_seen[cid]} split")
                )
            else:
                first_seen[cid] = name
    missing = sorted(conversation_ids - set(first_seen))
    if missing:
        issues.append(
            Issue("splits", 0, f"{len(missing)} conversations are in no split, e.g. {', '.join(missing[:3])}")
        )
