"""Build the `products`, `knowledge` and `replies` collections from a shop folder.

Incremental: each document carries the SHA-256 of its text and metadata; unchanged documents are
skipped, changed ones re-embedded, and documents whose source disappeared are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.backends.embedding import Embedder
from assistant.backends.vector_store import Metadata, VectorStore
from assistant.catalog import ShopKnowledge
from assistant.data.validation import read_splits
from assistant.indexing.lexical import sync_lexical
from assistant.shop import localised

logger = logging.getLogger(__name__)
COLLECTIONS = ("products", "knowledge", "replies")
# Past agent replies that carry no order- or customer-specific facts can be reused as they are.
REUSABLE_ACTIONS = frozenset(
    {"answer_policy", "greet", "close", "decline_out_of_scope", "apologize", "handoff", "request_verification",
     "refuse_unverified"}
)  # fmt: skip


@dataclass(frozen=True)
class Document:
    id: str
    text: str  # what is embedded and matched lexically
    metadata: Metadata


@dataclass(frozen=True)
class IndexReport:
    collection: str
    total: int
    embedded: int
    deleted: int
    seconds: float


def product_documents(shop: ShopKnowledge) -> list[Document]:
    """One document per product and shop language (a missing translation falls back to another language).
    Unknown stock counts as available for filtering; an unknown rating is stored as -1."""
    docs = []
    for product in shop.products.values():
        attributes = product.get("attributes") or {}
        path = [str(c) for c in product.get("category") or ()]
        product_type = product.get("product_type") or {}
        for language in shop.languages:
            name = localised(product.get("category_name"), language) or " > ".join(path)
            parts = [shop.title(product, language), name, shop.description(product, language)]
            text = ". ".join(p for p in parts if p)
            stock = product.get("stock")
            docs.append(Document(f"{product['id']}:{language}", text, {
                "product_id": product["id"], "language": language, "category": path[0] if path else "",
                "brand": str(product.get("brand") or ""), "price": float(product["price"]),
                "in_stock": stock is None or stock > 0, "colour": str(attributes.get("colour", "")).lower(),
                "material": str(attributes.get("material", "")).lower(),
                "rating": float(product["rating"]) if product.get("rating") is not None else -1.0,
                "product_type": localised(product_type, "en") if isinstance(product_type, dict) else str(product_type),
            }))  # fmt: skip
    return docs


def knowledge_documents(shop: ShopKnowledge) -> list[Document]:
    return [
        Document(
            p["id"],
            f"{p['title']}. {p['text']}",
            {
                "language": p["language"],
                "topic": p.get("topic", ""),
                "group": p.get("group", p["id"]),
                "title": p["title"],
            },
        )
        for p in shop.passages.values()
    ]


def reply_documents(shop_dir: Path, *, limit: int) -> list[Document]:
    """(customer message -> agent reply) pairs from the training split, reusable replies only."""
    train = set(read_splits(shop_dir)["train"])
    pairs: dict[str, list[Document]] = {}
    path = shop_dir / "logs" / "conversations.jsonl"
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        conversation = json.loads(line)
        if conversation["id"] not in train:
            continue
        turns = conversation["turns"]
        for index in range(1, len(turns)):
            turn, previous = turns[index], turns[index - 1]
            if (
                turn["role"] != "agent"
                or previous["role"] != "customer"
                or turn.get("action") not in REUSABLE_ACTIONS
            ):
                continue
            language = previous.get("language", conversation["language"])
            doc = Document(f"{conversation['id']}:{index}", previous["text"], {
                "reply": turn["text"], "action": turn["action"], "intent": str(previous.get("intent")),
                "language": language, "passages": ",".join(turn.get("passages", [])),
            })  # fmt: skip
            pairs.setdefault(f"{previous.get('intent')}:{language}", []).append(doc)
    # Keep the memory small and balanced: round-robin over (intent, language) groups.
    out: list[Document] = []
    groups = [sorted(g, key=lambda d: d.id) for _, g in sorted(pairs.items())]
    index = 0
    while len(out) < limit and any(index < len(g) for g in groups):
        out += [g[index] for g in groups if index < len(g)][: limit - len(out)]
        index += 1
    return out


def _hash(doc: Document, embedder_tag: str = "") -> str:
    # The tag names a fine-tuned embedder: documents embedded by another model count as changed.
    parts: list[object] = [doc.text, doc.metadata, *([embedder_tag] if embedder_tag else [])]
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def sync_collection(
    store: VectorStore,
    embedder: Embedder,
    collection: str,
    documents: list[Document],
    *,
    batch_size: int = 64,
    progress: Callable[[str], None] = lambda _: None,
    hashes: Sequence[str] | None = None,
    manifest: Path | None = None,
) -> IndexReport:
    """Make `collection` hold exactly `documents`, embedding only new or changed ones.

    A digest of every (id, content hash) is stored with the collection after a complete sync; when the
    documents give the same digest (and the count agrees), nothing is read back from the store. That
    check is one call, where reading 100k ids and metadata back takes seconds. Given a `manifest` file,
    the (id, hash) pairs of the last complete sync are also kept there, and when the collection's
    digest proves the store still holds exactly them, the changes are found from the file instead of
    the store. `hashes` are the documents' content hashes when the caller has them already."""
    started = time.perf_counter()
    tag = str(getattr(embedder, "index_tag", "") or "")
    hashes = list(hashes) if hashes is not None else [_hash(doc, tag) for doc in documents]
    wanted = {doc.id: (doc, h) for doc, h in zip(documents, hashes, strict=True)}
    digest = content_fingerprint((doc_id, h) for doc_id, (_, h) in wanted.items())
    stored_digest = store.fingerprint(collection)
    if stored_digest == digest and store.count(collection) == len(wanted):
        if manifest is not None and not manifest.is_file():
            _write_manifest(manifest, {doc_id: h for doc_id, (_, h) in wanted.items()})
        return IndexReport(collection, len(documents), 0, 0, time.perf_counter() - started)
    existing = _read_manifest(manifest, stored_digest) if manifest is not None else None
    if existing is None or len(existing) != store.count(collection):  # documents removed behind our back
        existing = {
            d.id: str(d.metadata.get("content_hash", "")) for d in store.get_all(collection, with_texts=False)
        }
    todo = [(doc, h) for doc, h in wanted.values() if existing.get(doc.id) != h]
    stale = [doc_id for doc_id in existing if doc_id not in wanted]
    if todo or stale:
        store.set_fingerprint(collection, "")  # an interrupted sync must not look complete
    store.delete(collection, stale)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        vectors = embedder.embed_passages([doc.text for doc, _ in batch])
        store.upsert(
            collection,
            [doc.id for doc, _ in batch],
            vectors,
            [doc.text for doc, _ in batch],
            [dict(doc.metadata, content_hash=h) for doc, h in batch],
        )
        done = min(start + batch_size, len(todo))
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (len(todo) - done)
        progress(f"{collection}: embedded {done}/{len(todo)} changed documents (about {eta:.0f} s left)")
    store.set_fingerprint(collection, digest)
    if manifest is not None:
        _write_manifest(manifest, {doc_id: h for doc_id, (_, h) in wanted.items()})
    return IndexReport(collection, len(documents), len(todo), len(stale), time.perf_counter() - started)


def _read_manifest(path: Path, stored_digest: str | None) -> dict[str, str] | None:
    """The (id -> hash) pairs in `path` if the store's digest says it holds exactly those, else None."""
    if not stored_digest or not path.is_file():
        return None
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
        existing = {str(doc_id): str(h) for doc_id, h in pairs.items()}
    except (OSError, ValueError, AttributeError):
        return None
    return dict(existing) if content_fingerprint(existing.items()) == stored_digest else None


def _write_manifest(path: Path, pairs: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(pairs), encoding="utf-8")
    temporary.replace(path)


def content_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """One digest of a collection's (id, content hash) pairs, in any order."""
    digest = hashlib.sha256()
    for doc_id, content_hash in sorted(pairs):
        digest.update(f"{doc_id}\t{content_hash}\n".encode())
    return digest.hexdigest()


def build_index(
    shop: ShopKnowledge,
    shop_dir: Path,
    store: VectorStore,
    embedder: Embedder,
    *,
    max_replies: int,
    lexical_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[IndexReport]:
    """Sync all three collections (and, given `lexical_dir`, their persisted BM25 indexes); returns what each
    sync did."""
    sources = {
        "products": product_documents(shop),
        "knowledge": knowledge_documents(shop),
        "replies": reply_documents(shop_dir, limit=max_replies),
    }
    reports = []
    tag = str(getattr(embedder, "index_tag", "") or "")
    for name, docs in sources.items():
        hashes = [_hash(doc, tag) for doc in docs]  # once, for the vectors and the lexical index
        manifest = lexical_dir / name / "vectors-manifest.json" if lexical_dir is not None else None
        report = sync_collection(
            store, embedder, name, docs, progress=progress, hashes=hashes, manifest=manifest
        )
        if lexical_dir is not None:
            started = time.perf_counter()
            rebuilt = sync_lexical(lexical_dir / name,
                                   [(d.id, d.text, d.metadata, h) for d, h in zip(docs, hashes, strict=True)])  # fmt: skip
            report = replace(report, seconds=report.seconds + time.perf_counter() - started)
            if rebuilt:
                progress(f"{name}: lexical index rebuilt in {time.perf_counter() - started:.1f} s")
        progress(
            f"{name}: {report.total} documents, {report.embedded} embedded, {report.deleted} deleted "
            f"in {report.seconds:.1f} s"
        )
        reports.append(report)
    return reports
