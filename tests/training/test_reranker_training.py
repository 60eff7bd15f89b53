"""Reranker: the cross-encoder trainer overfits a tiny model and resumes, alone and as a correction to
the retriever's similarities (which it starts from exactly); the retriever reorders its knowledge
candidates with a reranker, giving it their similarities; the trainer runs end to end on the demo
shop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer

pytestmark = pytest.mark.integration
QUERIES = ["where is my order", "red shoes price", "black shirt size small", "free shipping days"]
GROUPS = [["order status where parcel", "cheap red shoes", "small black shirt"],
          ["cheap red shoes", "order status where parcel", "free shipping within 30 days"],
          ["small black shirt", "cheap red shoes", "order status where parcel"],
          ["free shipping within 30 days", "small black shirt", "cheap red shoes"]]  # fmt: skip


def test_cross_encoder_overfits_and_resumes(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_cross_encoder
    from assistant.backends.reranking import TransformersCrossEncoder

    base = build_tiny_sentence_transformer(tmp_path / "tiny").parent / "hf"
    args = dict(work_dir=tmp_path / "run", epochs=150, batch_size=4, learning_rate=3e-3, device="cpu",
                checkpoint_every=10)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        fine_tune_cross_encoder(str(base), QUERIES, GROUPS, stop_after_steps=20, **args)
    result = fine_tune_cross_encoder(str(base), QUERIES, GROUPS, **args)
    assert result.resumed_from_step == 20 and result.steps == 150
    reranker = TransformersCrossEncoder(str(result.model_dir), device="cpu")
    for query, group in zip(QUERIES, GROUPS, strict=True):
        assert int(np.argmax(reranker.score(query, group))) == 0


# The retriever's similarities rank a wrong document first in half of the groups.
SIMILARITIES = [[0.9, 0.5, 0.4], [0.6, 0.8, 0.3], [0.7, 0.5, 0.2], [0.5, 0.9, 0.4]]


def test_fit_similarity_weight_follows_how_well_the_retriever_ranks() -> None:
    from assistant.backends.encoder_training import fit_similarity_weight

    sharp = fit_similarity_weight([[0.9, 0.2, 0.1]] * 5)
    assert sharp >= 60 and fit_similarity_weight(SIMILARITIES) < sharp
    assert fit_similarity_weight([[0.5]]) == 1.0  # nothing to fit


def test_cross_encoder_as_a_correction_starts_at_the_retriever_order_and_learns(tmp_path: Path) -> None:
    from assistant.backends.encoder_training import fine_tune_cross_encoder
    from assistant.backends.reranking import SIMILARITY_FILE, TransformersCrossEncoder
    from assistant.errors import BackendError

    base = build_tiny_sentence_transformer(tmp_path / "tiny").parent / "hf"
    untrained = fine_tune_cross_encoder(str(base), QUERIES, GROUPS, similarities=SIMILARITIES,
                                        work_dir=tmp_path / "still", epochs=1, learning_rate=0.0, device="cpu")  # fmt: skip
    still = TransformersCrossEncoder(str(untrained.model_dir), device="cpu")
    for query, group, similarity in zip(QUERIES, GROUPS, SIMILARITIES, strict=True):
        assert list(np.argsort(-still.score(query, group, similarity))) == list(np.argsort(similarity)[::-1])

    args = dict(work_dir=tmp_path / "run", epochs=150, batch_size=4, learning_rate=3e-3, device="cpu",
                checkpoint_every=10)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        fine_tune_cross_encoder(
            str(base), QUERIES, GROUPS, similarities=SIMILARITIES, stop_after_steps=20, **args
        )
    result = fine_tune_cross_encoder(str(base), QUERIES, GROUPS, similarities=SIMILARITIES, **args)
    assert result.resumed_from_step == 20
    weight = json.loads((result.model_dir / SIMILARITY_FILE).read_text())["similarity_weight"]
    reranker = TransformersCrossEncoder(str(result.model_dir), device="cpu")
    for query, group, similarity in zip(QUERIES, GROUPS, SIMILARITIES, strict=True):
        with_prior = reranker.score(query, group, similarity)
        assert int(np.argmax(with_prior)) == 0  # the cross-encoder overrules the retriever where it is wrong
        np.testing.assert_allclose(with_prior - reranker.score(query, group), weight * np.array(similarity),
                                   rtol=1e-4, atol=1e-4)  # fmt: skip
    assert reranker.similarity_weight == pytest.approx(weight)
    with pytest.raises(BackendError, match="one similarity per document"):
        reranker.score(QUERIES[0], GROUPS[0], [0.5])
    with pytest.raises(BackendError, match="one value per candidate"):
        fine_tune_cross_encoder(
            str(base), QUERIES, GROUPS, similarities=[[0.1]] * 4, work_dir=tmp_path / "bad"
        )


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
    assert (folder / "encoder" / "reranker.json").is_file() and metrics["similarity_weight"] > 0
    assert {"base_dev_ndcg@10", "dev_ndcg@10", "train_groups"} <= set(metrics) and metrics[
        "dev_queries"
    ] == 24
    assert active_run(tmp_path / "artifacts", "reranker") is None
