"""Retrieval: dense (the embedder, via the vector store) and BM25 (bm25s) results fused by reciprocal rank."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.backends.reranking import Reranker
from assistant.backends.vector_store import StoredDocument, VectorStore
from assistant.errors import IndexNotBuiltError
from assistant.indexing.lexical import LexicalIndex, tokenize, where_mask
from assistant.schema import Hit

logger = logging.getLogger(__name__)
Kind = Literal["product", "knowledge", "reply"]
COLLECTION: dict[Kind, str] = {"product": "products", "knowledge": "knowledge", "reply": "replies"}
OVERFETCH = (20, 100)  # unfiltered nearest ids fetched per filtered search, as multiples of `candidates`


class Retriever:
    """Searches one collection with metadata filters, dense and lexical; both apply the filters inside
    their index. The lexical indexes are loaded on `warm_up()` from the folder `python -m assistant index`
    writes; without one (a store filled another way, the tests' fakes) they are built from the store."""

    def __init__(self, store: VectorStore, *, candidates: int = 30, rrf_k: int = 60,
                 reranker: Reranker | None = None, rerank_candidates: int = 10,
                 lexical_dir: Path | None = None) -> None:  # fmt: skip
        self.store = store
        self.candidates = candidates
        self.rrf_k = rrf_k
        # A trained cross-encoder reorders the best fused knowledge passages (see training/reranker.py).
        self.reranker, self.rerank_candidates = reranker, rerank_candidates
        self.lexical_dir = lexical_dir
        self._lexical: dict[str, LexicalIndex] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load every collection's lexical index (once)."""
        with self._lock:
            if self._lexical:
                return
            tokenize("预热")  # loads jieba's dictionary now: a second on the first Chinese message otherwise
            for name in COLLECTION.values():
                self._lexical[name] = self._load_lexical(name)
            if not len(self._lexical["knowledge"]) and not len(self._lexical["products"]):  # one may be empty
                self._lexical.clear()
                raise IndexNotBuiltError("the search index is empty: run `python -m assistant index`")
        warm = getattr(self.reranker, "warm_up", None)
        if callable(warm):
            warm()

    def status(self) -> dict[str, int]:
        """Documents per collection in the vector store and in the loaded lexical index (health check)."""
        out: dict[str, int] = {}
        for name in COLLECTION.values():
            out[f"{name}_vectors"] = self.store.count(name)
            lexical = self._lexical.get(name)
            out[f"{name}_lexical"] = len(lexical) if lexical is not None else -1
        return out

    def _load_lexical(self, name: str) -> LexicalIndex:
        if self.lexical_dir is not None:
            try:
                return LexicalIndex.load(self.lexical_dir / name)
            except IndexNotBuiltError:
                if self.store.count(name):
                    logger.warning("no lexical index for %s in %s: building it in memory; run "
                                   "`python -m assistant index` to save it", name, self.lexical_dir)  # fmt: skip
        docs = self.store.get_all(name)
        return LexicalIndex(
            [d.id for d in docs], [tokenize(d.text) for d in docs], [d.metadata for d in docs]
        )

    def _dense(self, name: str, vector: np.ndarray, where: dict[str, Any] | None
               ) -> tuple[list[tuple[str, float]], dict[str, StoredDocument]]:  # fmt: skip
        """The ids and distances of the `candidates` nearest documents passing `where` (and any documents the
        store returned whole on the way).

        chroma evaluates a `where` by brute force over every document it matches (tens of microseconds each,
        plus a fixed cost: 150-230 ms per product search at 50k products here, 45 ms even on 200 passages),
        while an unfiltered nearest-neighbour query returning only ids stays at a few milliseconds. So the
        nearest ids are over-fetched unfiltered and the filter is applied to them with the lexical index's
        metadata columns (the same meaning as chroma's, tested); only when too few pass (a selective
        filter, which chroma evaluates cheaply because few documents match it) does chroma filter."""
        if not where:
            return self.store.nearest(name, vector, top_k=self.candidates), {}
        lexical = self._lexical[name]
        total = len(lexical)
        for factor in OVERFETCH:
            k = min(total, self.candidates * factor)
            nearest = self.store.nearest(name, vector, top_k=k)
            positions = np.asarray(
                [lexical.position.get(doc_id, -1) for doc_id, _ in nearest], dtype=np.int64
            )
            passing = np.zeros(len(nearest), dtype=bool)
            known = positions >= 0
            if known.any():
                subset = {key: column[positions[known]] for key, column in lexical.columns.items()}
                passing[known] = where_mask(subset, where, int(known.sum()))
            survivors = [nearest[i] for i in np.flatnonzero(passing)[: self.candidates]]
            if len(survivors) >= self.candidates or k >= total:
                return survivors, {}
        found = self.store.query(name, vector, top_k=self.candidates, where=where)
        return [(doc.id, doc.distance) for doc in found], {doc.id: doc for doc in found}

    def search(
        self,
        kind: Kind,
        query: str,
        vector: np.ndarray,
        *,
        top_k: int,
        where: dict[str, Any] | None = None,
    ) -> tuple[Hit, ...]:
        """The `top_k` best documents by fused rank (dense + BM25), filtered by `where`.

        The rankings are fused on ids; only the documents that are returned (or reranked) are then read
        from the store, in one call (with a chroma server every call is a round trip)."""
        self.warm_up()
        name = COLLECTION[kind]
        dense, by_id = self._dense(name, vector, where)
        ranked = self._lexical[name].search(query, top_k=self.candidates, where=where)
        fused: dict[str, float] = {}
        for ranking in (dense, ranked):
            for rank, (doc_id, _) in enumerate(ranking):
                fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        reranking = self.reranker is not None and kind == "knowledge" and len(best) > 1
        wanted = best[: max(top_k, self.rerank_candidates) if reranking else top_k]
        missing = [doc_id for doc_id, _ in wanted if doc_id not in by_id]
        by_id |= {doc.id: doc for doc in self.store.get(name, missing)}
        best = [
            (doc_id, score) for doc_id, score in wanted if doc_id in by_id
        ]  # a stale lexical entry drops out
        if reranking and self.reranker is not None and len(best) > 1:
            head = best
            # The retriever's cosine of each candidate; one found by BM25 alone is not among the dense
            # nearest, so it gets the lowest similarity those have (an upper bound on its own).
            similarity = {doc_id: 1.0 - distance for doc_id, distance in dense}
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
