"""Classification metrics computed from label lists (no ML library needed)."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of positions where the prediction equals the gold label (0.0 for no examples)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def per_label_f1(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """F1 of every label that occurs in gold or predictions."""
    labels = sorted(set(gold) | set(predicted))
    out = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return out


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean F1 over the labels present in gold."""
    scores = per_label_f1(gold, predicted)
    present = sorted(set(gold))
    return sum(scores[label] for label in present) / len(present) if present else 0.0


def recall_at_k(gold: set[str], ranked: Sequence[str], k: int) -> float:
    """Share of the gold items found in the first `k` results (0.0 when there is no gold)."""
    return len(gold & set(ranked[:k])) / len(gold) if gold else 0.0


def reciprocal_rank(gold: set[str], ranked: Sequence[str]) -> float:
    """1 / rank of the first gold item (0.0 if none is retrieved)."""
    return next((1.0 / (i + 1) for i, item in enumerate(ranked) if item in gold), 0.0)


def ndcg_at_k(relevance: dict[str, float], ranked: Sequence[str], k: int) -> float:
    """Normalised discounted cumulative gain with graded relevance (gain 2^rel - 1)."""
    import math

    dcg = sum((2 ** relevance.get(item, 0.0) - 1) / math.log2(i + 2) for i, item in enumerate(ranked[:k]))
    ideal = sorted(relevance.values(), reverse=True)[:k]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def hit_at_k(gold: set[str], ranked: Sequence[str], k: int) -> float:
    """1.0 if any gold item is in the first `k` results."""
    return 1.0 if gold & set(ranked[:k]) else 0.0


def precision_recall(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, float]:
    """(precision, recall) of boolean (gold, predicted) pairs; 0.0 where undefined."""
    tp = sum(g and p for g, p in pairs)
    predicted = sum(p for _, p in pairs)
    actual = sum(g for g, _ in pairs)
    return (tp / predicted if predicted else 0.0, tp / actual if actual else 0.0)


def slot_counts(gold: dict[str, str], predicted: dict[str, str]) -> tuple[int, int, int]:
    """(true positives, predicted, gold) of slot name=value pairs, compared case-insensitively."""
    g = {(k, v.strip().lower()) for k, v in gold.items()}
    p = {(k, v.strip().lower()) for k, v in predicted.items()}
    return len(g & p), len(p), len(g)


def f1_from_counts(tp: int, predicted: int, gold: int) -> float:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _CharTokenizer:
    """Characters for Chinese, words for everything else (rouge_score's default drops non-ASCII)."""

    def tokenize(self, text: str) -> list[str]:
        import re

        return re.findall(r"[\u3400-\u9fff]|[A-Za-z0-9$.]+", text.lower())


def chrf(hypothesis: str, reference: str) -> float:
    """chrF (sacrebleu), 0..100."""
    import sacrebleu

    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge_score), 0..1, with character tokens for Chinese."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CharTokenizer())
    return float(scorer.score(reference, hypothesis)["rougeL"].fmeasure)
