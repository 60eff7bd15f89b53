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
from assistant.data.labels import packaged_label_map
from assistant.evaluation.metrics import accuracy, macro_f1
from assistant.stages.intent_head import IntentHead
from assistant.training.intent import intent_examples

# Bitext intents with a counterpart among ours: the engine's import map (`data import --format bitext`), and
# where a request may fairly count for a second intent of ours too, that one as well.
ALSO_RIGHT = {"set_up_shipping_address": "account_help", "get_refund": "refund_status",
              "delivery_period": "order_status", "delete_account": "account_help"}  # fmt: skip
BITEXT_TO_OURS: dict[str, set[str]] = {
    raw: {ours} | ({ALSO_RIGHT[raw]} if raw in ALSO_RIGHT else set())
    for raw, ours in packaged_label_map("bitext").items()
}


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
