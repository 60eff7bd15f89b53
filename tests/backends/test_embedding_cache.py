"""The embedding cache: each text embedded once per model and kind, kept on disk across runs, and a new
key (never the old vectors) when the model folder is overwritten; the training code's document index
reads its vectors from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from assistant.backends.embedding import HashingEmbedder
from assistant.backends.embedding_cache import EmbeddingCache, model_fingerprint


class Counting(HashingEmbedder):
    def __init__(self, dimension: int) -> None:
        super().__init__(dimension=dimension)
        self.queries = 0
        self.passages = 0

    def embed_queries(self, texts):
        self.queries += len(texts)
        return super().embed_queries(texts)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return super().embed_passages(texts)


def test_each_text_is_embedded_once_per_model_and_kind(tmp_path: Path) -> None:
    embedder = Counting(64)
    cache = EmbeddingCache(tmp_path, embedder)
    first = cache.embed(["a", "b", "a"], progress=lambda _: None, label="x")
    again = EmbeddingCache(tmp_path, embedder).embed(["b", "a", "c"], progress=lambda _: None, label="x")
    assert embedder.queries == 3  # a, b, then only c
    assert np.allclose(first[0], again[1]) and np.allclose(first[1], again[0])
    other = EmbeddingCache(tmp_path, HashingEmbedder(dimension=32))  # another model: another file
    assert other.path != cache.path
    # documents: their own prompt, their own file
    passages = EmbeddingCache(tmp_path, embedder, kind="passage")
    assert passages.path != cache.path
    passages.embed(["a", "b"])
    assert (embedder.queries, embedder.passages) == (3, 2)


def test_an_overwritten_model_folder_gets_a_new_key(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"first model")
    before = model_fingerprint(str(folder))
    assert model_fingerprint(str(folder)) == before  # stable while nothing changes
    (folder / "weights.bin").write_bytes(b"another model, same path")
    os.utime(folder / "weights.bin", ns=(1, 1))
    assert model_fingerprint(str(folder)) != before
    assert model_fingerprint("org/hub-model") == model_fingerprint("org/hub-model")

    class FolderEmbedder(HashingEmbedder):
        model_reference = str(folder)

    key = EmbeddingCache(tmp_path, FolderEmbedder(dimension=16)).model_key
    (folder / "extra.json").write_text("{}")
    assert EmbeddingCache(tmp_path, FolderEmbedder(dimension=16)).model_key != key


def test_the_document_index_of_training_reads_its_vectors_from_the_cache(tmp_path: Path) -> None:
    from assistant.training.retriever import DenseIndex, RetrievalPair

    corpus = {"d1": ("free returns within 30 days", "en"), "d2": ("shipping to Japan", "en"),
              "d3": ("退货政策", "zh")}  # fmt: skip
    embedder = Counting(64)
    plain = DenseIndex(embedder, corpus)
    cached = DenseIndex(embedder, corpus, cache_dir=tmp_path)
    assert embedder.passages == 6
    again = DenseIndex(embedder, corpus, cache_dir=tmp_path)  # a later run: nothing embedded
    assert embedder.passages == 6
    for language in ("en", "zh"):
        assert np.allclose(plain.vectors[language], again.vectors[language], atol=1e-6)
        assert cached.ids[language] == again.ids[language]
    pair = RetrievalPair("returns?", ("d1",), "en")
    assert again.search([pair], 2) == plain.search([pair], 2)


def test_the_least_recently_used_models_files_go_when_the_cache_is_too_big(tmp_path: Path) -> None:
    from assistant.backends.embedding_cache import prune

    old, used, new = (EmbeddingCache(tmp_path, HashingEmbedder(dimension=d)) for d in (16, 32, 64))
    for number, cache in enumerate((old, used, new)):
        cache.embed([f"text {i}" for i in range(50)])
        os.utime(cache.path, (1000 + number, 1000 + number))  # written in this order, long ago
    EmbeddingCache(tmp_path, HashingEmbedder(dimension=16)).embed(["text 1"])  # reading marks `old` used
    sizes = {c.path: c.path.stat().st_size for c in (old, used, new)}
    stale = tmp_path / f"{new.model_key}.123.abcd.tmp.npz"
    stale.write_bytes(b"left by a writer that died")
    os.utime(stale, (1, 1))
    fresh = tmp_path / f"{new.model_key}.456.ef01.tmp.npz"
    fresh.write_bytes(b"another writer, still writing")
    assert prune(tmp_path, keep=new.path, max_bytes=10**9) == [stale]  # under the cap: only the dead file
    assert fresh.exists()
    removed = prune(tmp_path, keep=new.path, max_bytes=sizes[new.path] + sizes[old.path])
    assert removed == [used.path]  # the least recently used; `old` was read since
    assert prune(tmp_path, keep=new.path, max_bytes=0) == [old.path]  # the file just written always stays
    assert new.path.exists()
    again = EmbeddingCache(tmp_path, HashingEmbedder(dimension=16))  # its file is gone: it embeds again
    assert np.allclose(again.embed(["text 1"]), HashingEmbedder(dimension=16).embed_queries(["text 1"]))
    assert (again.hits, again.misses) == (0, 1)


def test_a_hub_model_is_keyed_by_its_cached_revision(tmp_path: Path) -> None:
    """A hub id alone would keep the vectors of an older revision after the model is updated under the same
    id; the revision in the local Hugging Face cache is part of the fingerprint."""
    from assistant.backends.embedding_cache import hub_revision

    def cache_revision(commit: str) -> None:
        repo = tmp_path / "hub" / "models--org--encoder"
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)

    hub = tmp_path / "hub"
    assert hub_revision("org/encoder", hub_cache=hub) is None  # not cached
    uncached = model_fingerprint("org/encoder", hub_cache=hub)
    cache_revision("a" * 40)
    assert hub_revision("org/encoder", hub_cache=hub) == "a" * 40
    first = model_fingerprint("org/encoder", hub_cache=hub)
    cache_revision("b" * 40)  # the model updated on the hub and downloaded again
    assert len({uncached, first, model_fingerprint("org/encoder", hub_cache=hub)}) == 3
    assert hub_revision("not a repo id!", hub_cache=hub) is None
    assert hub_revision(str(tmp_path / "absent" / "folder"), hub_cache=hub) is None


def test_a_joined_embedder_is_cached_part_by_part(tmp_path: Path) -> None:
    """Each model's vectors serve every combination it is part of: a head fit beside the English embedder
    after one without it embeds the texts only with the new part."""
    from assistant.backends.embedding import JoinedEmbedder

    first, second = Counting(64), Counting(32)
    texts = ["a", "b", "c"]
    more = [*texts, "d"]
    EmbeddingCache(tmp_path, first).embed(texts)
    joined = JoinedEmbedder((first, second))
    cache = EmbeddingCache(tmp_path, joined)
    vectors = cache.embed(more)
    assert (first.queries, second.queries) == (3 + 1, 4)  # only "d" for the first part
    assert (cache.hits, cache.misses) == (3, 5)
    fresh = JoinedEmbedder((HashingEmbedder(64), HashingEmbedder(32)))
    np.testing.assert_allclose(vectors, fresh.embed_queries(more), rtol=1e-6)
    again = EmbeddingCache(tmp_path, joined).embed(["d", "a"])
    assert (first.queries, second.queries) == (4, 4)
    np.testing.assert_allclose(again, vectors[[3, 0]], rtol=1e-6)
