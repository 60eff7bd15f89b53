"""`data validate`: schema and cross-reference errors are reported with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.data.validation import validate_shop

PRODUCT = {
    "id": "P1", "title": {"en": "Red mug", "zh": "红色杯子"}, "description": {"en": "A mug.", "zh": "杯子。"},
    "brand": "Mise", "category": ["kitchen", "tableware"], "price": 9.99, "currency": "USD",
    "attributes": {"colour": "red"}, "rating": 4.5, "review_count": 3, "stock": 5, "bought_together": [],
}  # fmt: skip
PASSAGE = {"id": "KB-1-en", "group": "KB-1", "language": "en", "topic": "returns", "title": "Returns",
           "text": "Returns within 30 days.", "facts": {"window_days": "30"}}  # fmt: skip
CUSTOMER = {"id": "C1", "name": "Ann Lee", "email": "ann@example.com", "language": "en",
            "address": {"line1": "1 Elm", "city": "Austin", "postcode": "78701", "country": "us"}}  # fmt: skip
ORDER = {"id": "LL-100001", "customer_id": "C1", "email": "ann@example.com", "placed_at": "2026-11-01T10:00",
         "status": "delivered", "items": [{"product_id": "P1", "quantity": 1, "unit_price": 9.99}], "total": 9.99,
         "tracking_number": "1Z1", "delivered_at": "2026-11-04"}  # fmt: skip
CONVERSATION = {
    "id": "CV-1", "language": "en", "outcome": "resolved", "customer_id": "C1",
    "turns": [
        {"role": "customer", "text": "where is LL-100001", "intent": "order_status", "slots": {"order_id": "LL-100001"}},
        {"role": "agent", "text": "Delivered on 2026-11-04.", "action": "lookup_order", "products": ["P1"],
         "passages": ["KB-1-en"], "order_id": "LL-100001"},
    ],
}  # fmt: skip


def write_shop(root: Path, **overrides: list) -> Path:
    files = {
        "catalog/products.jsonl": [PRODUCT],
        "knowledge/passages.jsonl": [PASSAGE],
        "store/customers.jsonl": [CUSTOMER],
        "store/orders.jsonl": [ORDER],
        "logs/conversations.jsonl": [CONVERSATION],
    }
    for key, records in overrides.items():
        files[key.replace("__", "/").replace("_jsonl", ".jsonl")] = records
    for relative, records in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in records), encoding="utf-8"
        )
    (root / "splits").mkdir(exist_ok=True)
    (root / "splits" / "train.txt").write_text("CV-1\n")
    (root / "splits" / "dev.txt").write_text("")
    (root / "splits" / "test.txt").write_text("")
    return root


def messages(root: Path) -> list[str]:
    return [str(issue) for issue in validate_shop(root).issues]


def test_minimal_shop_is_valid(tmp_path: Path) -> None:
    assert messages(write_shop(tmp_path)) == []


def test_bad_json_line_is_reported_with_its_line(tmp_path: Path) -> None:
    write_shop(tmp_path, catalog__products_jsonl=[PRODUCT, "{not json\n"])
    assert messages(tmp_path) == ["catalog/products.jsonl:2: invalid JSON: Expecting property name enclosed in "
                                  "double quotes (column 2)"]  # fmt: skip


def test_schema_errors(tmp_path: Path) -> None:
    bad = dict(PRODUCT, id="P2", price="cheap", rating=7, title={"fr": "x"}, stock=None, review_count=None)
    write_shop(tmp_path, catalog__products_jsonl=[PRODUCT, bad])
    found = messages(tmp_path)
    assert "catalog/products.jsonl:2: 'price' must be a number, got 'cheap'" in found
    assert "catalog/products.jsonl:2: 'rating'=7 is outside 0..5" in found
    assert "catalog/products.jsonl:2: 'title' has no text in the shop's languages (en)" in found
    assert not any("stock" in m or "review_count" in m for m in found)  # unknown is allowed, never invented


def test_cross_references(tmp_path: Path) -> None:
    order = dict(ORDER, items=[{"product_id": "P404", "quantity": 1, "unit_price": 1.0}], customer_id="C9")
    turns = [
        CONVERSATION["turns"][0],
        dict(CONVERSATION["turns"][1], passages=["KB-9-en"], order_id="LL-999999"),
    ]
    write_shop(
        tmp_path, store__orders_jsonl=[order], logs__conversations_jsonl=[dict(CONVERSATION, turns=turns)]
    )
    found = messages(tmp_path)
    assert "store/orders.jsonl:1: unknown customer 'C9'" in found
    assert "store/orders.jsonl:1: unknown product 'P404'" in found
    assert "logs/conversations.jsonl:1: turns[1] uses unknown passage 'KB-9-en'" in found
    assert "logs/conversations.jsonl:1: turns[1] acts on unknown order 'LL-999999'" in found


def test_duplicate_ids_and_slot_not_in_text(tmp_path: Path) -> None:
    turn = dict(CONVERSATION["turns"][0], slots={"order_id": "LL-123456"})
    conversation = dict(CONVERSATION, turns=[turn, CONVERSATION["turns"][1]])
    write_shop(tmp_path, logs__conversations_jsonl=[conversation, conversation])
    found = messages(tmp_path)
    assert "logs/conversations.jsonl:2: duplicate id 'CV-1' (first on line 1)" in found
    assert (
        "logs/conversations.jsonl:1: turns[0].slot order_id='LL-123456' does not occur in the text" in found
    )


def test_conversation_in_two_splits(tmp_path: Path) -> None:
    write_shop(tmp_path)
    (tmp_path / "splits" / "test.txt").write_text("CV-1\nCV-404\n")
    found = messages(tmp_path)
    assert "splits/test.txt:1: conversation 'CV-1' is already in the train split" in found
    assert "splits/test.txt:2: unknown conversation 'CV-404'" in found


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe\x00\x01binary\n", "not UTF-8 text"),
        ('{"id": "P1"}\n'.encode("utf-16"), "not UTF-8 text"),
        (b"[1, 2, 3]\n", "expected a JSON object, got list"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    write_shop(tmp_path)
    (tmp_path / "catalog" / "products.jsonl").write_bytes(content)
    assert any(expected in m for m in messages(tmp_path))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    write_shop(tmp_path)
    (tmp_path / "store" / "orders.jsonl").unlink()
    report = validate_shop(tmp_path)
    assert not any(
        "file is missing" in str(i) for i in report.issues
    )  # every file but one of two is optional
    assert any(str(n).startswith("store/orders.jsonl: no order records") for n in report.notes)
    for name in ("catalog/products.jsonl", "knowledge/passages.jsonl"):
        (tmp_path / name).unlink()
    assert any("no products and no passages yet" in m for m in messages(tmp_path))
    assert messages(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: is not a folder"]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_shop(tmp_path)
    assert main(["data", "validate", str(tmp_path)]) == 0
    (tmp_path / "splits" / "dev.txt").write_text("CV-1\n")
    assert main(["data", "validate", str(tmp_path)]) == 1
    assert "splits/dev.txt:1:" in capsys.readouterr().out


def test_intent_labels_the_engine_does_not_act_on_are_noted(tmp_path: Path) -> None:
    assert not any("intent label" in str(n) for n in validate_shop(write_shop(tmp_path / "ours")).notes)
    own = json.loads(json.dumps(CONVERSATION))
    own["turns"][0]["intent"] = "track_order"
    report = validate_shop(write_shop(tmp_path / "theirs", logs__conversations_jsonl=[own]))
    assert report.is_valid  # a note, not an error: the shop can still run
    (note,) = [str(n) for n in report.notes if "intent label" in str(n)]
    assert "track_order (1)" in note and "--label-map" in note and "order_status" in note


def test_logs_whose_replies_name_no_documents_are_noted(tmp_path: Path) -> None:
    assert not any("data attribute" in str(n) for n in validate_shop(write_shop(tmp_path / "named")).notes)
    exported = json.loads(json.dumps(CONVERSATION))
    exported["turns"][1]["passages"], exported["turns"][1]["products"] = [], []
    report = validate_shop(write_shop(tmp_path / "exported", logs__conversations_jsonl=[exported]))
    (note,) = [str(n) for n in report.notes if "data attribute" in str(n)]
    assert report.is_valid and "none of the 1 agent replies" in note
