"""Which signal tells out-of-scope messages apart best, for the frozen e5 head: its calibrated top
probability (what the assistant uses today), or the similarity to the nearest training example?

On CLINC150's train part (150 intents plus its out-of-scope examples; a stratified 20 % held out as the
test, 15 % of the rest as validation), for each signal: the in-scope accuracy at the threshold where
out-of-scope recall first reaches 0.80 on the test, and the best in-scope accuracy (no rejection). Issue
19's goal is recall >= 0.80 within 2 points of the best. The threshold is read off the test itself, so
this compares how well each signal separates the two kinds of message; it is not a fitted rule (and
CLINC150's train part has only 100 out-of-scope examples: 20 land in this test). Prints figures;
asserts nothing.

    .venv/bin/python bench/intents_oos.py [--per-label 25]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from assistant.evaluation.intents import (
    OOS,
    EmbeddingCache,
    cap_per_label,
    read_labelled,
    score_head,
    stratified_split,
)
from assistant.factory import build_embedder
from assistant.settings import load_settings
from assistant.stages.intent_head import IntentHead, fit_softmax_regression

CLINC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clinc150" / "data_trainval.json"


def at_recall(
    scores: np.ndarray, predicted: list[str], gold: list[str], goal: float = 0.8
) -> tuple[float, float, float]:
    """(threshold, in-scope accuracy, OOS recall) at the lowest threshold on `scores` (higher = more in scope)
    whose out-of-scope recall reaches `goal`."""
    is_oos = np.array([g == OOS for g in gold])
    in_scope = ~is_oos
    for threshold in np.unique(np.quantile(scores, np.linspace(0, 1, 400))):
        rejected = (scores < threshold) | np.array([p == OOS for p in predicted])
        recall = rejected[is_oos].mean() if is_oos.any() else 0.0
        if recall >= goal:
            correct = np.array([p == g for p, g in zip(predicted, gold, strict=True)]) & ~rejected
            return float(threshold), float(correct[in_scope].mean()), float(recall)
    return float("nan"), float("nan"), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=0, help="train examples per intent (0 = all)")
    args = parser.parse_args()
    settings = load_settings()
    cache = EmbeddingCache(
        settings.paths.data_dir / "cache" / "embeddings", build_embedder(settings, use_fine_tuned=False)
    )
    quiet = lambda _: None  # noqa: E731
    pool, test = stratified_split(read_labelled(CLINC)["train"], 0.2, seed=0)
    train, validation = stratified_split(cap_per_label(pool, args.per_label or None, seed=0), 0.15, seed=1)
    labels = tuple(sorted({lab for _, lab in train}))
    index = {lab: i for i, lab in enumerate(labels)}
    x_train = cache.embed([t for t, _ in train], progress=quiet, label="train")
    x_validation = cache.embed([t for t, _ in validation], progress=quiet, label="validation")
    x_test = cache.embed([t for t, _ in test], progress=quiet, label="test")
    weights, bias = fit_softmax_regression(x_train, np.array([index[lab] for _, lab in train]), len(labels))
    scored = score_head(IntentHead(weights, bias, labels), x_validation, validation, x_test, test)
    gold, predicted = scored.gold, scored.predicted
    best = float(np.mean([p == g for p, g in zip(predicted, gold, strict=True) if g != OOS]))
    in_scope_train = np.array([lab != OOS for _, lab in train])
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # noqa: E731
    nearest = (unit(x_test) @ unit(x_train[in_scope_train]).T).max(
        axis=1
    )  # similarity to the closest in-scope example
    signals = {"calibrated top probability (today)": np.array(scored.confidence),
               "similarity to the nearest in-scope train example": nearest,
               "both (product)": np.array(scored.confidence) * nearest}  # fmt: skip
    live = scored.figures()
    print(f"CLINC150, {'all' if not args.per_label else args.per_label} per intent: {len(train)} train, "
          f"{len(validation)} validation, {len(test)} test ({sum(g == OOS for g in gold)} out of scope)")  # fmt: skip
    print(f"best in-scope accuracy (nothing rejected): {best:.3f}; the live threshold {scored.threshold:.2f}: "
          f"in-scope {live['in_scope_accuracy']:.3f}, OOS recall {live['oos_recall']:.2f}")  # fmt: skip
    print("| signal | threshold at OOS recall 0.80 | in-scope accuracy there | points below the best |")
    print("|---|---|---|---|")
    for name, scores in signals.items():
        threshold, accuracy, _ = at_recall(scores, predicted, gold)
        print(f"| {name} | {threshold:.3f} | {accuracy:.3f} | {100 * (best - accuracy):.1f} |")


if __name__ == "__main__":
    main()
