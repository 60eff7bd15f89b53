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
    aggregate = payload["aggregate"]
    assert (
        aggregate["accuracy"] >= 0.9
        and aggregate["test_examples"] == 9
        and aggregate["validation_examples"] >= 3
    )
    assert (
        aggregate["oos_recall"] is None and 0 < aggregate["threshold"] <= 0.5
    )  # no OOS rows: the threshold still acts
    # three samples: the one file split again with seeds 1, 2 and 3, each fitted and scored, and the spread reported
    folder, again = run_intent_suite(settings, data=tmp_path / "intents.csv", test_share=0.25, seed=1,
                                     out_root=tmp_path, progress=lambda _: None, repeats=3, run_id="repeats")  # fmt: skip
    assert [r["seed"] for r in again["repeats"]] == [1, 2, 3] and again["aggregate"]["repeats"] == 3
    assert again["aggregate"]["accuracy"] == aggregate["accuracy"]  # the first sample is the run above
    assert again["aggregate"]["repeats_goal_met"] is None and again["aggregate"]["embeddings_computed"] == 0
    assert "## Over 3 samples of the data" in (folder / "report.md").read_text()
    # a fifth of the intents held out of training: their messages (train part's too) test out of scope
    rows += [f"can I pay with a voucher {i},payment" for i in range(12)]
    rows += [f"my account password does not work {i},login" for i in range(12)]
    (tmp_path / "five.csv").write_text("\n".join(rows) + "\n")
    folder, held = run_intent_suite(settings, data=tmp_path / "five.csv", test_share=0.25, seed=1, out_root=tmp_path,
                                    progress=lambda _: None, hold_out_intents=0.2, run_id="held")  # fmt: skip
    ((label, count),) = held["held_out_intents"].items()
    assert label in {"track", "refund", "greet", "payment", "login"} and count == 12  # all its rows tested
    aggregate = held["aggregate"]
    assert aggregate["labels"] == 4 and aggregate["held_out_test_examples"] == 12
    assert aggregate["oos_test_examples"] == 12 and aggregate["unseen_test_examples"] == 0
    assert aggregate["oos_recall"] is not None and f"- {label}: 12" in (folder / "report.md").read_text()

    # separate train and test files; the test has out-of-scope rows and a label train never had
    (tmp_path / "test.csv").write_text("text,label\ntrack my parcel please,track\nmoney back now,refund\n"
                                       "what is the capital of peru,oos\nsing me a song about whales,oos\n"
                                       "can I change my delivery address,address\n"
                                       "do you ship to iceland,\n,refund\n")  # fmt: skip
    for attempt in (1, 2):
        folder, payload = run_intent_suite(settings, train_file=tmp_path / "intents.csv", test_file=tmp_path / "test.csv",
                                           seed=1, out_root=tmp_path,
                                           progress=lambda _: None, run_id=f"files-{attempt}")  # fmt: skip
    aggregate = payload["aggregate"]
    assert aggregate["test_examples"] == 5 and aggregate["unseen_test_examples"] == 1
    assert aggregate["oos_test_examples"] == 3 and aggregate["oos_recall"] is not None
    assert (
        aggregate["embeddings_computed"] == 0 and aggregate["embeddings_from_cache"] >= 36
    )  # the second run
    assert payload["unseen_test_labels"] == {"address": 1} and payload["threshold_curve"]
    # a row nobody labelled and one with no text: left out, and said so
    assert payload["rows_left_out"] == {"no label": 1, "no text": 1} and aggregate["rows_left_out"] == 2
    assert (folder / "mistakes.csv").is_file() and (folder / "confusion.csv").is_file()
    report = (folder / "report.md").read_text()
    assert "Out of scope as the assistant decides it" in report and "- no label: 1" in report
    # the two files with intents held out, three samples: each draws from the test file as given, so only its own
    # held-out intent's 12 train rows join the 5 test rows (never an earlier sample's, which it trains on)
    _, held = run_intent_suite(settings, train_file=tmp_path / "intents.csv", test_file=tmp_path / "test.csv", seed=1,
                               out_root=tmp_path, progress=lambda _: None, hold_out_intents=0.2, repeats=3,
                               run_id="files-held")  # fmt: skip
    assert [r["test_examples"] for r in held["repeats"]] == [5 + 12] * 3
    # the English embedder beside e5 (an English-only shop's head): e5's vectors from the cache, as before
    english = load_settings(overrides=["models.intent_english_features=on"])
    _, payload = run_intent_suite(english, train_file=tmp_path / "intents.csv", test_file=tmp_path / "test.csv",
                                  seed=1, out_root=tmp_path, progress=lambda _: None, run_id="files-english")  # fmt: skip
    joined = payload["aggregate"]
    assert aggregate["features"] == "embedder" and joined["features"] == "embedder + english_embedder"
    texts = aggregate["embeddings_from_cache"] + aggregate["embeddings_computed"]
    assert joined["embeddings_from_cache"] + joined["embeddings_computed"] == 2 * texts
    assert joined["embeddings_from_cache"] >= texts and joined["oos_test_examples"] == 3
    # a stricter share of the validation answers set aside, as `train intent` would fit it live
    assert aggregate["set_aside_share"] == 0.02
    stricter = load_settings(overrides=["assistant.out_of_scope_set_aside=0.3"])
    _, payload = run_intent_suite(stricter, train_file=tmp_path / "intents.csv", test_file=tmp_path / "test.csv",
                                  seed=1, out_root=tmp_path, progress=lambda _: None, run_id="files-strict")  # fmt: skip
    assert payload["aggregate"]["set_aside_share"] == 0.3
    assert payload["aggregate"]["threshold"] > aggregate["threshold"] or aggregate["threshold"] == 0.5

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


def test_the_intent_suite_on_a_shops_own_labelled_logs(tmp_path: Path) -> None:
    """No files given: the shop's labelled turns, its train split against its test split."""
    from assistant.data.splits import split_shop_logs
    from assistant.evaluation.suites import run_intent_suite
    from assistant.settings import load_settings

    os.chdir(ROOT)
    texts = {"order_status": "where is my parcel number {}", "return_request": "I want to send back order {}",
             "greeting": "hello there friend {}"}  # fmt: skip
    conversations = [{"id": f"{intent}-{i}", "language": "en", "turns": [
        {"role": "customer", "text": text.format(i), "intent": intent if i != 3 else "wismo"}]}
        for intent, text in texts.items() for i in range(20)]  # fmt: skip
    (tmp_path / "shop" / "logs").mkdir(parents=True)
    (tmp_path / "shop" / "logs" / "conversations.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in conversations)
    )
    splits, _ = split_shop_logs(tmp_path / "shop")
    settings = load_settings(overrides=[f"paths.shop_dir={tmp_path / 'shop'}"])
    _, payload = run_intent_suite(settings, out_root=tmp_path, progress=lambda _: None,
                                  label_map={"wismo": "order_status"})  # fmt: skip
    aggregate = payload["aggregate"]
    assert aggregate["test_examples"] == len(splits["test"]) and aggregate["accuracy"] >= 0.9
    assert set(payload["per_label"]) <= set(texts) and aggregate["labels"] == 3  # "wismo" renamed by the map
    assert "conversations.jsonl" in json.dumps(payload)
