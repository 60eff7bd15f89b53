"""The index command's sync: what it reads back from the vector store, and when."""

from __future__ import annotations

from pathlib import Path

from assistant.backends.embedding import HashingEmbedder
from assistant.backends.vector_store import InMemoryVectorStore, StoredDocument
from assistant.indexing.builder import Document, sync_collection


class CountingStore(InMemoryVectorStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads_back = 0

    def get_all(self, collection: str, *, with_texts: bool = True) -> list[StoredDocument]:
        self.reads_back += 1
        return super().get_all(collection, with_texts=with_texts)


def documents(n: int, changed: int | None = None) -> list[Document]:
    return [Document(f"d{i}", f"text {i}{' changed' if i == changed else ''}", {"n": i}) for i in range(n)]


def test_unchanged_and_changed_syncs_read_nothing_back(tmp_path: Path) -> None:
    store, embedder, manifest = CountingStore(), HashingEmbedder(16), tmp_path / "manifest.json"
    first = sync_collection(store, embedder, "c", documents(50), manifest=manifest)
    assert (first.embedded, store.reads_back) == (50, 1)  # a new collection: compared with the (empty) store
    unchanged = sync_collection(store, embedder, "c", documents(50), manifest=manifest)
    assert (unchanged.embedded, store.reads_back) == (0, 1)  # the fingerprint matches: nothing read
    changed = sync_collection(store, embedder, "c", documents(49, changed=3), manifest=manifest)
    assert (changed.embedded, changed.deleted, store.reads_back) == (1, 1, 1)  # diffed against the manifest
    assert [d.text for d in store.get("c", ["d3"])] == ["text 3 changed"] and store.count("c") == 49


def test_a_store_changed_elsewhere_is_read_back(tmp_path: Path) -> None:
    """Another machine synced the shared store (its digest no longer matches this manifest), or a sync was
    interrupted (the digest was cleared): the store itself is compared."""
    store, embedder, manifest = CountingStore(), HashingEmbedder(16), tmp_path / "manifest.json"
    sync_collection(store, embedder, "c", documents(20), manifest=manifest)
    sync_collection(store, embedder, "c", documents(20, changed=5), manifest=tmp_path / "elsewhere.json")
    reads = store.reads_back
    again = sync_collection(store, embedder, "c", documents(20, changed=7), manifest=manifest)
    assert store.reads_back == reads + 1 and again.embedded == 2  # d5 back to the original text, d7 changed
    store.set_fingerprint("c", "")  # as an interrupted sync leaves it
    sync_collection(store, embedder, "c", documents(20, changed=7), manifest=manifest)
    assert store.reads_back == reads + 2


def test_changing_the_configured_embedder_re_embeds_the_index(tmp_path: Path) -> None:
    """`models.embedder` set to another model: the next sync embeds every document again (the old
    vectors would be searched with the new model's queries); the same model again embeds nothing."""
    from tiny_models import build_tiny_sentence_transformer

    from assistant.factory import build_embedder, is_fine_tuned_retriever
    from assistant.settings import load_settings

    def embedder(folder: Path):
        settings = load_settings(environ={}, overrides=[f"models.embedder={folder}", "models.device=cpu",
                                                        f"paths.artifacts_dir={tmp_path / 'artifacts'}"])  # fmt: skip
        return build_embedder(settings)

    a, b = (
        build_tiny_sentence_transformer(tmp_path / "a", seed=0),
        build_tiny_sentence_transformer(tmp_path / "b", seed=1),
    )
    first, second = embedder(a), embedder(b)
    assert first.index_tag != second.index_tag and not is_fine_tuned_retriever(first)
    store = InMemoryVectorStore()
    assert sync_collection(store, first, "c", documents(5)).embedded == 5
    assert sync_collection(store, embedder(a), "c", documents(5)).embedded == 0
    assert sync_collection(store, second, "c", documents(5)).embedded == 5
    config = next(a.glob("*.json"))  # the folder of `a` overwritten (a model re-prepared under its name)
    config.write_text(config.read_text() + " ")
    assert embedder(a).index_tag != first.index_tag
