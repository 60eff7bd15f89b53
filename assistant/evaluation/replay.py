"""Replay held-out conversations through the real `Assistant` and score every stage from its trace.

For each logged conversation the customer turns are sent in order to a fresh conversation; after
each reply is scored, the stored assistant message is replaced by the logged agent reply, so the
context of a turn is the logged history up to it, never the gold reply of the turn itself or any
later turn.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.data.validation import read_splits
from assistant.evaluation import metrics as m
from assistant.pipeline import Assistant
from assistant.schema import Reply
from assistant.stages.generation import ungrounded_facts
from assistant.stages.slots import SlotExtractor

SLOT_KEYS = ("order_id", "email", "postcode", "product_type", "category", "colour", "brand", "price_max", "size",
             "region", "code", "measure", "ordinal")  # fmt: skip
ORDER_ACTIONS = frozenset({"lookup_order", "start_return", "confirm_cancel", "cancel_order", "request_address",
                           "change_address", "check_refund", "start_replacement"})  # fmt: skip
PRODUCT_ACTIONS = frozenset({"recommend_products", "answer_product", "check_stock"})
DETAIL_REFUSALS = frozenset({"needs_details", "not_verified", "locked", "no_order_id"})


def load_conversations(shop_dir: Path, split: str, *, limit: int | None = None) -> list[dict]:
    """Conversations of `split`, in file order (the first `limit` of them)."""
    wanted = set(read_splits(shop_dir)[split])
    out = []
    for line in (shop_dir / "logs" / "conversations.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            conversation = json.loads(line)
            if conversation["id"] in wanted:
                out.append(conversation)
                if limit is not None and len(out) >= limit:
                    break
    return out


def comparable_action(reply: Reply) -> str:
    """The pipeline's action in the logs' vocabulary (an order action that was refused is "refuse_action")."""
    trace = reply.trace
    result = trace.action
    if result is not None and result.status == "refused" and trace.decision.action in ORDER_ACTIONS:
        return "request_verification" if result.reason in DETAIL_REFUSALS else "refuse_action"
    return trace.decision.action


def evidence_text(reply: Reply, message: str) -> str:
    trace = reply.trace
    parts = [message, *(h.text for h in trace.knowledge), *(h.text for h in trace.products)]
    if trace.action is not None:
        parts += [f"{k}: {v}" for k, v in trace.action.facts.items()]
    parts += [f"{c.title} {c.price:.2f} {c.reason}" for c in reply.cards]
    parts += [d.text for d in trace.drafts if d.source != "generated"]  # templates repeat cited passages
    return "\n".join(parts)


@dataclass
class ReplayResult:
    """Per-turn records and the wall time of the replay."""

    turns: list[dict]
    seconds: float


def replay(
    assistant: Assistant,
    conversations: Sequence[dict],
    slot_extractor: SlotExtractor,
    *,
    semantic: Callable[[list[str], list[str]], list[float]] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    run_tag: str = "eval",
) -> ReplayResult:
    """Send every customer turn through the assistant and score it against the log."""
    started = time.perf_counter()
    records: list[dict] = []
    for index, conversation in enumerate(conversations):
        conversation_id = f"{run_tag}-{conversation['id']}"
        turns = conversation["turns"]
        for position, turn in enumerate(turns):
            if turn["role"] != "customer":
                continue
            gold_agent = (
                turns[position + 1]
                if position + 1 < len(turns) and turns[position + 1]["role"] == "agent"
                else None
            )
            reply = assistant.respond(conversation_id, turn["text"])
            records.append(score_turn(conversation, position, turn, gold_agent, reply, slot_extractor))
            if gold_agent is not None:  # the logged history, not the assistant's, is what later turns see
                assistant.conversations.replace_last_message(conversation_id, "assistant", gold_agent["text"])
        progress(index + 1, len(conversations))
    if semantic is not None:
        scored = [r for r in records if r["gold_reply"] is not None]
        for record, similarity in zip(scored, semantic([r["reply"] for r in scored], [r["gold_reply"] for r in scored]),
                                      strict=True):  # fmt: skip
            record["semantic_similarity"] = round(float(similarity), 4)
    return ReplayResult(records, time.perf_counter() - started)


def score_turn(conversation: dict, position: int, turn: dict, gold_agent: dict | None, reply: Reply,
               slot_extractor: SlotExtractor) -> dict:  # fmt: skip
    trace = reply.trace
    gold_language = turn.get("language", conversation["language"])
    predicted_slots = {k: v for k, v in trace.understanding.slots.items() if k in SLOT_KEYS}
    # Only what this message names counts (carried slots are state, not extraction).
    mentioned = slot_extractor.extract(turn["text"], expecting_details=True)
    predicted_slots = {k: v for k, v in predicted_slots.items() if k in mentioned or k == "postcode"}
    gold_slots: dict[str, str] = {}
    for key, value in (turn.get("slots") or {}).items():
        if key == "product_title":  # a named product implies its brand, type, category and colour
            gold_slots.update({k: v for k, v in slot_extractor.extract(value).items() if k in SLOT_KEYS})
        elif key in SLOT_KEYS:
            canonical = slot_extractor.extract(value, expecting_details=key == "postcode")
            gold_slots[key] = canonical.get(key, value)
            if key == "product_type" and "category" in canonical:  # the type implies its category
                gold_slots.setdefault("category", canonical["category"])
    knowledge_ranked = [h.id for h in trace.knowledge]
    product_ranked = list(dict.fromkeys([*(c.product_id for c in reply.cards),
                                         *(str(h.metadata.get("product_id")) for h in trace.products)]))  # fmt: skip
    record: dict[str, Any] = {
        "conversation_id": conversation["id"],
        "turn": position,
        "language": gold_language,
        "intent": turn.get("intent"),
        "message": turn["text"],
        "reply": reply.text,
        "gold_reply": gold_agent["text"] if gold_agent else None,
        "predicted_language": reply.language,
        "predicted_intent": trace.understanding.intent,
        "confidence": round(trace.understanding.confidence, 4),
        "predicted_out_of_scope": trace.understanding.is_out_of_scope or trace.understanding.intent == "out_of_scope",
        "gold_slots": gold_slots,
        "predicted_slots": predicted_slots,
        "gold_action": gold_agent.get("action") if gold_agent else None,
        "predicted_action": comparable_action(reply),
        "decision_rule": trace.decision.rule,
        "predicted_handoff": reply.handoff,  # handed off now or earlier: a human has the conversation
        "gold_passages": list(gold_agent.get("passages", [])) if gold_agent else [],
        "retrieved_passages": knowledge_ranked,
        "gold_products": list(gold_agent.get("products", [])) if gold_agent else [],
        "retrieved_products": product_ranked,
        "card_products": [c.product_id for c in reply.cards],
        "reply_source": next((d.source for d in trace.drafts if d.text == reply.text), "template"),
        "generated": bool(trace.drafts) and trace.drafts[0].source == "generated",
        "generated_grounded": bool(trace.drafts) and trace.drafts[0].source == "generated" and trace.drafts[0].is_grounded,
        "ungrounded_in_reply": list(ungrounded_facts(reply.text, evidence_text(reply, turn["text"]))),
        "fallback_reason": trace.fallback_reason,
        "timings_ms": trace.timings_ms,
        # The measured whole turn (older traces without one: the sum of their stages).
        "latency_ms": trace.timings_ms.get("total", round(sum(trace.timings_ms.values()), 2)),
        "trace": {"decision": trace.decision.action, "rule": trace.decision.rule,
                  "top_intents": trace.understanding.top_intents,
                  "action": None if trace.action is None else {"status": trace.action.status, "reason": trace.action.reason},
                  "knowledge": knowledge_ranked[:3], "degraded": list(trace.degraded)},
    }  # fmt: skip
    if gold_agent is not None:
        record["chrf"] = round(m.chrf(reply.text, gold_agent["text"]), 2)
        record["rouge_l"] = round(m.rouge_l(reply.text, gold_agent["text"]), 4)
    if record["gold_action"] == "refuse_unverified":
        record["refusal_correct"] = record["predicted_action"] in (
            "refuse_unverified",
            "request_verification",
        )
    return record


# ---------------------------------------------------------------------------------------- aggregation
def aggregate(records: Sequence[dict]) -> dict[str, Any]:
    """Every metric over `records`."""
    out: dict[str, Any] = {"turns": len(records)}
    if not records:
        return out
    out["language_accuracy"] = m.accuracy(
        [r["language"] for r in records], [r["predicted_language"] for r in records]
    )
    labelled = [r for r in records if r["intent"]]
    if labelled:
        gold = [r["intent"] for r in labelled]
        predicted = [r["predicted_intent"] for r in labelled]
        out["intent_accuracy"] = m.accuracy(gold, predicted)
        out["intent_macro_f1"] = m.macro_f1(gold, predicted)
        oos = [(r["intent"] == "out_of_scope", bool(r["predicted_out_of_scope"])) for r in labelled]
        out["oos_precision"], out["oos_recall"] = m.precision_recall(oos)
    counts = [m.slot_counts(r["gold_slots"], r["predicted_slots"]) for r in records]
    out["slot_f1"] = m.f1_from_counts(*(sum(c[i] for c in counts) for i in range(3)))
    # Retrieval is scored where the agent answered from knowledge or about products (other turns cite
    # fixed passages of their templates, e.g. the verification policy).
    with_passages = [r for r in records if r["gold_passages"] and r["gold_action"] == "answer_policy"]
    if with_passages:
        out["passages_evaluated"] = len(with_passages)
        for k in (1, 5):
            out[f"passage_recall@{k}"] = _mean(m.recall_at_k(set(r["gold_passages"]), r["retrieved_passages"], k)
                                              for r in with_passages)  # fmt: skip
        out["passage_mrr"] = _mean(
            m.reciprocal_rank(set(r["gold_passages"]), r["retrieved_passages"]) for r in with_passages
        )
        out["passage_ndcg@10"] = _mean(m.ndcg_at_k({g: 1.0 for g in r["gold_passages"]}, r["retrieved_passages"], 10)
                                       for r in with_passages)  # fmt: skip
    with_products = [r for r in records if r["gold_products"] and r["gold_action"] in PRODUCT_ACTIONS]
    if with_products:
        out["products_evaluated"] = len(with_products)
        out["product_recall@5"] = _mean(m.recall_at_k(set(r["gold_products"]), r["retrieved_products"], 5)
                                        for r in with_products)  # fmt: skip
        out["product_mrr"] = _mean(
            m.reciprocal_rank(set(r["gold_products"]), r["retrieved_products"]) for r in with_products
        )
        out["product_ndcg@10"] = _mean(m.ndcg_at_k({g: 1.0 for g in r["gold_products"]}, r["retrieved_products"], 10)
                                       for r in with_products)  # fmt: skip
    recommended = [r for r in records if r["gold_action"] == "recommend_products" and r["gold_products"]]
    if recommended:
        out["recommendation_hit@3"] = _mean(
            m.hit_at_k(set(r["gold_products"]), r["card_products"], 3) for r in recommended
        )
        out["recommendation_ndcg@3"] = _mean(m.ndcg_at_k({g: 1.0 for g in r["gold_products"]}, r["card_products"], 3)
                                             for r in recommended)  # fmt: skip
    acted = [r for r in records if r["gold_action"]]
    if acted:
        out["action_accuracy"] = m.accuracy(
            [r["gold_action"] for r in acted], [r["predicted_action"] for r in acted]
        )
        out["handoff_precision"], out["handoff_recall"] = m.precision_recall(
            [(r["gold_action"] == "handoff", bool(r["predicted_handoff"])) for r in acted]
        )
        out["chrf"] = _mean(r["chrf"] for r in acted if "chrf" in r)
        out["rouge_l"] = _mean(r["rouge_l"] for r in acted if "rouge_l" in r)
    similar = [r["semantic_similarity"] for r in records if "semantic_similarity" in r]
    if similar:
        out["semantic_similarity"] = _mean(similar)
    out["groundedness_rate"] = _mean(1.0 if not r["ungrounded_in_reply"] else 0.0 for r in records)
    generated = [r for r in records if r["generated"]]
    out["generated_drafts"] = len(generated)
    if generated:
        out["generated_grounded_rate"] = _mean(1.0 if r["generated_grounded"] else 0.0 for r in generated)
    refusals = [r for r in records if "refusal_correct" in r]
    if refusals:
        out["refusal_correctness"] = _mean(1.0 if r["refusal_correct"] else 0.0 for r in refusals)
    latencies = [r["latency_ms"] for r in records]
    out["latency_ms_p50"], out["latency_ms_p95"] = m.percentile(latencies, 50), m.percentile(latencies, 95)
    stages: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for stage, ms in r["timings_ms"].items():
            stages[stage].append(ms)
    out["stage_latency_ms"] = {s: {"p50": round(m.percentile(v, 50), 2), "p95": round(m.percentile(v, 95), 2)}
                               for s, v in stages.items()}  # fmt: skip
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _mean(values: Iterable[float]) -> float:
    listed = list(values)
    return float(np.mean(listed)) if listed else 0.0


def breakdown(records: Sequence[dict], key: str) -> dict[str, dict[str, Any]]:
    """`aggregate` per value of `key` (language or intent)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[str(r.get(key))].append(r)
    return {name: aggregate(group) for name, group in sorted(groups.items())}


def confusion(records: Sequence[dict]) -> dict[str, dict[str, int]]:
    """gold intent -> predicted intent -> count."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        if r["intent"]:
            table[r["intent"]][r["predicted_intent"]] += 1
    return {g: dict(p) for g, p in sorted(table.items())}


def worst_turns(records: Sequence[dict], n: int = 20) -> list[dict]:
    """The `n` turns that went most wrong (wrong intent, wrong action, ungrounded, low overlap)."""

    def badness(r: dict) -> float:
        return ((r["intent"] is not None and r["intent"] != r["predicted_intent"]) * 2
                + (r["gold_action"] is not None and r["gold_action"] != r["predicted_action"]) * 2
                + bool(r["ungrounded_in_reply"]) * 3 + (1 - r.get("chrf", 100) / 100))  # fmt: skip

    return sorted(records, key=lambda r: (-badness(r), r["conversation_id"], r["turn"]))[:n]
