"""Both shops brought up as an engineer would (settings, `index`, the factory), with the real prepared
embedder: the demo shop on its trained intent model, Harbour & Pine from its exports on the engine's default
intent model (cold start). The same questions; each answer carries that shop's own facts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from assistant_fixtures import HARBOUR, build_harbour, order_with

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory):
    from assistant.factory import build_assistant
    from assistant.indexing.cli import run_index
    from assistant.settings import load_settings

    os.chdir(ROOT)
    root = tmp_path_factory.mktemp("two-shops-real")
    harbour = build_harbour(root / "harbour")
    common = ["generation.mode=templates"]
    demo = load_settings(overrides=[*common, f"store.database_url=sqlite:///{root / 'demo.db'}"])
    hp = load_settings(overrides=[*common, f"paths.shop_dir={harbour}", f"paths.artifacts_dir={harbour / 'artifacts'}",
                                  f"paths.index_location={harbour / 'index'}",
                                  f"store.database_url=sqlite:///{harbour / 'assistant.db'}"])  # fmt: skip
    assert run_index(hp) == 0
    return {"demo": build_assistant(demo), "harbour": build_assistant(hp), "harbour_settings": hp}


def harbour_order(status: str) -> dict:
    lines = (HARBOUR / "store" / "orders.jsonl").read_text(encoding="utf-8").splitlines()
    return next(o for o in map(json.loads, lines) if o["status"] == status)


EXPECTED = {
    "demo": {"window": "30 days", "fee": "$4.95", "hours": "8:00 to 20:00", "name": "Lumen Lane", "order": order_with},
    "harbour": {"window": "28 days", "fee": "£3.50", "hours": "9:00 to 17:30", "name": "Harbour & Pine",
                "order": harbour_order},
}  # fmt: skip


@pytest.mark.parametrize("name", ["demo", "harbour"])
def test_same_questions_each_shops_own_answers(shops, name: str) -> None:
    assistant, expected = shops[name], EXPECTED[name]
    assert expected["name"] in assistant.respond(f"r-{name}-1", "hi").text
    window = assistant.respond(f"r-{name}-2", "how long do I have to return something?")
    assert window.trace.decision.action == "answer_policy" and expected["window"] in window.text
    fee = assistant.respond(f"r-{name}-3", "how much does return postage cost?")
    assert expected["fee"] in fee.text
    human = assistant.respond(f"r-{name}-4", "I want to talk to a person")
    assert human.trace.decision.action == "handoff" and expected["hours"] in human.text
    order = expected["order"]("shipped")
    assistant.respond(f"r-{name}-5", "where is my order?")
    status = assistant.respond(f"r-{name}-5", f"{order['id']}, {order['email']}")
    assert status.trace.decision.action == "lookup_order" and order["tracking_number"] in status.text


def test_cold_start_shop_understands_and_recommends(shops) -> None:
    harbour = shops["harbour"]
    assert (
        harbour.respond("r-h-open", "what time is customer service open?").trace.decision.action
        == "answer_policy"
    )
    teapots = harbour.respond("r-h-tea", "can you recommend a teapot under £30?")
    assert teapots.cards and all(c.currency == "GBP" and c.price <= 30 for c in teapots.cards)
    assert "£" in teapots.text and "$" not in teapots.text
    pink = harbour.respond("r-h-tea", "have you got one in pink?")
    assert "couldn't find one in pink" in pink.text or "Nothing matches in pink" in pink.text
    cancel = harbour_order("placed")
    replies = [harbour.respond("r-h-cancel", m) for m in
               ("I want to cancel my order", f"{cancel['id']} and postcode BS1 4DJ", "yes please")]  # fmt: skip
    assert [r.trace.decision.action for r in replies] == [
        "request_verification",
        "confirm_cancel",
        "cancel_order",
    ]
    assert "£31.95" in replies[1].text and "3-5 working days" in replies[2].text


def test_harbour_conversation_suite_stays_above_its_floor(shops, tmp_path: Path) -> None:
    """The hand-written conversations for the second shop (the demo's run in `make test` after pytest)."""
    from assistant.evaluation.conversation_suite import check_floor, run_conversation_suite

    summary, results = run_conversation_suite(shops["harbour_settings"], suite=ROOT / "evals" / "conversations",
                                              out=tmp_path / "suite")  # fmt: skip
    assert summary["conversations"] >= 40 and (tmp_path / "suite" / "report.html").is_file()
    failed = [f"{r.conversation.id}: {r.failures}" for r in results if not r.passed]
    assert check_floor(summary, ROOT / "evals" / "conversations" / "floor.json", "Harbour & Pine") == [], (
        failed
    )
