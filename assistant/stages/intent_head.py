"""The intent classifier's head: softmax regression over sentence embeddings, in numpy.

Trained by `assistant.training.intent`; calibrated with a temperature fitted on the dev split;
carries an out-of-scope threshold on the calibrated top probability and, where the training examples
are kept with it (``examples.npy``), a threshold on the similarity of a message to the nearest
in-scope training example: a message unlike anything the shop labelled is out of scope even when the
head is sure of its best guess (softmax heads often are, far from their data). Saved as ``head.npz``
plus ``labels.json`` in a versioned artifact folder.
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
    calibrated top probability, and on the cosine similarity to the nearest of `examples` (unit rows,
    the in-scope training examples; None: not used)."""

    weights: np.ndarray
    bias: np.ndarray
    labels: tuple[str, ...]
    temperature: float = 1.0
    threshold: float = 0.0
    examples: np.ndarray | None = None
    similarity_threshold: float = 0.0
    paired_threshold: float = 0.0  # the probability threshold used together with the similarity check

    def with_similarity_check(self, on: bool) -> tuple[float, float]:
        """(probability threshold, similarity threshold) the assistant applies with the nearest-example
        check on or off (`assistant.out_of_scope_by_similarity`)."""
        if on and self.examples is not None and self.similarity_threshold > 0:
            return self.paired_threshold, self.similarity_threshold
        return self.threshold, 0.0

    def nearest(self, vectors: np.ndarray) -> np.ndarray:
        """(n,) cosine similarity of each vector to the nearest kept example (1.0 without examples)."""
        if self.examples is None or not len(self.examples) or not len(vectors):
            return np.ones(len(vectors), dtype=np.float32)
        return (unit_rows(vectors) @ self.examples.astype(np.float32).T).max(axis=1)

    def unlike_examples(self, vectors: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """(n,) True where a message is further from every kept example than the threshold allows."""
        return self.nearest(vectors) < (self.similarity_threshold if threshold is None else threshold)

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32) @ self.weights + self.bias

    def probabilities(self, vectors: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """(n, classes) probabilities; temperature-scaled when `calibrated`."""
        return softmax(self.logits(vectors) / (self.temperature if calibrated else 1.0))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "head.npz", weights=self.weights, bias=self.bias)
        if self.examples is not None:
            np.save(
                folder / "examples.npy", self.examples.astype(np.float16)
            )  # half the size, same neighbours
        meta = {"labels": list(self.labels), "temperature": self.temperature, "threshold": self.threshold,
                "similarity_threshold": self.similarity_threshold, "paired_threshold": self.paired_threshold}  # fmt: skip
        (folder / "labels.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> IntentHead:
        try:
            arrays = np.load(folder / "head.npz")
            meta = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelNotPreparedError(
                f"no intent model in {folder}: run `python -m assistant train intent`"
            ) from None
        examples = np.load(folder / "examples.npy") if (folder / "examples.npy").is_file() else None
        return cls(arrays["weights"], arrays["bias"], tuple(meta["labels"]), meta["temperature"], meta["threshold"],
                   examples, float(meta.get("similarity_threshold", 0.0)) if examples is not None else 0.0,
                   float(meta.get("paired_threshold", meta["threshold"])))  # fmt: skip


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
