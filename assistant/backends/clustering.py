"""Grouping texts by meaning: sentence-transformers' `community_detection` over their embeddings."""

from __future__ import annotations

import numpy as np


def group_by_meaning(vectors: np.ndarray, *, threshold: float) -> list[list[int]]:
    """Indices of `vectors` in groups whose members lie within cosine `threshold` of the group's centre,
    largest first, the most central member first; every index lands in exactly one group."""
    from sentence_transformers.util import community_detection

    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        return []
    groups = [list(g) for g in community_detection(vectors, threshold=threshold, min_community_size=1)]
    covered = {i for g in groups for i in g}
    return groups + [[i] for i in range(len(vectors)) if i not in covered]
