"""Fine-tune the retriever: contrastive learning on (customer message -> the passage or product the
agent used), with in-batch negatives and hard negatives mined with the starting model.

Documents are exactly the indexed texts (`indexing.builder`), so what is learnt is what is searched.
Dev and test nDCG@10 / recall@5 / MRR of dense search are measured before and after and written to
`artifacts/retriever/<run_id>/metrics.json` (`base_*` is the starting point). After `promote`, the
pipeline embeds with the run's `encoder/`; run `python -m assistant index` to re-embed the shop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.embedding_cache import embed_texts
from assistant.catalog import ShopKnowledge
from assistant.errors import DataError
from assistant.evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from assistant.indexing.builder import knowledge_documents, product_documents
from assistant.training.feedback import feedback_manifest
from assistant.training.logs import conversations_in_split, data_hashes
from assistant.training.registry import active_run, step_reporter, training_figures, write_run

logger = logging.getLogger(__name__)
COMPONENT = "retriever"
QUICK_PAIRS = 800
QUICK_EPOCHS, FULL_EPOCHS = 1.0, 2.0


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
    """(message, documents used in the next agent turn) for the logged conversations of `split`."""
    return pairs_from_conversations(conversations_in_split(shop_dir, split), corpus)


def pairs_from_conversations(
    conversations: Iterable[dict[str, Any]], corpus: dict[str, tuple[str, str]]
) -> list[RetrievalPair]:
    """(customer message, documents the next agent turn used) from conversations in the logs' format
    (logged ones or agent feedback); replies that are not training targets are skipped."""
    pairs = []
    for conversation in conversations:
        turns = conversation["turns"]
        for turn, reply in pairwise(turns):
            if turn["role"] != "customer" or reply["role"] != "agent" or reply.get("target") is False:
                continue
            language = turn.get("language", conversation["language"])
            used = [p for p in reply.get("passages", [])] + [
                f"{p}:{language}" for p in reply.get("products", [])
            ]
            relevant = tuple(d for d in used if d in corpus and corpus[d][1] == language)
            if relevant:
                pairs.append(RetrievalPair(turn["text"], relevant, language))
    return pairs


def spread(items: list, limit: int | None) -> list:
    """At most `limit` items, evenly spread over the list (deterministic)."""
    return items[:: max(1, len(items) // limit)][:limit] if limit and len(items) > limit else items


def split_pairs(shop_dir: Path, corpus: dict[str, tuple[str, str]], feedback: Sequence[dict[str, Any]], *,
                train_limit: int | None, eval_limit: int | None,
                evaluate_test: bool) -> tuple[list[RetrievalPair], list[RetrievalPair], list[RetrievalPair], int]:  # fmt: skip
    """Training, dev and test pairs, and how many training pairs came from agent feedback. Feedback pairs
    are always kept (the agents' own choices); logged pairs fill the rest of `train_limit`, spread over
    the split; dev and test are spread to `eval_limit`."""
    from_feedback = pairs_from_conversations(feedback, corpus)
    logged = retrieval_pairs(shop_dir, "train", corpus)
    rest = None if train_limit is None else max(0, train_limit - len(from_feedback))
    train = from_feedback + spread(logged, rest)
    dev = spread(retrieval_pairs(shop_dir, "dev", corpus), eval_limit)
    test = spread(retrieval_pairs(shop_dir, "test", corpus), eval_limit) if evaluate_test else []
    if not train or not dev:
        raise DataError(
            f"{shop_dir} has no (message -> passage/product) turns in the train or dev split ({len(train)} train, "
            f"{len(dev)} dev); if the logs' agent replies name no documents, `python -m assistant data attribute` "
            "gives them the ones they clearly drew on"
        )
    return train, dev, test, len(from_feedback)


class DenseIndex:
    """All documents embedded once per language by one model, for evaluation and hard-negative mining.
    With `cache_dir`, the documents' vectors are kept there by model and text
    (`backends.embedding_cache`): a model that does not change between runs (the starting model, the
    retriever in use) embeds only new or changed documents the next time."""

    def __init__(self, embedder: Embedder, corpus: dict[str, tuple[str, str]], *, cache_dir: Path | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> None:  # fmt: skip
        self.embedder = embedder
        self.ids: dict[str, list[str]] = {}
        self.vectors: dict[str, np.ndarray] = {}
        for language in sorted({lang for _, lang in corpus.values()}):
            ids = [i for i, (_, lang) in corpus.items() if lang == language]
            self.ids[language] = ids
            self.vectors[language] = embed_texts(embedder, [corpus[i][0] for i in ids], passages=True,
                                                 cache_dir=cache_dir, progress=progress, label=f"documents ({language})")  # fmt: skip

    def search(self, pairs: list[RetrievalPair], k: int) -> list[list[str]]:
        """The top `k` document ids for each pair's message, among documents in the pair's language."""
        return [[doc_id for doc_id, _ in ranking] for ranking in self.scored_search(pairs, k)]

    def scored_search(
        self, pairs: list[RetrievalPair], k: int | None = None
    ) -> list[list[tuple[str, float]]]:
        """(document id, cosine similarity), best first, for each pair's message: the top `k` (or every
        document) in the pair's language."""
        out: list[list[tuple[str, float]]] = [[] for _ in pairs]
        for language, ids in self.ids.items():
            positions = [i for i, p in enumerate(pairs) if p.language == language]
            if not positions:
                continue
            scores = (
                self.embedder.embed_queries([pairs[i].query for i in positions]) @ self.vectors[language].T
            )
            for i, row, order in zip(positions, scores, np.argsort(-scores, axis=1)[:, :k], strict=True):
                out[i] = [(ids[j], float(row[j])) for j in order]
        return out


def ranking_metrics(pairs: list[RetrievalPair], rankings: list[list[str]]) -> dict[str, float]:
    """Mean nDCG@10, recall@5 and MRR of `rankings` against each pair's relevant documents."""
    ndcg, recall, mrr = [], [], []
    for pair, ranking in zip(pairs, rankings, strict=True):
        gold = set(pair.relevant)
        ndcg.append(ndcg_at_k({d: 1.0 for d in gold}, ranking, 10))
        recall.append(recall_at_k(gold, ranking, 5))
        mrr.append(reciprocal_rank(gold, ranking))
    if not ndcg:
        return {"ndcg@10": 0.0, "recall@5": 0.0, "mrr": 0.0, "queries": 0}
    return {"ndcg@10": round(float(np.mean(ndcg)), 4), "recall@5": round(float(np.mean(recall)), 4),
            "mrr": round(float(np.mean(mrr)), 4), "queries": len(ndcg)}  # fmt: skip


def evaluate_dense(index: DenseIndex, pairs: list[RetrievalPair]) -> dict[str, float]:
    """nDCG@10, recall@5 and MRR of dense search over the whole corpus of each pair's language."""
    return ranking_metrics(pairs, index.search(pairs, 10))


def mine_hard_negatives(index: DenseIndex, pairs: list[RetrievalPair]) -> list[str]:
    """For each pair, the best-ranked document (by the index's model) that is not relevant."""
    return [next((d for d in ranking if d not in pair.relevant), ranking[-1])
            for pair, ranking in zip(pairs, index.search(pairs, 10), strict=True)]  # fmt: skip


def train_retriever(
    shop_dir: Path,
    shop: ShopKnowledge,
    artifacts_dir: Path,
    *,
    embedder_reference: str,
    make_embedder: Callable[[str], Embedder],
    feedback: Sequence[dict[str, Any]] = (),
    settings_toml: str = "",
    run_id: str | None = None,
    quick: bool = False,
    device: str = "auto",
    max_pairs: int | None = None,
    max_eval: int | None = None,
    evaluate_test: bool = True,
    stop_after_steps: int | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Fine-tune `embedder_reference` on the training split and write the run folder; returns it. With
    `cache_dir`, the starting model's document vectors are cached there (`DenseIndex`)."""
    from assistant.backends.encoder_training import fine_tune_encoder_contrastive

    corpus = retrieval_corpus(shop)
    train, dev, test, from_feedback = split_pairs(shop_dir, corpus, feedback, train_limit=max_pairs or (
        QUICK_PAIRS if quick else None), eval_limit=max_eval, evaluate_test=evaluate_test)  # fmt: skip
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    folder = artifacts_dir / COMPONENT / run_id
    # The corpus is embedded once per model (the starting model's vectors from the cache when it has them).
    base = DenseIndex(make_embedder(embedder_reference), corpus, cache_dir=cache_dir, progress=progress)
    progress(f"measuring the starting model on {len(dev)} dev pairs")
    metrics: dict[str, object] = {f"base_dev_{k}": v for k, v in evaluate_dense(base, dev).items()}
    if test:
        metrics.update({f"base_test_{k}": v for k, v in evaluate_dense(base, test).items()})
    progress(f"mining hard negatives for {len(train)} training pairs")
    negatives = mine_hard_negatives(base, train)
    started = time.perf_counter()
    # Dev during training: the same pairs, searched over the documents of every language at once.
    result = fine_tune_encoder_contrastive(
        embedder_reference, [p.query for p in train], [corpus[p.relevant[0]][0] for p in train],
        [corpus[n][0] for n in negatives], work_dir=folder, dev_queries=[p.query for p in dev],
        dev_relevant=[p.relevant for p in dev], corpus={i: text for i, (text, _) in corpus.items()},
        epochs=QUICK_EPOCHS if quick else FULL_EPOCHS, device=device, stop_after_steps=stop_after_steps,
        progress=step_reporter(progress, "fine-tuning the retriever"),
    )  # fmt: skip
    tuned = DenseIndex(make_embedder(str(result.model_dir)), corpus)
    metrics.update({f"dev_{k}": v for k, v in evaluate_dense(tuned, dev).items()})
    if test:
        metrics.update({f"test_{k}": v for k, v in evaluate_dense(tuned, test).items()})
    metrics.update({"train_pairs": len(train), "train_pairs_from_feedback": from_feedback, "fine_tune_steps": result.steps,
                    "fine_tune_samples_per_s": round(result.samples_per_s, 2), "fine_tune_device": result.device,
                    "fine_tune_seconds": round(time.perf_counter() - started, 1), **training_figures(result)})  # fmt: skip
    write_run(folder, metrics=metrics, settings_toml=settings_toml, manifest={
        "component": COMPONENT, "run_id": run_id, "base_encoder": embedder_reference,
        "data": data_hashes(shop_dir, with_documents=True), "feedback": feedback_manifest(feedback),
    })  # fmt: skip
    # Never active by itself: the index must be re-embedded for it, so `promote` (then `index`) decides.
    progress(f"retriever {run_id}: dev nDCG@10 {metrics['base_dev_ndcg@10']} -> {metrics['dev_ndcg@10']}")
    return folder


def active_retriever_encoder(artifacts_dir: Path) -> Path | None:
    """The fine-tuned encoder of the active retriever run, or None (the prepared embedder is used)."""
    run_id = active_run(artifacts_dir, COMPONENT)
    folder = artifacts_dir / COMPONENT / run_id / "encoder" if run_id else None
    return folder if folder is not None and folder.is_dir() else None
