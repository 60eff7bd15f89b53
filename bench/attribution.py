"""How often `data attribute` gives an agent reply the right document, at several margins, on the prepared
embedder (multilingual-e5-small):

- **Amazon PQA** (`../shared/data/amazon_pqa/hetPQA/answer_generation/`, train and dev): 4,091 answers
  written by people from one piece of evidence each (a description line, a review, a Q&A answer); each
  answer's own evidence is the right document. Among that product's evidence only (what a shop's reply
  about one product faces) and among all 3,238 pieces (a whole shop's documents). Short evidence of
  one product often says much the same thing, so this is harder than a shop's passages.
- **The demo shop**: its dev split's agent replies with the documents they named removed (those are the
  answer key), attributed by `attribute_replies` itself. Its replies are generated from its passages,
  so this is the easy case.

Precision: of the replies given a document, the share given a right one. Kept: the share given any.
Prints tables; asserts nothing.

    .venv/bin/python bench/attribution.py
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.backends.embedding_cache import cache_dir, embed_texts
from assistant.catalog import load_shop_knowledge
from assistant.data.validation import read_splits
from assistant.factory import build_embedder
from assistant.settings import load_settings
from assistant.training.attribution import attribute_replies, best_and_lead

ROOT = Path(__file__).resolve().parents[1]
PQA = ROOT.parent / "shared" / "data" / "amazon_pqa" / "hetPQA" / "answer_generation"
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05)


def table(right: np.ndarray, leads: np.ndarray) -> None:
    print("| margin | kept | precision |")
    print("|---|---|---|")
    for margin in MARGINS:
        kept = leads >= margin
        precision = f"{right[kept].mean():.3f}" if kept.any() else "–"
        print(f"| {margin:.2f} | {kept.mean():.3f} | {precision} |")


def amazon_pqa(embedder: object, cache: Path) -> None:
    csv.field_size_limit(10**8)
    rows: list[dict[str, str]] = []
    for name in ("train.csv", "dev.csv"):
        with (PQA / name).open(encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle, delimiter="\t"))
    evidence = sorted({row["candidate"] for row in rows})
    column = {text: i for i, text in enumerate(evidence)}
    quiet = lambda _: None  # noqa: E731
    documents = embed_texts(
        embedder, evidence, progress=quiet, label="evidence", passages=True, cache_dir=cache
    )
    answers = embed_texts(
        embedder, [row["answer"] for row in rows], progress=quiet, label="answers", cache_dir=cache
    )
    gold = np.array([column[row["candidate"]] for row in rows])
    similarity = answers @ documents.T
    products: dict[str, set[int]] = {}
    for row in rows:
        products.setdefault(row["ASIN"], set()).add(column[row["candidate"]])
    same = np.full_like(similarity, -np.inf)
    for n, row in enumerate(rows):
        mine = sorted(products[row["ASIN"]])
        same[n, mine] = similarity[n, mine]
    print(f"Amazon PQA: {len(rows)} answers written by people, {len(evidence)} pieces of evidence")
    for scope, scores in (("that product's evidence", same), ("all evidence", similarity)):
        best, leads = best_and_lead(scores)
        leads = np.where(np.isfinite(leads), leads, 1.0)  # a product with one piece of evidence: no rival
        print(f"\namong {scope} (best guess right on {np.mean(best == gold):.3f}):")
        table(best == gold, leads)


def demo_shop(embedder: object, cache: Path) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        shop = Path(temporary) / "shop"
        shutil.copytree(
            ROOT / "dialogue_data", shop, ignore=shutil.ignore_patterns("generate_*.py", "templates")
        )
        dev = set(read_splits(shop)["dev"])
        logs = shop / "logs" / "conversations.jsonl"
        conversations = [json.loads(line) for line in logs.read_text(encoding="utf-8").splitlines()]
        conversations = [c for c in conversations if c["id"] in dev]
        truth: dict[tuple[str, int], set[str]] = {}
        for conversation in conversations:
            for i, turn in enumerate(conversation["turns"]):
                if turn["role"] == "agent" and i:
                    truth[(conversation["id"], i)] = set(turn.get("passages") or []) | set(
                        turn.get("products") or []
                    )
                    turn["passages"], turn["products"] = [], []
        logs.write_text(
            "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations), encoding="utf-8"
        )
        started = time.perf_counter()
        report = attribute_replies(shop, load_shop_knowledge(shop), embedder, margin=0.0, cache_dir=cache)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        right, leads = [], []
        for conversation in (json.loads(line) for line in logs.read_text(encoding="utf-8").splitlines()):
            for i, turn in enumerate(conversation["turns"]):
                if turn.get("attributed"):
                    given = set(turn["passages"]) | set(turn["products"])
                    right.append(bool(given & truth[(conversation["id"], i)]))
                    leads.append(turn["attribution_margin"])
        named = sum(1 for documents in truth.values() if documents)
        print(f"\nThe demo shop's dev split: {report.replies} agent replies ({named} named documents before they "
              f"were removed), attributed in {seconds:.1f} s; recall at a margin = kept x precision x "
              f"{report.replies}/{named}")  # fmt: skip
        table(np.array(right), np.array(leads))


def main() -> None:
    settings = load_settings()
    embedder = build_embedder(settings, use_fine_tuned=False)
    cache = cache_dir(settings.paths.data_dir)
    amazon_pqa(embedder, cache)
    demo_shop(embedder, cache)


if __name__ == "__main__":
    main()
