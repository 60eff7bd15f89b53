"""Fine-tune the retriever: contrastive learning on (customer message -> the passage or product the
agent used), with in-batch negatives and hard negatives mined with the starting model.

Documents are exactly the indexed texts (`indexing.builder`), so what is learnt is what is searched.
Dev and test nDCG@10 / recall@5 / MRR of dense search are measured before and after and written to
`artifacts/retriever/<run_id>/metrics.json` (`base_*` is the starting point). After `promote`, the
pipeline embeds with the run's `encoder/`; run `python -m assistant index` to re-embed the shop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.catalog import ShopKnowledge
from assistant.data.validation import read_splits
from assistant.errors import DataError
from assistant.evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from assistant.indexing.builder import knowledge_documents, product_documents
from assistant.training.registry import active_run

logger = logging.getLogger(__name__)
COMPONENT = "retriever"
QUICK_PAIRS = 800


@dataclass(frozen=True)
class RetrievalPair:
    """A customer message and the documents (index ids) the agent's answer used."""

    query: str
    relevant: tuple[str, ...]
    language: str


def retrieval_corpus(shop: ShopKnowledge) -> dict[str, tuple[str, str]]:
    """Index id -> (text, language) for every passage and product document."""
    docs = knowledge_documents(shop) + product_documents(shop)
    return {d.id: (d.text, str(d.metadata["language"])) for d in docs}


def retrieval_pairs(shop_dir: Path, split: str, corpus: dict[str, tuple[str, str]]) -> list[RetrievalPair]:
    """(message, documents used in the next agent turn) for the conversations of `split`."""
    ids = set(read_splits(shop_dir)[split])
    path = shop_dir / "logs" / "conversations.jsonl"
    if not path.is_file():
        raise DataError(f"{path} is missing: no logs to learn from")
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        conversation = json.loads(line)
        if conversation["id"] not in ids:
            continue
        turns = conversation["turns"]
        for turn, reply in pairwise(turns):
            if turn["role"] != "customer" or reply["role"] != "agent":
                continue
            language = turn.get("language", conversation["language"])
            used = [p for p in reply.get("passages", [])] + [
                f"{p}:{language}" for p in reply.get("products", [])
            ]
            relevant = tuple(d for d in used if d in corpus and corpus[d][1] == language)
            if relevant:
                pairs.append(RetrievalPair(turn["text"], relevant, language))
    return pairs


class DenseIndex:
    """All documents embedded once per language, for evaluation and hard-negative mining."""

    def __init__(self, embedder: Embedder, corpus: dict[str, tuple[str, str]]) -> None:
        self.ids: dict[str, list[str]] = {}
        self.vectors: dict[str, np.ndarray] = {}
        for language in sorted({lang for _, lang in corpus.values()}):
            ids = [i for i, (_, lang) in corpus.items() if lang == language]
            self.ids[language] = ids
            self.vectors[language] = embedder.embed_passages([corpus[i][0] for i in ids])

    def rank(self, query_vectors: np.ndarray, language: str, k: int) -> list[list[str]]:
        scores = query_vectors @ self.vectors[language].T
        top = np.argsort(-scores, axis=1)[:, :k]
        return [[self.ids[language][j] for j in row] for row in top]


def evaluate_dense(
    embedder: Embedder, pairs: list[RetrievalPair], corpus: dict[str, tuple[str, str]]
) -> dict[str, float]:
    """nDCG@10, recall@5 and MRR of dense search over the whole corpus of the pair's language."""
    if not pairs:
        return {"ndcg@10": 0.0, "recall@5": 0.0, "mrr": 0.0, "queries": 0}
    index = DenseIndex(embedder, corpus)
    ndcg, recall, mrr = [], [], []
    for language in index.ids:
        chosen = [p for p in pairs if p.language == language]
        if not chosen:
            continue
        ranked = index.rank(embedder.embed_queries([p.query for p in chosen]), language, 10)
        for pair, ranking in zip(chosen, ranked, strict=True):
            gold = set(pair.relevant)
            ndcg.append(ndcg_at_k({d: 1.0 for d in gold}, ranking, 10))
            recall.append(recall_at_k(gold, ranking, 5))
            mrr.append(reciprocal_rank(gold, ranking))
    return {"ndcg@10": round(float(np.mean(ndcg)), 4), "recall@5": round(float(np.mean(recall)), 4),
            "mrr": round(float(np.mean(mrr)), 4), "queries": len(ndcg)}  # fmt: skip


def mine_hard_negatives(
    embedder: Embedder, pairs: list[RetrievalPair], corpus: dict[str, tuple[str, str]]
) -> list[str]:
    """For each pair, the best-ranked document (by the starting model) that is not relevant."""
    index = DenseIndex(embedder, corpus)
    negatives: list[str] = [""] * len(pairs)
    for language in index.ids:
        positions = [i for i, p in enumerate(pairs) if p.language == language]
        if not positions:
            continue
        ranked = index.rank(embedder.embed_queries([pairs[i].query for i in positions]), language, 10)
        for i, ranking in zip(positions, ranked, strict=True):
            negatives[i] = next((d for d in ranking if d not in pairs[i].relevant), ranking[-1])
    return negatives


def train_retriever(
    shop_dir: Path,
    shop: ShopKnowledge,
    artifacts_dir: Path,
    *,
    embedder_reference: str,
    make_embedder: Callable[[str], Embedder],
    settings_toml: str = "",
    run_id: str | None = None,
    quick: bool = False,
    device: str = "auto",
    max_pairs: int | None = None,
    evaluate_test: bool = True,
    stop_after_steps: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Fine-tune `embedder_reference` on the training split and write the run folder; returns it."""
    from assistant.backends.encoder_training import fine_tune_encoder_contrastive

    corpus = retrieval_corpus(shop)
    train = retrieval_pairs(shop_dir, "train", corpus)
    dev = retrieval_pairs(shop_dir, "dev", corpus)
    test = retrieval_pairs(shop_dir, "test", corpus) if evaluate_test else []
    if not train or not dev:
        raise DataError(f"{shop_dir} has no (message -> passage/product) turns in the train or dev split")
    limit = max_pairs or (QUICK_PAIRS if quick else None)
    if limit and len(train) > limit:  # a deterministic spread over the split
        train = train[:: len(train) // limit][:limit]
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    folder = artifacts_dir / COMPONENT / run_id
    base = make_embedder(embedder_reference)
    progress(f"measuring the starting model on {len(dev)} dev pairs")
    metrics: dict[str, object] = {f"base_dev_{k}": v for k, v in evaluate_dense(base, dev, corpus).items()}
    if test:
        metrics.update({f"base_test_{k}": v for k, v in evaluate_dense(base, test, corpus).items()})
    progress(f"mining hard negatives for {len(train)} training pairs")
    negatives = mine_hard_negatives(base, train, corpus)
    started = time.perf_counter()

    def report(step: int, total: int, loss: float) -> None:
        if step == 1 or step % 10 == 0 or step == total:
            rate = step / max(time.perf_counter() - started, 1e-6)
            progress(
                f"fine-tuning the retriever: step {step}/{total}, loss {loss:.3f}, ~{(total - step) / rate:.0f} s left"
            )

    result = fine_tune_encoder_contrastive(
        embedder_reference, [p.query for p in train], [corpus[p.relevant[0]][0] for p in train],
        [corpus[n][0] for n in negatives], work_dir=folder, epochs=1.0, device=device,
        stop_after_steps=stop_after_steps, progress=report,
    )  # fmt: skip
    tuned = make_embedder(str(result.encoder_dir))
    metrics.update({f"dev_{k}": v for k, v in evaluate_dense(tuned, dev, corpus).items()})
    if test:
        metrics.update({f"test_{k}": v for k, v in evaluate_dense(tuned, test, corpus).items()})
    metrics.update({"train_pairs": len(train), "fine_tune_steps": result.steps,
                    "fine_tune_samples_per_s": round(result.samples_per_s, 2), "fine_tune_device": result.device,
                    "fine_tune_seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (folder / "settings.toml").write_text(settings_toml, encoding="utf-8")
    manifest = {"component": COMPONENT, "run_id": run_id, "base_encoder": embedder_reference,
                "data": {str(p.relative_to(shop_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in (shop_dir / "logs" / "conversations.jsonl", *sorted((shop_dir / "splits").glob("*.txt")),
                                   *sorted((shop_dir / "knowledge").glob("*")), *sorted((shop_dir / "catalog").glob("*")))
                         if p.is_file()}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # Never active by itself: the index must be re-embedded for it, so `promote` (then `index`) decides.
    progress(f"retriever {run_id}: dev nDCG@10 {metrics['base_dev_ndcg@10']} -> {metrics['dev_ndcg@10']}")
    return folder


def active_retriever_encoder(artifacts_dir: Path) -> Path | None:
    """The fine-tuned encoder of the active retriever run, or None (the prepared embedder is used)."""
    run_id = active_run(artifacts_dir, COMPONENT)
    folder = artifacts_dir / COMPONENT / run_id / "encoder" if run_id else None
    return folder if folder is not None and folder.is_dir() else None
