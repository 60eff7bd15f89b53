"""The intent classifier's head: softmax regression over sentence embeddings, in numpy.

Trained by `assistant.training.intent`; calibrated with a temperature fitted on the dev split;
carries an out-of-scope threshold on the calibrated top probability and, where the centroid of each
intent's training examples is kept with it, a threshold on an in-scope score: the top logit plus the
message's cosine similarity to its best intent's centroid, each scaled by its spread over the correct
held-out answers. A message far from the intent it would be given is out of scope even when the head
is sure (softmax heads often are, far from their data). On CLINC150 this score separates out-of-scope
messages far better than the probability or the similarity to the nearest training example
(`bench/intents_oos.py`). Saved as ``head.npz`` plus ``labels.json`` in a versioned artifact folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelNotPreparedError


@dataclass
class IntentHead:
    """Weights (dim × classes), bias, labels, temperature and the out-of-scope thresholds: on the
    calibrated top probability, and on `in_scope_score` (with `centroids`, unit rows in label order, and
    `score_scale`, the (mean, spread) of the top logit and of the centroid similarity over the correct
    held-out answers; None: the check is not fitted)."""

    weights: np.ndarray
    bias: np.ndarray
    labels: tuple[str, ...]
    temperature: float = 1.0
    threshold: float = 0.0
    centroids: np.ndarray | None = None
    score_scale: tuple[float, float, float, float] | None = None
    score_threshold: float | None = None
    # What reads a message for it: "embedder" (the multilingual one, or the run's fine-tuned encoder), then
    # "english_embedder" when it sits beside it (`JoinedEmbedder`).
    features: tuple[str, ...] = ("embedder",)

    def thresholds(self, check: bool) -> tuple[float, float | None]:
        """(probability threshold, in-scope score threshold or None) the assistant applies with the check on
        or off (`assistant.out_of_scope_by_similarity`). With it on the score decides alone: it already
        weighs the top logit in."""
        if check and self.score_threshold is not None and self.centroids is not None:
            return 0.0, self.score_threshold
        return self.threshold, None

    def in_scope_score(self, vectors: np.ndarray) -> np.ndarray:
        """(n,) how far inside the intent it would be given each message lies: the scaled top logit plus the
        scaled cosine similarity to that intent's centroid (0 is a typical correct answer; lower is less
        like anything labelled). Zeros where the check is not fitted."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        if self.centroids is None or self.score_scale is None or not len(vectors):
            return np.zeros(len(vectors), dtype=np.float32)
        logits = self.logits(vectors)
        best = logits.argmax(axis=1)
        similarity = np.sum(unit_rows(vectors) * self.centroids[best], axis=1)
        top_mean, top_spread, similarity_mean, similarity_spread = self.score_scale
        return (logits.max(axis=1) - top_mean) / top_spread + (
            similarity - similarity_mean
        ) / similarity_spread

    def outside(self, vectors: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """(n,) True where a message's in-scope score is under the threshold (never where none is fitted)."""
        threshold = self.score_threshold if threshold is None else threshold
        if threshold is None or self.centroids is None:
            return np.zeros(len(vectors), dtype=bool)
        return self.in_scope_score(vectors) < threshold

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32) @ self.weights + self.bias

    def probabilities(self, vectors: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """(n, classes) probabilities; temperature-scaled when `calibrated`."""
        return softmax(self.logits(vectors) / (self.temperature if calibrated else 1.0))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.centroids is not None:
            np.savez(folder / "head.npz", weights=self.weights, bias=self.bias, centroids=self.centroids)
        else:
            np.savez(folder / "head.npz", weights=self.weights, bias=self.bias)
        meta = {"labels": list(self.labels), "temperature": self.temperature, "threshold": self.threshold,
                "score_scale": list(self.score_scale) if self.score_scale else None,
                "score_threshold": self.score_threshold, "features": list(self.features)}  # fmt: skip
        (folder / "labels.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> IntentHead:
        """A saved head; one saved before the in-scope score existed loads without it (probability only)."""
        try:
            arrays = np.load(folder / "head.npz")
            meta = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelNotPreparedError(
                f"no intent model in {folder}: run `python -m assistant train intent`"
            ) from None
        centroids = arrays["centroids"] if "centroids" in arrays.files else None
        scale = meta.get("score_scale")
        fitted = centroids is not None and scale is not None and meta.get("score_threshold") is not None
        return cls(arrays["weights"], arrays["bias"], tuple(meta["labels"]), meta["temperature"], meta["threshold"],
                   centroids if fitted else None, tuple(float(v) for v in scale) if fitted else None,  # type: ignore[arg-type]
                   float(meta["score_threshold"]) if fitted else None,
                   tuple(meta.get("features") or ("embedder",)))  # fmt: skip


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_softmax_regression(
    vectors: np.ndarray,
    targets: np.ndarray,
    n_classes: int,
    *,
    epochs: int = 800,
    learning_rate: float = 0.1,
    l2: float = 1e-5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch Adam on cross-entropy with class-balanced weights; returns (weights, bias)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(vectors, dtype=np.float32)
    n, dim = x.shape
    w = rng.normal(0, 0.01, (dim, n_classes)).astype(np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[targets]
    counts = np.bincount(targets, minlength=n_classes).astype(np.float32)
    sample_weight = (n / (n_classes * np.maximum(counts, 1)))[targets][:, None]
    m_w, v_w, m_b, v_b = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        probs = softmax(x @ w + b)
        grad_logits = (probs - onehot) * sample_weight / n
        grad_w = x.T @ grad_logits + l2 * w
        grad_b = grad_logits.sum(axis=0)
        for param, grad, m, v in ((w, grad_w, m_w, v_w), (b, grad_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= learning_rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return w, b


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature in [0.25, 10] minimising negative log-likelihood (grid, then refine)."""

    def nll(t: float) -> float:
        p = softmax(logits / t)
        return float(-np.mean(np.log(p[np.arange(len(targets)), targets] + 1e-12)))

    grid = np.exp(np.linspace(np.log(0.25), np.log(10), 60))
    best = float(min(grid, key=nll))
    for t in np.linspace(best * 0.9, best * 1.1, 21):
        if nll(float(t)) < nll(best):
            best = float(t)
    return best
