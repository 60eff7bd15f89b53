"""Train the reranker: a cross-encoder (from the embedder's transformer, with a new one-logit head)
that reorders the retriever's candidates for a customer message, on sentence-transformers'
`CrossEncoderTrainer` (`backends.encoder_training.fine_tune_cross_encoder`).

Training groups are (message, the document the agent used, three hard negatives from the
retriever's top 20). During training, nDCG@10 of reranking the dev messages' candidates picks the
checkpoint kept. After training, the retriever's similarity is weighed in as a prior, `logit + w *
similarity`, with `w` fitted on dev (0 when the cross-encoder alone ranks as well): both are
measured, `*_without_prior_*` is the cross-encoder alone. Metrics: nDCG@10 of the retriever's top
20 in dense order (`base_*`) and reranked, on dev and test (the quick preset measures 300 queries of
each).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.backends.embedding import Embedder
from assistant.backends.reranking import SIMILARITY_FILE, Reranker
from assistant.catalog import ShopKnowledge
from assistant.training.feedback import feedback_manifest
from assistant.training.logs import data_hashes
from assistant.training.registry import active_run, step_reporter, training_figures, write_run
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
QUICK_EPOCHS, FULL_EPOCHS = 1.0, 2.0


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


def _candidate_scores(reranker: Reranker, pairs: list[RetrievalPair], candidates: list[list[tuple[str, float]]],
                corpus: dict[str, tuple[str, str]]) -> tuple[list[list[float]], list[list[float]], list[list[bool]]]:  # fmt: skip
    """The cross-encoder's own scores (no prior), the retriever's similarities and relevance of each
    pair's candidates."""
    scores, similarities, relevant = [], [], []
    for pair, scored in zip(pairs, candidates, strict=True):
        if not scored:
            continue
        scores.append([float(x) for x in reranker.score(pair.query, [corpus[d][0] for d, _ in scored])])
        similarities.append([s for _, s in scored])
        relevant.append([d in pair.relevant for d, _ in scored])
    return scores, similarities, relevant


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
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Train from `base_reference` (a transformers encoder folder) and write the run folder. With
    `cache_dir`, the retriever's document vectors are cached there (`DenseIndex`)."""
    from assistant.backends.encoder_training import fine_tune_cross_encoder, fit_similarity_weight

    corpus = retrieval_corpus(shop)
    train, dev, test, from_feedback = split_pairs(shop_dir, corpus, feedback, train_limit=max_pairs or (
        QUICK_PAIRS if quick else None), eval_limit=max_eval or (QUICK_EVAL if quick else None),
        evaluate_test=evaluate_test)  # fmt: skip
    progress(f"retrieving candidates for {len(train)} training, {len(dev)} dev and {len(test)} test messages")
    # The corpus is embedded once (the retriever's vectors from the cache when it has them).
    index = DenseIndex(retriever, corpus, cache_dir=cache_dir, progress=progress)
    groups: list[tuple[str, list[str]]] = []  # (message, [relevant, *negatives])
    for pair, everything in zip(train, index.search(train, CANDIDATES), strict=True):
        negatives = [d for d in everything if d not in pair.relevant][:NEGATIVES]
        if len(negatives) == NEGATIVES:
            groups.append((pair.query, [corpus[d][0] for d in [pair.relevant[0], *negatives]]))
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
    result = fine_tune_cross_encoder(
        base_reference, [q for q, _ in groups], [c for _, c in groups], work_dir=folder, device=device,
        dev_queries=[p.query for p in dev], dev_relevant=[[corpus[d][0] for d in p.relevant] for p in dev],
        dev_candidates=[[corpus[d][0] for d, _ in scored] for scored in dev_candidates],
        epochs=QUICK_EPOCHS if quick else FULL_EPOCHS, progress=step_reporter(progress, "training the reranker"),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    progress("scoring the dev (and test) candidates with the trained reranker")
    reranker = make_reranker(str(result.model_dir))
    # The retriever's similarity as a prior, `logit + w * similarity`: w fitted on dev, 0 if it does not help.
    dev_scores = _candidate_scores(reranker, dev, dev_candidates, corpus)
    weight, _ = fit_similarity_weight(*dev_scores)
    (result.model_dir / SIMILARITY_FILE).write_text(
        json.dumps({"similarity_weight": weight}), encoding="utf-8"
    )
    for split, pairs, candidates in (("dev", dev, dev_candidates), ("test", test, test_candidates)):
        if not pairs:
            continue
        scores, similarities, _ = (
            dev_scores if split == "dev" else _candidate_scores(reranker, pairs, candidates, corpus)
        )
        for w, name in ((0.0, f"{split}_without_prior_"), (weight, f"{split}_")):
            rankings = [[doc for doc, _ in scored] for scored in candidates]
            ranked = iter(zip(scores, similarities, strict=True))
            for i, scored in enumerate(candidates):
                if scored:
                    score, similarity = next(ranked)
                    order = np.argsort(-(np.asarray(score) + w * np.asarray(similarity)), kind="stable")
                    rankings[i] = [rankings[i][j] for j in order]
            figures = ranking_metrics(pairs, rankings)
            metrics.update({f"{name}{k}": v for k, v in figures.items() if k != "queries" or w == weight})
    metrics["similarity_weight"] = weight
    metrics.update({"train_groups": len(groups), "train_pairs_from_feedback": from_feedback, "group_size": 1 + NEGATIVES, "candidates": CANDIDATES,
                    "fine_tune_steps": result.steps, "fine_tune_seconds": round(seconds, 1),
                    "fine_tune_samples_per_s": round(result.samples_per_s, 2), "fine_tune_device": result.device,
                    **training_figures(result)})  # fmt: skip
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
