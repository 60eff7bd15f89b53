"""Validate a shop data folder: every file's schema and every cross reference.

A shop folder holds ``catalog/products.jsonl``, ``knowledge/passages.jsonl``,
``store/customers.jsonl``, ``store/orders.jsonl``, ``logs/conversations.jsonl`` and
``splits/{train,dev,test}.txt`` (see ``dialogue_data/README.md``). `validate_shop()` reads them
all and returns every problem with its file and line, rather than stopping at the first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from assistant.data.labels import describe_outside, outside_engine
from assistant.errors import DataError

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
    notes: list[Issue] = field(
        default_factory=list
    )  # not errors: what the shop cannot do yet, and how to add it

    @property
    def is_valid(self) -> bool:
        return not self.issues


def read_conversations(root: Path) -> list[dict]:
    """The shop's logged conversations (`logs/conversations.jsonl`), for commands that rewrite or split them:
    a missing file or any unreadable line raises `DataError` (saying how to import, or where to look)."""
    path = root / FILES["conversations"]
    return read_jsonl_strictly(
        path, validate_hint=f"`python -m assistant data validate {root}` lists every problem"
    )


def read_jsonl_strictly(path: Path, *, validate_hint: str) -> list[dict]:
    """Every record of the JSONL file `path`, or a `DataError` for a missing file (how to import one) or the
    first unreadable line (then `validate_hint`)."""
    if not path.is_file():
        raise DataError(f"{path} is missing: import the shop's support logs first (`python -m assistant data "
                        f"import --format FORMAT EXPORT {path}`)")  # fmt: skip
    issues: list[Issue] = []
    conversations = [record for _, record in read_jsonl(path, issues, str(path))]
    if issues:
        raise DataError(f"{issues[0]}; {validate_hint}")
    return conversations


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

    def localised(self, key: str, languages: tuple[str, ...], *, required: bool = True) -> None:
        """A text, or {language: text} with a text in at least one of the shop's languages."""
        value = self.record.get(key)
        if value in (None, "", {}) and not required:
            return
        if isinstance(value, str):
            if required and not value.strip():
                self.fail(f"{key!r} must not be empty")
            return
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(f"{key!r} must be a text or an object of language -> text ({', '.join(languages)})")
            return
        if required and not any(str(value.get(language) or "").strip() for language in languages):
            self.fail(f"{key!r} has no text in the shop's languages ({', '.join(languages)})")

    def optional_number(self, key: str, *, high: float | None = None, integer: bool = False) -> None:
        if self.record.get(key) is not None:
            self.number(key, high=high, integer=integer)

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
    if not (root / FILES[name]).is_file():
        return {}
    label = str(FILES[name])
    out: dict[str, tuple[int, dict]] = {}
    seen: dict[str, int] = {}
    for line, record in read_jsonl(root / FILES[name], issues, label):
        _unique(issues, label, seen, line, record.get("id"))
        check(_Checker(issues, label, line, record))
        if isinstance(record.get("id"), str):
            out.setdefault(record["id"], (line, record))
    return out


def _check_product(c: _Checker, languages: tuple[str, ...]) -> None:
    """Title and price are required; a missing description, brand, rating, review count or stock is allowed
    (shown as unknown, never invented)."""
    c.localised("title", languages)
    c.localised("description", languages, required=False)
    if c.record.get("brand") not in (None, "") and not isinstance(c.record.get("brand"), str):
        c.fail("'brand' must be a string")
    c.string_list("category")
    c.number("price")
    c.text("currency")
    c.optional_number("rating", high=5)
    c.optional_number("review_count", integer=True)
    c.optional_number("stock", integer=True)
    if not isinstance(c.record.get("attributes") or {}, dict):
        c.fail("'attributes' must be an object")
    c.string_list("bought_together")


def _check_passage(c: _Checker, languages: tuple[str, ...]) -> None:
    c.choice("language", languages)
    for key in ("title", "text", "topic"):
        c.text(key)
    if not isinstance(c.record.get("facts", {}), dict):
        c.fail("'facts' must be an object")


def _check_customer(c: _Checker) -> None:
    c.text("name")
    if not c.text("email") or "@" not in c.record["email"]:
        c.fail("'email' must be an e-mail address")
    if c.record.get("language") is not None:
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
    from assistant.shop import load_profile

    languages: tuple[str, ...] = LANGUAGES
    try:
        profile = load_profile(root)
        languages = profile.languages
    except DataError as exc:
        issues.append(Issue("shop.json or templates/", 0, str(exc)))
        profile = None
    if not (root / "shop.json").is_file():
        report.notes.append(Issue("shop.json", 0, "missing: the engine defaults apply (name 'our shop', English, USD); "
                                  "`python -m assistant shop init DIR` writes one to fill in"))  # fmt: skip
    products = _load(root, "products", issues, lambda c: _check_product(c, languages))
    passages = _load(root, "passages", issues, lambda c: _check_passage(c, languages))
    _note_missing(root, report)
    if profile is not None:
        groups = {str(p.get("group", pid)) for pid, (_, p) in passages.items()} | set(passages)
        for action, named in profile.template_passages.items():
            for group in named:
                if group not in groups:
                    issues.append(Issue("shop.json", 0, f"template_passages.{action} names passage group {group!r}, "
                                        "which knowledge/passages.jsonl does not have"))  # fmt: skip
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
    if (root / FILES["conversations"]).is_file():
        _check_splits(root, set(conversations), issues, report.counts)
    intents = [str(turn["intent"]) for _, conversation in conversations.values()
               for turn in conversation.get("turns") or [] if isinstance(turn, dict) and turn.get("role") == "customer"
               and isinstance(turn.get("intent"), str)]  # fmt: skip
    outside = outside_engine(Counter(intents))
    if outside:
        report.notes.append(Issue(label, 0, describe_outside(outside)))
    replies = [turn for _, conversation in conversations.values() for turn in conversation.get("turns") or []
               if isinstance(turn, dict) and turn.get("role") == "agent"]  # fmt: skip
    if replies and not any(turn.get("passages") or turn.get("products") for turn in replies):
        report.notes.append(Issue(label, 0, (
            f"none of the {len(replies)} agent replies names the passages or products it used: the retriever and "
            "reranker have nothing to learn from in these logs; `python -m assistant data attribute` gives replies "
            "the document they clearly drew on")))  # fmt: skip
    return report


def _note_missing(root: Path, report: Report) -> None:
    """What a shop without some files cannot do, and how to add them (notes, not errors: each is optional)."""
    has = {name: (root / path).is_file() and (root / path).stat().st_size > 0 for name, path in FILES.items()}
    if not has["products"] and not has["passages"]:
        empty = (
            "is empty"
            if (root / FILES["products"]).is_file() or (root / FILES["passages"]).is_file()
            else "has"
        )
        message = ("no products and no passages yet: the assistant can only hand shoppers to a person. Import a "
                   "catalog (`python -m assistant data import-catalog shopify products.csv`) or FAQ pages "
                   "(`python -m assistant data import-knowledge faq/`)")  # fmt: skip
        if empty == "has":  # not even the empty files `shop init` writes: this is not a shop folder
            report.issues.append(Issue(str(root), 0, message))
        else:
            report.notes.append(Issue(str(root), 0, message))
        return
    hints = {
        "products": "no catalog: product questions and recommendations go to a person; import one with "
                    "`python -m assistant data import-catalog FORMAT FILE`",
        "passages": "no FAQ/policy passages: policy questions go to a person; import pages with "
                    "`python -m assistant data import-knowledge FOLDER_OR_CSV`",
        "orders": "no order records: order questions are handed to a person (a real shop connects its order system)",
        "conversations": "no support logs: intents use the engine's default model (cold start) until logs are imported "
                         "with `python -m assistant data import` and `train intent` runs",
    }  # fmt: skip
    for name, hint in hints.items():
        if not has[name]:
            report.notes.append(Issue(str(FILES[name]), 0, hint))


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
