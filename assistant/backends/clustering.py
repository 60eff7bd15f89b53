"""Grouping texts by meaning: sentence-transformers' `community_detection` over their embeddings."""

from __future__ import annotations

import numpy as np

AUTO_SAMPLE = 400  # texts whose pairwise similarities set the automatic threshold


def automatic_threshold(vectors: np.ndarray, *, share: float = 0.6, floor: float = 0.75) -> float:
    """A cosine threshold for "the same question" that suits the embedder: embedders differ in how similar
    unrelated texts look to them (about 0.8 for e5, near 0 for a hashing embedder), so the threshold is
    put `share` of the way from the median similarity of the texts' pairs to 1, and never below `floor`."""
    sample = np.asarray(vectors, dtype=np.float32)[:AUTO_SAMPLE]
    if len(sample) < 3:
        return max(floor, 0.9)
    unit = sample / np.maximum(np.linalg.norm(sample, axis=1, keepdims=True), 1e-12)
    similarities = (unit @ unit.T)[np.triu_indices(len(unit), k=1)]
    median = float(np.median(similarities))
    return max(floor, median + share * (1.0 - median))


def group_by_meaning(vectors: np.ndarray, *, threshold: float | None = None) -> list[list[int]]:
    """Indices of `vectors` in groups whose members lie within cosine `threshold` (None: automatic) of the
    group's centre, largest first, the most central member first; every index lands in exactly one group."""
    from sentence_transformers.util import community_detection

    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        return []
    if threshold is None:
        threshold = automatic_threshold(vectors)
    groups = [list(g) for g in community_detection(vectors, threshold=threshold, min_community_size=1)]
    covered = {i for g in groups for i in g}
    return groups + [[i] for i in range(len(vectors)) if i not in covered]
