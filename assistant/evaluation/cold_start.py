"""How well the engine's default intent model (cold start) understands messages nobody here wrote.

- the shop's own labelled test split, when it has logs (the demo shop's is generated, so it is a plumbing
  figure, not a quality one);
- Bitext customer-support requests (``bitext/bitext_train.csv``: the train part, the only one here), on the
  Bitext intents that have a counterpart among ours (`BITEXT_TO_OURS`; a request may count for more than one of
  ours where the two taxonomies cut differently);
- CLINC150's out-of-scope messages (``clinc150/data_trainval.json``, ``oos_train`` + ``oos_val``): the share the
  default model sets aside as out of scope (its own ``out_of_scope`` intent, or confidence under its threshold).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.evaluation.metrics import accuracy, macro_f1
from assistant.stages.intent_head import IntentHead
from assistant.training.intent import intent_examples

BITEXT_TO_OURS: dict[str, set[str]] = {
    "cancel_order": {"cancel_order"}, "change_shipping_address": {"change_address"},
    "set_up_shipping_address": {"change_address", "account_help"}, "check_payment_methods": {"payment_problem"},
    "payment_issue": {"payment_problem"}, "check_invoice": {"payment_problem"}, "get_invoice": {"payment_problem"},
    "check_refund_policy": {"return_policy"}, "track_refund": {"refund_status"}, "get_refund": {"return_request", "refund_status"},
    "track_order": {"order_status"}, "complaint": {"complaint"}, "contact_human_agent": {"ask_human"},
    "contact_customer_service": {"ask_human"}, "delivery_options": {"shipping_policy"},
    "delivery_period": {"shipping_policy", "order_status"}, "create_account": {"account_help"},
    "edit_account": {"account_help"}, "recover_password": {"account_help"}, "registration_problems": {"account_help"},
    "switch_account": {"account_help"}, "newsletter_subscription": {"account_help"},
    "delete_account": {"privacy_request", "account_help"},
}  # fmt: skip


def _predict(head: IntentHead, embedder: Embedder, texts: list[str]) -> tuple[list[str], np.ndarray]:
    vectors = np.concatenate([embedder.embed_queries(texts[i : i + 128]) for i in range(0, len(texts), 128)])
    probabilities = head.probabilities(vectors)
    return [head.labels[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1)


def cold_start_figures(head: IntentHead, embedder: Embedder, *, shop_dir: Path, shared_data: Path) -> dict:
    """Figures per data set (absent data sets are skipped and said so)."""
    out: dict[str, object] = {}
    test = intent_examples(shop_dir, "test") if (shop_dir / "logs" / "conversations.jsonl").is_file() else []
    if test:
        gold = [e.intent for e in test]
        predicted, _ = _predict(head, embedder, [e.text for e in test])
        out["shop_test"] = {"examples": len(test), "accuracy": round(accuracy(gold, predicted), 4),
                            "macro_f1": round(macro_f1(gold, predicted), 4)}  # fmt: skip
        for language in sorted({e.language for e in test}):
            chosen = [i for i, e in enumerate(test) if e.language == language]
            out["shop_test"][f"accuracy_{language}"] = round(  # type: ignore[index]
                accuracy([gold[i] for i in chosen], [predicted[i] for i in chosen]), 4
            )
    else:
        out["shop_test"] = "no labelled logs in the shop folder"
    bitext = shared_data / "bitext" / "bitext_train.csv"
    if bitext.is_file():
        with bitext.open(encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["intent"] in BITEXT_TO_OURS]
        predicted, _ = _predict(head, embedder, [r["instruction"] for r in rows])
        hits = [p in BITEXT_TO_OURS[r["intent"]] for r, p in zip(rows, predicted, strict=True)]
        per_intent = {}
        for name in sorted(BITEXT_TO_OURS):
            chosen = [h for r, h in zip(rows, hits, strict=True) if r["intent"] == name]
            if chosen:
                per_intent[name] = round(sum(chosen) / len(chosen), 3)
        out["bitext_train"] = {"examples": len(rows), "intents": len(per_intent),
                               "accuracy": round(sum(hits) / max(1, len(hits)), 4), "per_intent": per_intent}  # fmt: skip
    else:
        out["bitext_train"] = f"{bitext} not found"
    clinc = shared_data / "clinc150" / "data_trainval.json"
    if clinc.is_file():
        data = json.loads(clinc.read_text(encoding="utf-8"))
        texts = [text for part in ("oos_train", "oos_val") for text, _ in data.get(part, [])]
        predicted, confidence = _predict(head, embedder, texts)
        flagged = [
            p == "out_of_scope" or c < head.threshold for p, c in zip(predicted, confidence, strict=True)
        ]
        out["clinc150_out_of_scope"] = {
            "examples": len(texts),
            "flagged": round(sum(flagged) / max(1, len(texts)), 4),
        }
    else:
        out["clinc150_out_of_scope"] = f"{clinc} not found"
    return out
