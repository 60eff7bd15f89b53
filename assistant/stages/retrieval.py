"""Retrieval: dense (the embedder, via the vector store) and BM25 results fused by reciprocal rank."""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np

from assistant.backends.reranking import Reranker
from assistant.backends.vector_store import StoredDocument, VectorStore, matches
from assistant.errors import IndexNotBuiltError
from assistant.indexing.lexical import BM25Index
from assistant.schema import Hit

Kind = Literal["product", "knowledge", "reply"]
COLLECTION: dict[Kind, str] = {"product": "products", "knowledge": "knowledge", "reply": "replies"}


class Retriever:
    """Searches one collection with metadata filters; lexical indexes are built on `warm_up()`."""

    def __init__(self, store: VectorStore, *, candidates: int = 30, rrf_k: int = 60,
                 reranker: Reranker | None = None, rerank_candidates: int = 10) -> None:  # fmt: skip
        self.store = store
        self.candidates = candidates
        self.rrf_k = rrf_k
        # A trained cross-encoder reorders the best fused knowledge passages (see training/reranker.py).
        self.reranker, self.rerank_candidates = reranker, rerank_candidates
        self._lexical: dict[str, tuple[list[StoredDocument], BM25Index]] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load every collection's documents and build their BM25 indexes (once)."""
        with self._lock:
            if self._lexical:
                return
            for name in COLLECTION.values():
                docs = self.store.get_all(name)
                self._lexical[name] = (docs, BM25Index([d.text for d in docs]))
            if not self._lexical["knowledge"][0] and not self._lexical["products"][0]:  # one may be empty
                self._lexical.clear()
                raise IndexNotBuiltError("the search index is empty: run `python -m assistant index`")
        warm = getattr(self.reranker, "warm_up", None)
        if callable(warm):
            warm()

    def search(
        self,
        kind: Kind,
        query: str,
        vector: np.ndarray,
        *,
        top_k: int,
        where: dict[str, Any] | None = None,
    ) -> tuple[Hit, ...]:
        """The `top_k` best documents by fused rank (dense + BM25), filtered by `where`."""
        self.warm_up()
        name = COLLECTION[kind]
        dense = self.store.query(name, vector, top_k=self.candidates, where=where)
        docs, bm25 = self._lexical[name]
        allowed = {i for i, d in enumerate(docs) if matches(d.metadata, where)} if where else None
        lexical_scores = bm25.scores(query, allowed)
        lexical = [
            docs[i] for i, _ in sorted(lexical_scores.items(), key=lambda kv: -kv[1])[: self.candidates]
        ]
        fused: dict[str, float] = {}
        by_id: dict[str, StoredDocument] = {}
        for ranking in (dense, lexical):
            for rank, doc in enumerate(ranking):
                fused[doc.id] = fused.get(doc.id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
                by_id.setdefault(doc.id, doc)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        if self.reranker is not None and kind == "knowledge" and len(best) > 1:
            head = best[: max(top_k, self.rerank_candidates)]
            # The retriever's cosine of each candidate; one found by BM25 alone is not among the dense
            # nearest, so it gets the lowest similarity those have (an upper bound on its own).
            similarity = {doc.id: 1.0 - doc.distance for doc in dense}
            floor = min(similarity.values(), default=0.0)
            scores = self.reranker.score(query, [by_id[doc_id].text for doc_id, _ in head],
                                         [similarity.get(doc_id, floor) for doc_id, _ in head])  # fmt: skip
            order = np.argsort(-np.asarray(scores), kind="stable")
            # Keep RRF-like scores (decreasing) so callers' thresholds keep their meaning.
            best = [(head[i][0], head[rank][1]) for rank, i in enumerate(order)]
        best = best[:top_k]
        return tuple(
            Hit(kind=kind, id=doc_id, text=by_id[doc_id].text, score=score,
                title=str(by_id[doc_id].metadata.get("title", "")), metadata=dict(by_id[doc_id].metadata))
            for doc_id, score in best
        )  # fmt: skip
