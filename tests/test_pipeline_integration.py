"""The pipeline on real libraries: chromadb on a temp dir, SQLite, langdetect, a tiny BERT embedder and a
tiny Llama generator built in code."""

from __future__ import annotations

from pathlib import Path

import pytest
from assistant_fixtures import SHOP, build_test_assistant, order_with, shop, train_head

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_parts(tmp_path_factory: pytest.TempPathFactory):
    from tiny_models import build_tiny_causal_lm, build_tiny_sentence_transformer

    from assistant.backends.embedding import HashingEmbedder, SentenceTransformerEmbedder
    from assistant.backends.vector_store import ChromaVectorStore

    root = tmp_path_factory.mktemp("integration")
    tiny = SentenceTransformerEmbedder(str(build_tiny_sentence_transformer(root / "st")), device="cpu")
    generator_path = build_tiny_causal_lm(root / "lm")
    store = ChromaVectorStore(root / "chroma")
    return root, tiny, store, generator_path, HashingEmbedder


def test_incremental_index_on_chroma(real_parts) -> None:
    from assistant.indexing.builder import build_index

    _root, tiny, store, _, _ = real_parts
    first = build_index(shop(), SHOP, store, tiny, max_replies=200)
    assert {r.collection: r.embedded for r in first} == {"products": 864, "knowledge": 196, "replies": 200}
    again = build_index(shop(), SHOP, store, tiny, max_replies=200)
    assert sum(r.embedded for r in again) == 0
    smaller = build_index(shop(), SHOP, store, tiny, max_replies=150)
    replies = next(r for r in smaller if r.collection == "replies")
    assert (replies.embedded, replies.deleted, store.count("replies")) == (0, 50, 150)
    hits = store.query("products", tiny.embed_queries(["backpack"])[0], top_k=5,
                       where={"$and": [{"language": "zh"}, {"price": {"$lte": 60.0}}]})  # fmt: skip
    assert hits and all(h.metadata["language"] == "zh" and h.metadata["price"] <= 60 for h in hits)


def test_turns_on_real_libraries(real_parts, tmp_path: Path) -> None:
    from assistant.backends.language_detection import LangdetectIdentifier
    from assistant.backends.sentiment import LexiconSentimentScorer
    from assistant.backends.text_generation import TransformersTextGenerator

    _root, tiny, store, generator_path, _ = real_parts
    if store.count("knowledge") == 0:
        from assistant.indexing.builder import build_index

        build_index(shop(), SHOP, store, tiny, max_replies=200)
    # The tiny embedder is random, so the intent head is trained on it here (a real but small model).
    head = train_head(tiny, limit=1500, epochs=150)
    assistant = build_test_assistant(
        tmp_path, embedder=tiny, store=store, identifier=LangdetectIdentifier(("en", "zh")), head=head,
        sentiment=LexiconSentimentScorer(), generator=TransformersTextGenerator(str(generator_path), device="cpu"),
        index=False,
    )  # fmt: skip
    order = order_with("shipped")
    reply = assistant.respond("int-1", f"Where is my order {order['id']}? My email is {order['email']}")
    assert reply.trace.action is not None
    if reply.trace.decision.action == "lookup_order":
        assert order["tracking_number"] in reply.text
    policy = assistant.respond("int-2", "What is the return policy for shoes? How many days do I have?")
    assert policy.text and policy.language == "en"
    assert policy.trace.timings_ms.keys() >= {"guard", "language", "understanding", "retrieval", "generation"}
    # The random tiny generator never writes a grounded answer: the draft is replaced and the trace says so.
    if policy.trace.decision.action == "answer_policy":
        assert policy.trace.drafts[0].source == "generated"
        assert policy.trace.drafts[-1].is_grounded
    zh = assistant.respond("int-3", "你好，我想问一下退货政策")
    assert zh.language == "zh" and any("\u4e00" <= ch <= "\u9fff" for ch in zh.text)
    events = list(assistant.respond_stream("int-2", "thanks a lot, that is all for today"))
    assert events[-1].kind == "reply"
