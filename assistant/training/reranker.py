"""Train the reranker: a cross-encoder (from the embedder's transformer, with a new one-logit head)
that reorders the retriever's candidates for a customer message.

Training groups are (message, the document the agent used, three hard negatives from the
retriever's top 20), each with the retriever's cosine similarity. The cross-encoder learns a
correction to the retriever in use: a candidate's score is `logit + w * similarity`, and before any
training (head at zero) that is exactly the retriever's order. Trained alone, from nothing, the
cross-encoder ranked worse than the retriever on the demo shop even with 2,000 groups; as a
correction it improves on it (see the README). Metrics: nDCG@10 of the retriever's top 20 in
dense order (`base_*`, which is also the untrained reranker's) and reranked, on dev and test
(the quick preset measures 300 queries of each).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.reranking import Reranker
from assistant.catalog import ShopKnowledge
from assistant.training.feedback import feedback_manifest
from assistant.training.logs import data_hashes
from assistant.training.registry import active_run, step_reporter, write_run
from assistant.training.retriever import (
    DenseIndex,
    RetrievalPair,
    ranking_metrics,
    retrieval_corpus,
    split_pairs,
)

COMPONENT = "reranker"
CANDIDATES = 20
NEGATIVES = 3
QUICK_PAIRS, QUICK_EVAL = 600, 300


def evaluate_reranking(reranker: Reranker | None, pairs: list[RetrievalPair],
                       candidates: list[list[tuple[str, float]]],
                       corpus: dict[str, tuple[str, str]]) -> dict[str, float]:  # fmt: skip
    """nDCG@10, recall@5 and MRR of the (id, similarity) candidates in retriever order (`reranker=None`)
    or reranked."""
    rankings = []
    for pair, scored in zip(pairs, candidates, strict=True):
        ranking = [doc_id for doc_id, _ in scored]
        if reranker is not None and ranking:
            scores = reranker.score(pair.query, [corpus[d][0] for d in ranking], [sim for _, sim in scored])
            ranking = [ranking[i] for i in np.argsort(-scores, kind="stable")]
        rankings.append(ranking)
    return ranking_metrics(pairs, rankings)


def train_reranker(
    shop_dir: Path,
    shop: ShopKnowledge,
    artifacts_dir: Path,
    *,
    base_reference: str,
    retriever: Embedder,
    make_reranker: Callable[[str], Reranker],
    feedback: Sequence[dict[str, Any]] = (),
    settings_toml: str = "",
    run_id: str | None = None,
    quick: bool = False,
    device: str = "auto",
    max_pairs: int | None = None,
    max_eval: int | None = None,
    evaluate_test: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Train from `base_reference` (a transformers encoder folder) and write the run folder."""
    from assistant.backends.encoder_training import fine_tune_cross_encoder

    corpus = retrieval_corpus(shop)
    train, dev, test, from_feedback = split_pairs(shop_dir, corpus, feedback, train_limit=max_pairs or (
        QUICK_PAIRS if quick else None), eval_limit=max_eval or (QUICK_EVAL if quick else None),
        evaluate_test=evaluate_test)  # fmt: skip
    progress(f"retrieving candidates for {len(train)} training, {len(dev)} dev and {len(test)} test messages")
    index = DenseIndex(retriever, corpus)  # the corpus is embedded once
    groups: list[tuple[str, list[str], list[float]]] = []  # (message, [relevant, *negatives], similarities)
    for pair, everything in zip(train, index.scored_search(train), strict=True):
        similarity = dict(everything)
        negatives = [d for d, _ in everything[:CANDIDATES] if d not in pair.relevant][:NEGATIVES]
        if len(negatives) == NEGATIVES:
            ids = [pair.relevant[0], *negatives]
            groups.append((pair.query, [corpus[d][0] for d in ids], [similarity[d] for d in ids]))
    dev_candidates = index.scored_search(dev, CANDIDATES)
    test_candidates = index.scored_search(test, CANDIDATES)
    metrics: dict[str, object] = {
        f"base_dev_{k}": v for k, v in evaluate_reranking(None, dev, dev_candidates, corpus).items()
    }
    if test:
        metrics.update(
            {f"base_test_{k}": v for k, v in evaluate_reranking(None, test, test_candidates, corpus).items()}
        )
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    folder = artifacts_dir / COMPONENT / run_id
    started = time.perf_counter()
    result = fine_tune_cross_encoder(base_reference, [q for q, _, _ in groups], [c for _, c, _ in groups],
                                     similarities=[s for _, _, s in groups], work_dir=folder, device=device,
                                     progress=step_reporter(progress, "training the reranker"))  # fmt: skip
    seconds = time.perf_counter() - started
    progress("scoring the dev (and test) candidates with the trained reranker")
    reranker = make_reranker(str(result.model_dir))
    metrics.update(
        {f"dev_{k}": v for k, v in evaluate_reranking(reranker, dev, dev_candidates, corpus).items()}
    )
    if test:
        metrics.update(
            {f"test_{k}": v for k, v in evaluate_reranking(reranker, test, test_candidates, corpus).items()}
        )
    metrics["similarity_weight"] = round(float(getattr(reranker, "similarity_weight", 0.0)), 3)
    metrics.update({"train_groups": len(groups), "train_pairs_from_feedback": from_feedback, "group_size": 1 + NEGATIVES, "candidates": CANDIDATES,
                    "fine_tune_steps": result.steps, "fine_tune_seconds": round(seconds, 1),
                    "fine_tune_samples_per_s": round(result.samples_per_s, 2), "fine_tune_device": result.device})  # fmt: skip
    write_run(folder, metrics=metrics, settings_toml=settings_toml, manifest={
        "component": COMPONENT, "run_id": run_id, "base": base_reference,
        "data": data_hashes(shop_dir, with_documents=True), "feedback": feedback_manifest(feedback),
    })  # fmt: skip
    progress(
        f"reranker {run_id}: dev nDCG@10 {metrics['base_dev_ndcg@10']} (retriever order) -> {metrics['dev_ndcg@10']}"
    )
    return folder


def active_reranker(artifacts_dir: Path) -> Path | None:
    """The active reranker run's model folder, or None (no reranking)."""
    run_id = active_run(artifacts_dir, COMPONENT)
    folder = artifacts_dir / COMPONENT / run_id / "encoder" if run_id else None
    return folder if folder is not None and folder.is_dir() else None
