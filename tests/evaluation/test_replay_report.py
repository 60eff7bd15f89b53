"""Replay: scored from the trace, no leakage of the gold reply or later turns; reports, compare, baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from assistant_fixtures import SHOP, build_test_assistant, train_head

from assistant.backends.embedding import HashingEmbedder
from assistant.backends.language_detection import ScriptLanguageIdentifier
from assistant.backends.sentiment import KeywordSentimentScorer
from assistant.backends.vector_store import InMemoryVectorStore
from assistant.data.validation import read_splits
from assistant.evaluation.replay import (
    aggregate,
    breakdown,
    confusion,
    load_conversations,
    replay,
    worst_turns,
)
from assistant.evaluation.report import check_baseline, compare, write_run
from assistant.stages.slots import SlotExtractor, Vocabulary
from assistant.training.intent import intent_examples


def test_no_test_conversation_in_training_data() -> None:
    splits = read_splits(SHOP)
    assert not set(splits["test"]) & set(splits["train"])
    assert not {e.conversation_id for e in intent_examples(SHOP, "train")} & set(splits["test"])


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory):
    embedder = HashingEmbedder(512)
    store = InMemoryVectorStore()
    assistant = build_test_assistant(tmp_path_factory.mktemp("replay"), embedder=embedder, store=store,
                                     identifier=ScriptLanguageIdentifier(), head=train_head(embedder),
                                     sentiment=KeywordSentimentScorer())  # fmt: skip
    conversations = load_conversations(SHOP, "dev", limit=12)
    seen: list[tuple[dict, int, list[str]]] = []
    respond = assistant.respond

    def spy(conversation_id: str, message: str):  # records the context each turn is answered in
        history = [text for _, text in assistant.conversations.history(conversation_id, limit=100)]
        conversation = next(c for c in conversations if conversation_id.endswith(c["id"]))
        position = next(i for i, t in enumerate(conversation["turns"]) if t["role"] == "customer" and t["text"] == message
                        and i >= len(history))  # fmt: skip
        seen.append((conversation, position, history))
        return respond(conversation_id, message)

    assistant.respond = spy  # type: ignore[method-assign]
    vocabulary = Vocabulary.of_shop(assistant.shop)
    result = replay(assistant, conversations, SlotExtractor(vocabulary), run_tag="t")
    return result, seen, conversations


def test_context_is_the_logged_history_only(replayed) -> None:
    result, seen, _ = replayed
    assert len(seen) == len(result.turns) > 20
    for conversation, position, history in seen:
        turns = conversation["turns"]
        earlier_agents = [t["text"] for t in turns[:position] if t["role"] == "agent"]
        later = [t["text"] for t in turns[position:] if t["role"] == "agent"]
        agent_history = history[1::2]
        assert agent_history == earlier_agents  # exactly the logged replies so far
        assert not set(agent_history) & (set(later) - set(earlier_agents))  # nothing from this turn on


def test_records_and_aggregate(replayed) -> None:
    result, _, _conversations = replayed
    record = result.turns[0]
    assert {"intent", "predicted_intent", "gold_action", "predicted_action", "chrf", "latency_ms"} <= set(
        record
    )
    agg = aggregate(result.turns)
    for key in ("language_accuracy", "intent_accuracy", "intent_macro_f1", "slot_f1", "action_accuracy",
                "groundedness_rate", "chrf", "rouge_l", "latency_ms_p50", "latency_ms_p95", "stage_latency_ms"):  # fmt: skip
        assert key in agg, key
    assert 0 <= agg["intent_accuracy"] <= 1 and agg["turns"] == len(result.turns)
    assert set(breakdown(result.turns, "language")) <= {"en", "zh"}
    assert sum(sum(row.values()) for row in confusion(result.turns).values()) == len(
        [r for r in result.turns if r["intent"]]
    )
    assert len(worst_turns(result.turns, 5)) == 5


def test_reports_compare_and_baseline(replayed, tmp_path: Path) -> None:
    result, _, _ = replayed
    payload = {"run": {"run_id": "r", "suite": "replay", "split": "dev", "conversations": 12, "seconds": 1.0},
               "aggregate": aggregate(result.turns), "by_language": breakdown(result.turns, "language"),
               "by_intent": breakdown(result.turns, "intent"), "confusion": confusion(result.turns),
               "worst": worst_turns(result.turns), "examples": result.turns}  # fmt: skip
    write_run(tmp_path / "r", payload)
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["aggregate"]["turns"] == len(
        result.turns
    )
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "## Headline" in markdown and "## 20 worst turns" in markdown and "## By intent" in markdown
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<svg" in page and "confusion matrix" in page
    better = json.loads(json.dumps(payload))
    better["aggregate"]["intent_accuracy"] = payload["aggregate"]["intent_accuracy"] + 0.1
    better["aggregate"]["latency_ms_p95"] = payload["aggregate"]["latency_ms_p95"] + 10
    verdicts = {name: verdict for name, _, _, verdict in compare(payload, better)}
    assert verdicts["intent_accuracy"] == "better" and verdicts["latency_ms_p95"] == "worse"
    baseline = {"tolerance": 0.02, "tolerances": {"chrf": 2.0},
                "metrics": {"intent_accuracy": payload["aggregate"]["intent_accuracy"] + 0.05, "chrf": 1.0}}  # fmt: skip
    failures = check_baseline(payload["aggregate"], baseline)
    assert len(failures) == 1 and failures[0].startswith("intent_accuracy")


def test_read_labelled_formats(tmp_path: Path) -> None:
    from assistant.evaluation.intents import read_labelled

    (tmp_path / "a.csv").write_text("text,category\nhello,greet\nbye,leave\n")
    assert read_labelled(tmp_path / "a.csv") == {"all": [("hello", "greet"), ("bye", "leave")]}
    (tmp_path / "c.json").write_text(json.dumps({"train": [["hi", "greet"]], "val": [["yo", "greet"]],
                                                 "oos_train": [["weather?", "oos"]], "oos_val": []}))  # fmt: skip
    assert read_labelled(tmp_path / "c.json")["train"][-1] == ("weather?", "out_of_scope")
    from assistant.errors import DataError

    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match="text column"):
        read_labelled(tmp_path / "bad.csv")
