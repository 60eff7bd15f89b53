"""Embedders: the fake's contract, and the sentence-transformers adapter against the library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.backends.embedding import Embedder, HashingEmbedder


@pytest.mark.parametrize("texts", [["hello", "", "🎉🔥", "退货 30 天", "x" * 100_000], []])
def test_hashing_embedder_contract(texts: list[str]) -> None:
    embedder = HashingEmbedder(dimension=32)
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed_passages(texts)
    assert vectors.shape == (len(texts), 32)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    if texts:
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_hashing_embedder_is_deterministic_and_similarity_aware() -> None:
    embedder = HashingEmbedder()
    a, b, c = embedder.embed_queries(["return my shoes", "return my shoe", "track a parcel"])
    assert np.array_equal(embedder.embed_queries(["return my shoes"])[0], a)
    assert a @ b > a @ c


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


@pytest.mark.integration
def test_adapter_matches_sentence_transformers(tiny_st: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from assistant.backends.embedding import SentenceTransformerEmbedder

    texts = ["where is my parcel", "free shipping within 30 days", "red shoes size small"]
    library = SentenceTransformer(str(tiny_st), device="cpu")
    # A fresh adapter's very first call must already use the folder's query prompt.
    first = SentenceTransformerEmbedder(str(tiny_st), device="cpu").embed_queries(texts)
    np.testing.assert_allclose(first, library.encode(texts, prompt="query: "), atol=1e-5)

    embedder = SentenceTransformerEmbedder(str(tiny_st), device="cpu", batch_size=2)
    assert isinstance(embedder, Embedder)
    np.testing.assert_allclose(
        embedder.embed_queries(texts), library.encode(texts, prompt="query: "), atol=1e-5
    )
    np.testing.assert_allclose(
        embedder.embed_passages(texts), library.encode(texts, prompt="passage: "), atol=1e-5
    )
    assert embedder.dimension == 32
    assert not np.allclose(embedder.embed_queries(texts[:1]), embedder.embed_passages(texts[:1]))
    assert embedder.embed_queries([]).shape == (0, 32)


@pytest.mark.integration
def test_adapter_reports_a_missing_folder(tmp_path: Path) -> None:
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.errors import AssistantError

    embedder = SentenceTransformerEmbedder(str(tmp_path / "nothing-here"), device="cpu")
    with pytest.raises(AssistantError, match="models prepare"):
        embedder.warm_up()


def test_joined_embedder_sets_unit_rows_side_by_side() -> None:
    """The intent head's features: each part's unit rows side by side, scaled to a unit row again; a caller
    holding the first part's vector (the assistant embeds every message with it) gets the same vector."""
    from assistant.backends.embedding import JoinedEmbedder

    first, second = HashingEmbedder(32), HashingEmbedder(16)
    joined = JoinedEmbedder((first, second))
    texts = ["where is my order", "我要退货", "hello"]
    vectors = joined.embed_queries(texts)
    assert joined.dimension == 48 and vectors.shape == (3, 48) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[:, :32] * np.sqrt(2), first.embed_queries(texts), rtol=1e-5)
    np.testing.assert_allclose(vectors[:, 32:] * np.sqrt(2), second.embed_queries(texts), rtol=1e-5)
    np.testing.assert_allclose(joined.join_first(first.embed_queries(texts), texts), vectors, rtol=1e-6)
    np.testing.assert_allclose(joined.embed_passages(texts), vectors, rtol=1e-6)  # hashing: no prompts
    assert isinstance(joined, Embedder) and joined.model_reference == "HashingEmbedder + HashingEmbedder"
    with pytest.raises(ValueError, match="at least two"):
        JoinedEmbedder((first,))


def test_a_fine_tuned_encoder_takes_the_first_parts_place() -> None:
    from assistant.backends.embedding import JoinedEmbedder, first_part, with_first

    first, second, tuned = HashingEmbedder(32), HashingEmbedder(16), HashingEmbedder(24)
    joined = with_first(JoinedEmbedder((first, second)), tuned)
    assert isinstance(joined, JoinedEmbedder) and joined.parts == (tuned, second)
    assert first_part(joined) is tuned
    assert with_first(first, tuned) is tuned and first_part(first) is first
