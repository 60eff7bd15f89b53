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
NEGATIVES = ["gift card balance", "newsletter sign up", "store opening hours", "warranty claim form"]


def test_contrastive_trainer_overfits_keeps_the_best_checkpoint_and_resumes(tmp_path: Path) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.encoder_training import fine_tune_encoder_contrastive
    from assistant.backends.trainer_support import TrainingInterrupted

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    corpus = {f"p{i}": text for i, text in enumerate(POSITIVES)} | {
        f"n{i}": t for i, t in enumerate(NEGATIVES)
    }
    args = dict(work_dir=tmp_path / "run", epochs=60, batch_size=4, learning_rate=3e-3, device="cpu",
                eval_every=10, dev_queries=QUERIES, dev_relevant=[[f"p{i}"] for i in range(4)], corpus=corpus)  # fmt: skip
    with pytest.raises(TrainingInterrupted):
        fine_tune_encoder_contrastive(str(model), QUERIES, POSITIVES, NEGATIVES, stop_after_steps=15, **args)
    assert not (tmp_path / "run" / "encoder").exists()
    result = fine_tune_encoder_contrastive(str(model), QUERIES, POSITIVES, NEGATIVES, **args)
    assert result.resumed_from_step == 15 and result.steps == 60
    # dev nDCG@10 was measured during training, and the best checkpoint is the model kept
    assert [e["step"] for e in result.evaluations][-3:] == [40, 50, 60]
    assert result.best_metric == max(e["eval_dev_cosine_ndcg@10"] for e in result.evaluations) == 1.0
    assert not (tmp_path / "run" / "checkpoints").exists()  # checkpoints go once the model is saved
    tuned = SentenceTransformerEmbedder(str(result.model_dir), device="cpu")
    scores = tuned.embed_queries(QUERIES) @ tuned.embed_passages(POSITIVES).T
    assert list(np.argmax(scores, axis=1)) == [0, 1, 2, 3]


def test_checkpoints_of_another_setup_are_not_resumed(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_encoder_contrastive
    from assistant.backends.trainer_support import TrainingInterrupted

    model = build_tiny_sentence_transformer(tmp_path / "tiny")
    args = dict(work_dir=tmp_path / "run", epochs=4, batch_size=2, device="cpu", eval_every=2)
    with pytest.raises(TrainingInterrupted):
        fine_tune_encoder_contrastive(str(model), QUERIES, POSITIVES, NEGATIVES, stop_after_steps=3, **args)
    result = fine_tune_encoder_contrastive(str(model), QUERIES[::-1], POSITIVES[::-1], NEGATIVES, **args)
    assert result.resumed_from_step == 0 and result.steps == 8


def test_every_epoch_sees_the_training_pairs_in_a_new_order(tmp_path: Path) -> None:
    """The library's batch sampler is reshuffled per epoch (the hand-written loop it replaced was not)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    from assistant.backends.trainer_support import training_arguments

    model = SentenceTransformer(str(build_tiny_sentence_transformer(tmp_path / "tiny")), device="cpu")
    texts = [f"query number {i}" for i in range(32)]
    data = Dataset.from_dict({"anchor": texts, "positive": [t.upper() for t in texts]})
    args = training_arguments(Arguments, tmp_path, examples=32, epochs=2, batch_size=4, learning_rate=1e-4,
                              device="cpu", seed=0, metric=None, batch_sampler=BatchSamplers.NO_DUPLICATES)  # fmt: skip
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=MultipleNegativesRankingLoss(model))  # fmt: skip
    sampler = trainer.get_train_dataloader().batch_sampler
    batches = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches.append({frozenset(batch) for batch in sampler})
    assert all(len(b) == 8 for b in batches) and batches[0] != batches[1]  # new batch-mates, new negatives


def test_dev_evaluation_and_checkpoints_only_when_a_run_has_steps_to_choose_between(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments

    from assistant.backends.trainer_support import training_arguments

    common = dict(batch_size=16, learning_rate=1e-4, device="cpu", seed=0, metric="eval_dev_accuracy")
    several = training_arguments(Arguments, tmp_path, examples=64, epochs=1, **common)
    assert (several.eval_strategy, several.save_strategy, several.eval_steps) == ("steps", "steps", 1)
    assert several.load_best_model_at_end and several.metric_for_best_model == "eval_dev_accuracy"
    one = training_arguments(Arguments, tmp_path, examples=8, epochs=1, **common)  # a single step
    assert (one.eval_strategy, one.save_strategy, one.load_best_model_at_end) == ("no", "no", False)


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
