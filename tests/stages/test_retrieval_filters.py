"""Filtered dense search: over-fetched nearest ids filtered by the lexical index's metadata columns give
exactly what the vector store's own `where` gives, and a selective filter falls back to the store."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.backends.vector_store import InMemoryVectorStore
from assistant.stages.retrieval import Retriever

FILTERS = [
    {"language": "en"},
    {"$and": [{"language": "en"}, {"in_stock": True}]},
    {"$and": [{"language": "zh"}, {"price": {"$lte": 30.0}}, {"colour": {"$in": ["red", "blue"]}}]},
    {"$or": [{"colour": "green"}, {"price": {"$gt": 90.0}}]},
    {"product_id": "p-0123"},  # one document in 400: selective
    {"colour": "violet"},  # nothing matches
]


class CountingStore(InMemoryVectorStore):
    def __init__(self) -> None:
        super().__init__()
        self.filtered_queries = 0

    def query(self, collection, vector, *, top_k, where=None):
        self.filtered_queries += bool(where)
        return super().query(collection, vector, top_k=top_k, where=where)


@pytest.fixture(scope="module")
def store() -> CountingStore:
    rng = np.random.default_rng(3)
    fake = CountingStore()
    colours = ["red", "blue", "green", "black"]
    ids = [f"p-{i:04d}" for i in range(400)]
    metadatas = [{"product_id": doc_id, "language": "en" if i % 2 else "zh", "in_stock": i % 5 != 0,
                  "price": float(i % 100), "colour": colours[i % 4]} for i, doc_id in enumerate(ids)]  # fmt: skip
    fake.upsert(
        "products", ids, rng.normal(size=(400, 16)).astype(np.float32), [f"item {i}" for i in ids], metadatas
    )
    fake.upsert(
        "knowledge", ["k"], rng.normal(size=(1, 16)).astype(np.float32), ["policy"], [{"language": "en"}]
    )
    return fake


@pytest.mark.parametrize("where", FILTERS)
@pytest.mark.parametrize("candidates", [1, 5, 30])
def test_post_filtered_dense_search_equals_the_stores_filter(
    store: CountingStore, where: dict, candidates: int
) -> None:
    retriever = Retriever(store, candidates=candidates)
    retriever.warm_up()
    vector = np.random.default_rng(candidates).normal(size=16).astype(np.float32)
    ours = [
        (doc_id, round(distance, 5)) for doc_id, distance in retriever._dense("products", vector, where)[0]
    ]
    exact = [
        (d.id, round(d.distance, 5)) for d in store.query("products", vector, top_k=candidates, where=where)
    ]
    assert ours == exact


def test_a_selective_filter_falls_back_to_the_store_and_a_common_one_does_not(store: CountingStore) -> None:
    retriever = Retriever(store, candidates=2)  # over-fetch: 40 then 200 of 400 documents
    retriever.warm_up()
    vector = np.ones(16, dtype=np.float32)
    before = store.filtered_queries
    retriever._dense("products", vector, {"language": "en"})
    assert store.filtered_queries == before  # half the catalog passes: found among the nearest
    found, _ = retriever._dense("products", vector, {"product_id": "p-0123"})
    assert [doc_id for doc_id, _ in found] == ["p-0123"] and store.filtered_queries == before + 1
