"""Rerankers: score (query, document) pairs jointly. A transformers cross-encoder, and a fake.

The cross-encoder is a sequence-classification model with one output (a relevance logit), trained
by `assistant.training.reranker` from the shop's logs; it reorders the retriever's candidates. One
trained as a correction to the retriever keeps the weight of the retriever's similarity in
`SIMILARITY_FILE` beside its weights: its score is `logit + weight * similarity`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import BackendError

logger = logging.getLogger(__name__)
SIMILARITY_FILE = "reranker.json"


class Reranker(Protocol):
    """Relevance scores of `documents` for `query` (higher is more relevant). `similarities` are the
    retriever's cosine similarities of the documents to the query, where the caller has them."""

    def score(
        self, query: str, documents: Sequence[str], similarities: Sequence[float] | None = None
    ) -> np.ndarray: ...


class TransformersCrossEncoder:
    """A cross-encoder folder (config, weights, tokenizer) loaded lazily; CPU or CUDA (bf16)."""

    def __init__(
        self, model: str, *, device: str = "auto", max_length: int = 256, batch_size: int = 32
    ) -> None:
        self.model_reference, self.device_setting = model, device
        self.max_length, self.batch_size = max_length, batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self.similarity_weight = 0.0  # > 0 for a model trained as a correction to the retriever

    def warm_up(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from assistant.backends.device import resolve_device

        self._device = resolve_device(self.device_setting)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_reference)
            dtype = torch.bfloat16 if self._device.startswith("cuda") else torch.float32
            self._model = AutoModelForSequenceClassification.from_pretrained(
                self.model_reference, dtype=dtype
            )
            prior = Path(self.model_reference) / SIMILARITY_FILE
            if prior.is_file():
                self.similarity_weight = float(
                    json.loads(prior.read_text(encoding="utf-8"))["similarity_weight"]
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"could not load reranker {self.model_reference!r}: {exc}") from exc
        self._model.to(self._device).eval()
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit:  # never past the model's own positions
            self.max_length = min(self.max_length, int(limit))
        logger.info("reranker %s loaded on %s", self.model_reference, self._device)

    def score(
        self, query: str, documents: Sequence[str], similarities: Sequence[float] | None = None
    ) -> np.ndarray:
        import torch

        self.warm_up()
        if similarities is not None and len(similarities) != len(documents):
            raise BackendError("the reranker needs one similarity per document")
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(documents), self.batch_size):
                batch = list(documents[start : start + self.batch_size])
                encoded = self._tokenizer([query] * len(batch), batch, truncation=True, max_length=self.max_length,
                                          padding=True, return_tensors="pt").to(self._device)  # fmt: skip
                out.append(self._model(**encoded).logits[:, 0].float().cpu().numpy())
        scores = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        if self.similarity_weight and similarities is not None:
            scores = scores + self.similarity_weight * np.asarray(similarities, dtype=np.float32)
        return scores


class OverlapReranker:
    """Fake: the share of the query's words (or CJK characters) found in the document (similarities,
    when given, are recorded in `seen_similarities` for tests)."""

    def __init__(self) -> None:
        self.seen_similarities: list[list[float]] = []

    def score(
        self, query: str, documents: Sequence[str], similarities: Sequence[float] | None = None
    ) -> np.ndarray:
        if similarities is not None:
            self.seen_similarities.append([float(s) for s in similarities])
        words = set(re.findall(r"\w+|[\u4e00-\u9fff]", query.lower()))
        return np.array([len(words & set(re.findall(r"\w+|[\u4e00-\u9fff]", d.lower()))) / max(1, len(words))
                         for d in documents], dtype=np.float32)  # fmt: skip
