"""Vector collections: the `VectorStore` protocol, chromadb (embedded or server) and an in-memory fake.

Embeddings always come from our own embedder: collections are created without a chroma
embedding function and every add and query passes vectors explicitly. Telemetry is off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import BackendError

logger = logging.getLogger(__name__)
Metadata = dict[str, str | int | float | bool]
# Collection metadata key: a digest of every (id, content hash) the index command last synced completely.
FINGERPRINT_KEY = "assistant_content_fingerprint"


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored: id, text, metadata (and distance for query results)."""

    id: str
    text: str
    metadata: Metadata
    distance: float = 0.0


@runtime_checkable
class VectorStore(Protocol):
    """Named collections of (id, vector, text, metadata) with filtered nearest-neighbour search."""

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Insert or replace documents."""
        ...

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove documents by id (unknown ids are ignored)."""
        ...

    def get_all(self, collection: str, *, with_texts: bool = True) -> list[StoredDocument]:
        """Every document in the collection (metadata, texts unless `with_texts` is False; no vectors)."""
        ...

    def get(self, collection: str, ids: Sequence[str]) -> list[StoredDocument]:
        """The documents with these ids (texts and metadata), in the order given; unknown ids are skipped."""
        ...

    def query(
        self, collection: str, vector: np.ndarray, *, top_k: int, where: dict[str, Any] | None = None
    ) -> list[StoredDocument]:
        """The `top_k` nearest documents (cosine distance), optionally filtered by metadata."""
        ...

    def nearest(self, collection: str, vector: np.ndarray, *, top_k: int) -> list[tuple[str, float]]:
        """The ids and cosine distances of the `top_k` nearest documents, unfiltered (no texts: cheap to
        over-fetch)."""
        ...

    def count(self, collection: str) -> int:
        """How many documents the collection holds (0 if it does not exist)."""
        ...

    def fingerprint(self, collection: str) -> str | None:
        """The content fingerprint the index command stored with the collection (None if none)."""
        ...

    def set_fingerprint(self, collection: str, value: str) -> None:
        """Store a content fingerprint with the collection ("" clears it)."""
        ...


class ChromaVectorStore:
    """chromadb `PersistentClient` in a folder (default) or `HttpClient` for a chroma server."""

    def __init__(self, path: Path | None = None, *, host: str | None = None, port: int = 8000) -> None:
        self.path, self.host, self.port = path, host, port
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    def warm_up(self) -> None:
        """Open the client once."""
        if self._client is not None:
            return
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if self.host:
                self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=settings)
            else:
                if self.path is None:
                    raise BackendError("the embedded vector store needs a folder (paths.data_dir)")
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        except Exception as exc:  # chromadb raises assorted types on a bad folder or server
            raise BackendError(f"cannot open the vector store at {self.host or self.path}: {exc}") from exc

    def _collection(self, name: str, *, create: bool = True) -> Any:
        self.warm_up()
        if name not in self._collections:
            if create:
                self._collections[name] = self._client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
            else:
                try:
                    self._collections[name] = self._client.get_collection(name, embedding_function=None)
                except Exception:  # NotFoundError's import path moves between chroma versions
                    return None
        return self._collections[name]

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        if not ids:
            return
        self._collection(collection).upsert(
            ids=list(ids),
            embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
            documents=list(texts),
            metadatas=[dict(m) for m in metadatas],
        )

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        target = self._collection(collection, create=False)
        if target is not None and ids:
            target.delete(ids=list(ids))

    def get_all(self, collection: str, *, with_texts: bool = True) -> list[StoredDocument]:
        target = self._collection(collection, create=False)
        if target is None:
            return []
        out: list[StoredDocument] = []
        offset, page = 0, 5000
        include = ["documents", "metadatas"] if with_texts else ["metadatas"]
        while True:
            batch = target.get(include=include, limit=page, offset=offset)
            texts = batch["documents"] if with_texts else [""] * len(batch["ids"])
            for doc_id, text, meta in zip(batch["ids"], texts, batch["metadatas"], strict=True):
                out.append(StoredDocument(doc_id, text or "", dict(meta or {})))
            if len(batch["ids"]) < page:
                return out
            offset += page

    def get(self, collection: str, ids: Sequence[str]) -> list[StoredDocument]:
        target = self._collection(collection, create=False)
        if target is None or not ids:
            return []
        batch = target.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            doc_id: StoredDocument(doc_id, text or "", dict(meta or {}))
            for doc_id, text, meta in zip(batch["ids"], batch["documents"], batch["metadatas"], strict=True)
        }
        return [found[doc_id] for doc_id in ids if doc_id in found]

    def query(
        self, collection: str, vector: np.ndarray, *, top_k: int, where: dict[str, Any] | None = None
    ) -> list[StoredDocument]:
        target = self._collection(collection, create=False)
        if target is None or top_k <= 0:
            return []
        result = target.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=top_k,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            StoredDocument(doc_id, text or "", dict(meta or {}), float(distance))
            for doc_id, text, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def nearest(self, collection: str, vector: np.ndarray, *, top_k: int) -> list[tuple[str, float]]:
        target = self._collection(collection, create=False)
        if target is None or top_k <= 0:
            return []
        result = target.query(query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()], n_results=top_k,
                              include=["distances"])  # fmt: skip
        return [
            (doc_id, float(d)) for doc_id, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def count(self, collection: str) -> int:
        target = self._collection(collection, create=False)
        return 0 if target is None else int(target.count())

    def fingerprint(self, collection: str) -> str | None:
        self.warm_up()
        try:  # read afresh: another machine's index command may have changed it
            target = self._client.get_collection(collection, embedding_function=None)
        except Exception:  # NotFoundError's import path moves between chroma versions
            return None
        value = (target.metadata or {}).get(FINGERPRINT_KEY)
        return str(value) if value else None

    def set_fingerprint(self, collection: str, value: str) -> None:
        target = self._collection(collection)
        try:
            target.modify(metadata={**(target.metadata or {}), FINGERPRINT_KEY: value})
        except Exception as exc:  # chromadb raises assorted types on a lost server
            raise BackendError(f"cannot update collection {collection!r} in the vector store: {exc}") from exc


class InMemoryVectorStore:
    """Fake: exact cosine search over numpy arrays, with the same `where` subset chroma supports."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, tuple[np.ndarray, str, Metadata]]] = {}
        self._fingerprints: dict[str, str] = {}

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        table = self._data.setdefault(collection, {})
        for doc_id, vector, text, meta in zip(ids, np.asarray(vectors), texts, metadatas, strict=True):
            table[doc_id] = (np.asarray(vector, dtype=np.float32), text, dict(meta))

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        for doc_id in ids:
            self._data.get(collection, {}).pop(doc_id, None)

    def get_all(self, collection: str, *, with_texts: bool = True) -> list[StoredDocument]:
        return [
            StoredDocument(i, t if with_texts else "", m)
            for i, (_, t, m) in self._data.get(collection, {}).items()
        ]

    def get(self, collection: str, ids: Sequence[str]) -> list[StoredDocument]:
        table = self._data.get(collection, {})
        return [StoredDocument(i, table[i][1], table[i][2]) for i in ids if i in table]

    def query(
        self, collection: str, vector: np.ndarray, *, top_k: int, where: dict[str, Any] | None = None
    ) -> list[StoredDocument]:
        rows = [(i, v, t, m) for i, (v, t, m) in self._data.get(collection, {}).items() if matches(m, where)]
        scored = [
            StoredDocument(
                i, t, m, 1.0 - float(v @ vector / (np.linalg.norm(v) * np.linalg.norm(vector) or 1))
            )
            for i, v, t, m in rows
        ]
        return sorted(scored, key=lambda d: d.distance)[:top_k]

    def nearest(self, collection: str, vector: np.ndarray, *, top_k: int) -> list[tuple[str, float]]:
        return [(d.id, d.distance) for d in self.query(collection, vector, top_k=top_k)]

    def count(self, collection: str) -> int:
        return len(self._data.get(collection, {}))

    def fingerprint(self, collection: str) -> str | None:
        return self._fingerprints.get(collection) or None

    def set_fingerprint(self, collection: str, value: str) -> None:
        self._fingerprints[collection] = value


def matches(metadata: Metadata, where: dict[str, Any] | None) -> bool:
    """Evaluate chroma's `where` language ($and, $or, $eq, $ne, $gt, $gte, $lt, $lte, $in)."""
    if not where:
        return True
    for logical in ("$and", "$or"):  # chroma refuses these with fewer than two clauses; so does the fake
        if logical in where and len(where[logical]) < 2:
            raise ValueError(
                f"Expected where value for {logical} to be a list with at least two where expressions"
            )
    if "$and" in where:
        return all(matches(metadata, clause) for clause in where["$and"])
    if "$or" in where:
        return any(matches(metadata, clause) for clause in where["$or"])
    for key, condition in where.items():
        value = metadata.get(key)
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        for op, target in condition.items():
            if not _compare(op, value, target):
                return False
    return True


def _compare(op: str, value: Any, target: Any) -> bool:
    if op == "$eq":
        return bool(value == target)
    if op == "$ne":
        return bool(value != target)
    if op == "$in":
        return value in target
    if op == "$nin":
        return value not in target
    if value is None:
        return False
    comparisons = {
        "$gt": value > target,
        "$gte": value >= target,
        "$lt": value < target,
        "$lte": value <= target,
    }
    if op not in comparisons:
        raise ValueError(f"unsupported filter operator {op!r}")
    return bool(comparisons[op])


class NamespacedStore:
    """Another set of collections in the same store: every collection name gets `suffix` (an A/B test's
    candidate retriever keeps its own vectors beside the active ones)."""

    def __init__(self, store: VectorStore, suffix: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,30}", suffix):
            raise ValueError(f"collection suffix {suffix!r}: letters, digits, _ and - only, at most 30")
        self.store, self.suffix = store, suffix

    def _name(self, collection: str) -> str:
        return f"{collection}{self.suffix}"

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str],
               metadatas: Sequence[Metadata]) -> None:  # fmt: skip
        self.store.upsert(self._name(collection), ids, vectors, texts, metadatas)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self.store.delete(self._name(collection), ids)

    def get_all(self, collection: str, *, with_texts: bool = True) -> list[StoredDocument]:
        return self.store.get_all(self._name(collection), with_texts=with_texts)

    def get(self, collection: str, ids: Sequence[str]) -> list[StoredDocument]:
        return self.store.get(self._name(collection), ids)

    def query(self, collection: str, vector: np.ndarray, *, top_k: int,
              where: dict[str, Any] | None = None) -> list[StoredDocument]:  # fmt: skip
        return self.store.query(self._name(collection), vector, top_k=top_k, where=where)

    def nearest(self, collection: str, vector: np.ndarray, *, top_k: int) -> list[tuple[str, float]]:
        return self.store.nearest(self._name(collection), vector, top_k=top_k)

    def count(self, collection: str) -> int:
        return self.store.count(self._name(collection))

    def fingerprint(self, collection: str) -> str | None:
        return self.store.fingerprint(self._name(collection))

    def set_fingerprint(self, collection: str, value: str) -> None:
        self.store.set_fingerprint(self._name(collection), value)
