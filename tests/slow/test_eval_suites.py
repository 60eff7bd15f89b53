"""The generic eval suites with the real embedder, on small data written here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_intent_and_retrieval_suites(tmp_path: Path) -> None:
    from assistant.evaluation.suites import run_intent_suite, run_retrieval_suite
    from assistant.settings import load_settings

    os.chdir(ROOT)
    settings = load_settings()
    rows = ["text,label"]
    for i in range(12):
        rows += [f"where is my parcel number {i},track", f"I want my money back for order {i},refund",
                 f"hello there friend {i},greet"]  # fmt: skip
    (tmp_path / "intents.csv").write_text("\n".join(rows) + "\n")
    _, payload = run_intent_suite(settings, data=tmp_path / "intents.csv", test_share=0.25, seed=1, out_root=tmp_path,
                                  progress=lambda _: None)  # fmt: skip
    assert payload["aggregate"]["accuracy"] >= 0.9 and payload["aggregate"]["test_examples"] == 9

    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in [
        {"id": "d1", "text": "Returns are free within 30 days of delivery."},
        {"id": "d2", "text": "Express shipping to Canada takes 2-3 business days."},
        {"id": "d3", "text": "我们接受支付宝和微信支付。"}]) + "\n")  # fmt: skip
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "text": "how long do I have to send something back"}, {"id": "q2", "text": "可以用支付宝吗"}]) + "\n")  # fmt: skip
    (tmp_path / "qrels.tsv").write_text("query_id\tdoc_id\trelevance\nq1\td1\t2\nq2\td3\t1\n")
    _, payload = run_retrieval_suite(settings, corpus=tmp_path / "corpus.jsonl", queries=tmp_path / "queries.jsonl",
                                     qrels=tmp_path / "qrels.tsv", out_root=tmp_path, progress=lambda _: None)  # fmt: skip
    assert payload["aggregate"]["queries"] == 2 and payload["aggregate"]["recall@5"] == 1.0
    assert payload["aggregate"]["mrr"] >= 0.5
