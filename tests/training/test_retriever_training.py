"""Retriever fine-tuning: the contrastive trainer overfits a tiny encoder and resumes; the trainer
builds pairs from the logs, mines negatives, measures before/after and never activates itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer

pytestmark = pytest.mark.integration
QUERIES = ["where is my order", "order status please", "red shoes price", "black shirt size small"]
POSITIVES = ["parcel ship shipping days", "status where parcel", "cheap red shoes", "small black shirt"]
NEGATIVES = ["cheap red shoes", "small black shirt", "parcel ship shipping days", "status where parcel"]


def test_contrastive_trainer_overfits_and_resumes(tmp_path: Path) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.encoder_training import fine_tune_encoder_contrastive

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    args = dict(work_dir=tmp_path / "run", epochs=60, batch_size=4, learning_rate=3e-3, device="cpu",
                checkpoint_every=10)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        fine_tune_encoder_contrastive(str(model), QUERIES, POSITIVES, NEGATIVES, stop_after_steps=15, **args)
    result = fine_tune_encoder_contrastive(str(model), QUERIES, POSITIVES, NEGATIVES, **args)
    assert result.resumed_from_step == 15 and result.steps == 60
    tuned = SentenceTransformerEmbedder(str(result.model_dir), device="cpu")
    scores = tuned.embed_queries(QUERIES) @ tuned.embed_passages(POSITIVES).T
    assert list(np.argmax(scores, axis=1)) == [0, 1, 2, 3]


def test_retriever_trainer_on_the_demo_shop(tmp_path: Path) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.catalog import load_shop_knowledge
    from assistant.training.registry import active_run, promote
    from assistant.training.retriever import retrieval_corpus, retrieval_pairs, train_retriever

    shop_dir = Path(__file__).resolve().parents[2] / "dialogue_data"
    shop = load_shop_knowledge(shop_dir)
    corpus = retrieval_corpus(shop)
    pairs = retrieval_pairs(shop_dir, "dev", corpus)
    assert pairs and all(p.relevant and all(corpus[d][1] == p.language for d in p.relevant) for p in pairs)
    assert {p.language for p in pairs} == {"en", "zh"}
    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    artifacts = tmp_path / "artifacts"
    folder = train_retriever(shop_dir, shop, artifacts, embedder_reference=str(model),
                             make_embedder=lambda ref: SentenceTransformerEmbedder(ref, device="cpu"),
                             run_id="tiny", max_pairs=64, evaluate_test=False, device="cpu")  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"base_dev_ndcg@10", "dev_ndcg@10", "dev_recall@5", "train_pairs"} <= set(metrics)
    assert metrics["train_pairs"] == 64 and (folder / "encoder" / "modules.json").is_file()
    assert active_run(artifacts, "retriever") is None  # the index must be rebuilt for it: promote decides
    result = promote(artifacts, "retriever", "tiny")
    assert result.is_promoted == (metrics["dev_ndcg@10"] > metrics["base_dev_ndcg@10"])
