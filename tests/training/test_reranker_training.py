"""Reranker: the cross-encoder trainer (sentence-transformers') overfits a tiny model, keeps its best
dev checkpoint and resumes; the retriever's similarity is weighed in only where it helps on dev; the
retriever reorders its knowledge candidates with a reranker, giving it their similarities; the
trainer runs end to end on the demo shop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer

pytestmark = pytest.mark.integration
QUERIES = ["where is my order", "red shoes price", "black shirt size small", "free shipping days"]
GROUPS = [["order status where parcel", "gift card balance", "newsletter sign up"],
          ["cheap red shoes", "store opening hours", "warranty claim form"],
          ["small black shirt", "careers at the shop", "press contact"],
          ["free shipping within 30 days", "cookie settings", "loyalty points expiry"]]  # fmt: skip


def test_cross_encoder_overfits_keeps_the_best_checkpoint_and_resumes(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_cross_encoder
    from assistant.backends.reranking import TransformersCrossEncoder
    from assistant.backends.trainer_support import TrainingInterrupted

    base = build_tiny_sentence_transformer(tmp_path / "tiny").parent / "hf"
    args = dict(work_dir=tmp_path / "run", epochs=150, batch_size=4, learning_rate=3e-3, device="cpu",
                eval_every=25, dev_queries=QUERIES, dev_candidates=GROUPS, dev_relevant=[[g[0]] for g in GROUPS])  # fmt: skip
    with pytest.raises(TrainingInterrupted):
        fine_tune_cross_encoder(str(base), QUERIES, GROUPS, stop_after_steps=20, **args)
    result = fine_tune_cross_encoder(str(base), QUERIES, GROUPS, **args)
    assert result.resumed_from_step == 20 and result.steps == 150
    assert result.best_metric == max(e["eval_dev_ndcg@10"] for e in result.evaluations) == 1.0
    reranker = TransformersCrossEncoder(str(result.model_dir), device="cpu")  # a plain transformers folder
    for query, group in zip(QUERIES, GROUPS, strict=True):
        assert int(np.argmax(reranker.score(query, group))) == 0


# The retriever's similarities rank a wrong document first in half of the groups.
SIMILARITIES = [[0.9, 0.5, 0.4], [0.6, 0.8, 0.3], [0.7, 0.5, 0.2], [0.5, 0.9, 0.4]]
RELEVANT = [[True, False, False]] * 4


def test_the_similarity_prior_is_weighed_in_only_where_it_helps() -> None:
    from assistant.backends.encoder_training import fit_similarity_weight

    # a cross-encoder that is right everywhere: the retriever's similarity can only spoil it
    right = [[2.0, 0.0, -1.0]] * 4
    assert fit_similarity_weight(right, SIMILARITIES, RELEVANT) == (0.0, 1.0)
    # one that cannot tell the documents apart, where the retriever is right: the retriever decides
    flat = [[0.0, 0.0, 0.0]] * 4
    retriever_right = [[s == max(row) for s in row] for row in SIMILARITIES]
    assert fit_similarity_weight(flat, SIMILARITIES, RELEVANT)[0] == 0.0  # it would only spoil the order
    weight, mrr = fit_similarity_weight(flat, SIMILARITIES, retriever_right)
    assert weight > 0 and mrr == 1.0
    # a close call the retriever settles: the cross-encoder leans slightly wrong where the retriever is right
    close = [[0.0, 0.1, 0.0], [0.5, 0.0, 0.0], [0.0, 0.1, 0.0], [0.5, 0.0, 0.0]]
    weight, mrr = fit_similarity_weight(close, SIMILARITIES, RELEVANT)
    assert weight > 0 and mrr == 1.0


def test_a_reranker_with_a_prior_adds_the_weighted_similarity(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_cross_encoder
    from assistant.backends.reranking import SIMILARITY_FILE, TransformersCrossEncoder
    from assistant.errors import BackendError

    base = build_tiny_sentence_transformer(tmp_path / "tiny").parent / "hf"
    result = fine_tune_cross_encoder(
        str(base), QUERIES, GROUPS, work_dir=tmp_path / "run", epochs=2, device="cpu"
    )
    (result.model_dir / SIMILARITY_FILE).write_text(json.dumps({"similarity_weight": 5.0}))
    reranker = TransformersCrossEncoder(str(result.model_dir), device="cpu")
    for query, group, similarity in zip(QUERIES, GROUPS, SIMILARITIES, strict=True):
        np.testing.assert_allclose(reranker.score(query, group, similarity) - reranker.score(query, group),
                                   5.0 * np.array(similarity), rtol=1e-4, atol=1e-4)  # fmt: skip
    with pytest.raises(BackendError, match="one similarity per document"):
        reranker.score(QUERIES[0], GROUPS[0], [0.5])
    with pytest.raises(BackendError, match="a relevant document and at least one negative"):
        fine_tune_cross_encoder(str(base), QUERIES, [[g[0]] for g in GROUPS], work_dir=tmp_path / "bad")


def test_retriever_reorders_knowledge_with_a_reranker() -> None:
    from assistant.backends.embedding import HashingEmbedder
    from assistant.backends.reranking import OverlapReranker
    from assistant.backends.vector_store import InMemoryVectorStore
    from assistant.stages.retrieval import Retriever

    embedder, store = HashingEmbedder(64), InMemoryVectorStore()
    texts = [
        "returns take 30 days",
        "shipping to canada takes 5-8 days and costs 9.99",
        "gift cards never expire",
    ]
    for name in ("knowledge", "products", "replies"):
        store.upsert(name, [f"{name}{i}" for i in range(3)], embedder.embed_passages(texts), texts,
                     [{"language": "en"}] * 3)  # fmt: skip
    query = "shipping canada days costs"
    vector = embedder.embed_queries([query])[0]
    plain = Retriever(store).search("knowledge", query, vector, top_k=3)
    overlap = OverlapReranker()
    reranked = Retriever(store, reranker=overlap).search("knowledge", query, vector, top_k=3)
    assert reranked[0].id == "knowledge1" and {h.id for h in reranked} == {h.id for h in plain}
    # The reranker is given the retriever's cosine of each candidate, in the fused order.
    cosine = {d.id: 1.0 - d.distance for d in store.query("knowledge", vector, top_k=3)}
    assert overlap.seen_similarities == [[pytest.approx(cosine[h.id]) for h in plain]]
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
    products = Retriever(store, reranker=OverlapReranker()).search("product", query, vector, top_k=3)
    assert [h.id for h in products] == [
        h.id for h in Retriever(store).search("product", query, vector, top_k=3)
    ]


def test_reranker_trainer_on_the_demo_shop(tmp_path: Path) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.reranking import TransformersCrossEncoder
    from assistant.catalog import load_shop_knowledge
    from assistant.training.registry import active_run
    from assistant.training.reranker import train_reranker

    shop_dir = Path(__file__).resolve().parents[2] / "dialogue_data"
    st = build_tiny_sentence_transformer(tmp_path / "tiny")
    folder = train_reranker(
        shop_dir, load_shop_knowledge(shop_dir), tmp_path / "artifacts", base_reference=str(st.parent / "hf"),
        retriever=SentenceTransformerEmbedder(str(st), device="cpu"),
        make_reranker=lambda ref: TransformersCrossEncoder(ref, device="cpu"),
        run_id="tiny", max_pairs=32, max_eval=24, evaluate_test=False, device="cpu",
    )  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    weight = json.loads((folder / "encoder" / "reranker.json").read_text())["similarity_weight"]
    assert weight == metrics["similarity_weight"] >= 0
    assert {"base_dev_ndcg@10", "dev_ndcg@10", "dev_without_prior_ndcg@10", "train_groups",
            "fine_tune_best_step"} <= set(metrics) and metrics["dev_queries"] == 24  # fmt: skip
    # the prior is kept only if it ranks dev at least as well as the cross-encoder alone
    assert metrics["dev_mrr"] >= metrics["dev_without_prior_mrr"]
    assert active_run(tmp_path / "artifacts", "reranker") is None
