"""The committed demo shop: valid, as rich as promised, and exactly what the generators produce."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assistant.data.figures import shop_figures
from assistant.data.validation import read_splits, validate_shop

DATA = Path(__file__).resolve().parents[2] / "dialogue_data"


@pytest.fixture(scope="module")
def figures() -> dict:
    return shop_figures(DATA)


def test_demo_shop_is_valid() -> None:
    report = validate_shop(DATA)
    assert report.issues == []


def test_demo_shop_is_as_rich_as_promised(figures: dict) -> None:
    counts = figures["counts"]
    assert counts["products"] >= 400
    assert counts["customers"] >= 300
    assert counts["orders"] >= 1500
    assert counts["conversations"] >= 4000
    assert figures["passages_per_language"]["en"] >= 80
    assert figures["passages_per_language"]["zh"] >= 80
    assert figures["conversations_per_language"]["zh"] / counts["conversations"] >= 0.25
    assert figures["code_switching_conversations"] > 0
    assert figures["customer_turns_per_conversation"] >= 4
    assert len(figures["intents"]) >= 20
    assert set(figures["outcomes"]) == {"resolved", "handed_off"}


def test_catalog_breadth_and_bilingual_texts() -> None:
    products = [json.loads(line) for line in (DATA / "catalog" / "products.jsonl").open(encoding="utf-8")]
    assert len({p["category"][0] for p in products}) >= 10
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in p["title"]["zh"]) for p in products)
    assert any(p["stock"] == 0 for p in products)


def test_order_statuses_all_present() -> None:
    orders = [json.loads(line) for line in (DATA / "store" / "orders.jsonl").open(encoding="utf-8")]
    assert set(Counter(o["status"] for o in orders)) == {
        "placed", "shipped", "delivered", "returned", "cancelled", "refunded"
    }  # fmt: skip


def test_splits_are_about_80_10_10_and_disjoint(figures: dict) -> None:
    splits = read_splits(DATA)
    sizes = {name: len(ids) for name, ids in splits.items()}
    total = sum(sizes.values())
    assert total == figures["counts"]["conversations"]
    assert 0.77 <= sizes["train"] / total <= 0.83
    assert 0.08 <= sizes["dev"] / total <= 0.12
    assert not set(splits["test"]) & set(splits["train"])
    assert not set(splits["dev"]) & set(splits["train"])


def test_order_details_only_after_verification() -> None:
    for line in (DATA / "logs" / "conversations.jsonl").open(encoding="utf-8"):
        conversation = json.loads(line)
        verified: set[str] = set()
        for turn in conversation["turns"]:
            if turn["role"] == "customer" and turn["intent"] == "provide_details":
                verified |= {turn["slots"].get("order_id", "")}
            if turn["role"] == "agent" and turn.get("order_id"):
                assert turn["order_id"] in verified or any(
                    t["slots"].get("order_id") == turn["order_id"]
                    for t in conversation["turns"]
                    if t["role"] == "customer"
                ), conversation["id"]


def test_generators_reproduce_the_committed_files(tmp_path: Path) -> None:
    for script in ("generate_shop.py", "generate_logs.py"):
        shutil.copy(DATA / script, tmp_path / script)
    for script in ("generate_shop.py", "generate_logs.py"):
        subprocess.run([sys.executable, str(tmp_path / script), str(tmp_path)], check=True, timeout=300,
                       capture_output=True)  # fmt: skip
    for relative in (
        "catalog/products.jsonl", "knowledge/passages.jsonl", "store/customers.jsonl", "store/orders.jsonl",
        "logs/conversations.jsonl", "splits/train.txt", "splits/dev.txt", "splits/test.txt",
    ):  # fmt: skip
        assert (tmp_path / relative).read_bytes() == (DATA / relative).read_bytes(), relative
